"""The Alertmanager sink: payload, re-posting, resolve, retries, bounded drops.

Unit tests run the sink against a tiny HTTP server owned by the test. The
integration test starts a real ``alertmanager`` (Debian:
``prometheus-alertmanager``) with a test copy of deploy/alertmanager's config
pointing its webhook receiver at the test, and is skipped if the binary is
missing (tests/system-packages.sh installs it).
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from detectors.base import Finding
from streamer.alertmanager import AlertmanagerCollector, AlertmanagerSink
from streamer.episodes import EpisodeManager
from streamer.events import Event
from streamer.pipeline import Pipeline
from streamer.testing import TEST_PSEUDO, MemorySink, raw_event

ROOT = Path(__file__).resolve().parent.parent
RAW_PHONE = "13800138000"
RAW_COMPLAINANT = "CUST-RAW-4242"
RAW_TEXT = "我要求停息挂账"
AM_BIN = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


# -- helpers ------------------------------------------------------------------
class FakeAM:
    """A loopback HTTP server recording every POST; ``codes`` are answered
    in order (then 200); ``delay`` makes every answer slow."""

    def __init__(self, codes: list[int] | None = None, delay: float = 0.0) -> None:
        self.codes = list(codes or [])
        self.delay = delay
        self.posts: list[tuple[float, str, list]] = []  # (monotonic time, path, body)
        self.cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if fake.delay:
                    time.sleep(fake.delay)
                with fake.cond:
                    fake.posts.append((time.monotonic(), self.path, body))
                    code = fake.codes.pop(0) if fake.codes else 200
                    fake.cond.notify_all()
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def wait(self, pred, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self.posts):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_am():
    servers: list[FakeAM] = []

    def make(**kw) -> FakeAM:
        s = FakeAM(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


class PhoneSurge:
    """Finds a representative phone used by >= 3 complainants; critical at 6."""

    name = "agent_surge"

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {}

    def update(self, event: Event) -> list[Finding]:
        out = []
        for c in event.contacts:
            if c.role != "representative":
                continue
            ids = self.ids.setdefault(c.key, [])
            ids.append(event.event_id)
            if len(ids) >= 3:
                sev = "critical" if len(ids) >= 6 else "warning"
                out.append(Finding(self.name, c.key, float(len(ids)), event.ts, event.event_id, ids[-50:],
                                   f"a representative phone used by {len(ids)} complainants", sev,
                                   {"complainants": len(ids), "note": RAW_PHONE}))
        return out

    def stats(self) -> dict[str, float]:
        return {"tracked_keys": len(self.ids)}


def pipeline_with(sink: AlertmanagerSink) -> tuple[Pipeline, MemorySink]:
    mem = MemorySink()
    p = Pipeline([PhoneSurge()], TEST_PSEUDO, alert_sinks=[mem, sink], episodes=EpisodeManager(quiet=3600.0))
    return p, mem


def campaign(p: Pipeline, n: int, start_h: float = 0.0) -> None:
    for i in range(n):
        p.process(orjson.dumps(raw_event(ts=start_h + i / 60, complainant=f"{RAW_COMPLAINANT}-{i}", text=RAW_TEXT,
                                         contacts=[("phone", RAW_PHONE, "representative")])))


def alerts_in(posts) -> list[dict]:
    return [a for _, _, body in posts for a in body]


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def sink(url: str, **kw) -> AlertmanagerSink:
    kw.setdefault("repost_interval", 0.2)
    kw.setdefault("resolve_timeout", 30.0)
    kw.setdefault("backoff_base", 0.05)
    kw.setdefault("jitter", 0.0)
    kw.setdefault("close_timeout", 1.0)
    return AlertmanagerSink(url, **kw)


# -- unit tests -----------------------------------------------------------------
def test_payload_has_identity_labels_annotations_and_no_raw_identifiers(fake_am):
    am = fake_am()
    s = sink(am.url, repost_interval=10.0)
    p, mem = pipeline_with(s)
    campaign(p, 14)  # fires at 3, updates at 6 (critical) and 12
    assert am.wait(lambda posts: any(a["labels"]["severity"] == "critical" for a in alerts_in(posts)))
    s.close()
    assert all(path == "/api/v2/alerts" for _, path, _ in am.posts)
    rec = mem.records[-1]
    crit = [a for a in alerts_in(am.posts) if a["labels"]["severity"] == "critical"][-1]
    assert crit["labels"] == {"alertname": "SurgewatchAgentSurge", "detector": "agent_surge",
                              "severity": "critical", "key": rec["key"], "service": "surgewatch"}
    assert rec["key"].startswith("phone:")
    ann = crit["annotations"]
    assert ann["summary"] == rec["summary"]
    assert ann["runbook_url"].startswith("https://") and ann["starts_at"] == rec["starts_at"]
    sample = ann["event_ids"].split(",")
    assert len(sample) == 10 and sample == rec["event_ids"][:10] and ann["event_count"] == "12"
    assert "complainants=12" in ann["description"]
    assert ts(crit["startsAt"]) == ts(rec["starts_at"])
    assert 25 < ts(crit["endsAt"]) - time.time() <= 30.5  # now + resolve_timeout
    blob = orjson.dumps(am.posts).decode()
    assert RAW_PHONE not in blob and RAW_COMPLAINANT not in blob and RAW_TEXT not in blob


def test_firing_episode_is_reposted_until_it_resolves_with_its_end(fake_am):
    am = fake_am()
    s = sink(am.url)
    p, mem = pipeline_with(s)
    campaign(p, 3)
    assert am.wait(lambda posts: len(posts) >= 3)  # first post + re-posts every 0.2 s
    firing = alerts_in(am.posts)
    assert all(ts(a["endsAt"]) > time.time() for a in firing)
    assert len({a["endsAt"] for a in firing}) == len(firing)  # endsAt moves forward with every re-post
    p.process(orjson.dumps(raw_event(ts=5.0)))  # event time moves 5 h on: the episode resolves
    resolved = mem.records[-1]
    assert resolved["status"] == "resolved"
    assert am.wait(lambda posts: ts(posts[-1][2][0]["endsAt"]) <= time.time())
    last = am.posts[-1][2][0]
    assert ts(last["endsAt"]) == ts(resolved["ends_at"])
    n = len(am.posts)
    time.sleep(0.5)  # no more re-posts once resolved
    assert len(am.posts) == n and s.stats()["firing"] == 0
    s.close()


def test_severity_rise_retires_the_old_label_set(fake_am):
    am = fake_am()
    s = sink(am.url, repost_interval=10.0)
    p, _ = pipeline_with(s)
    campaign(p, 3)
    assert am.wait(lambda posts: len(posts) >= 1)
    campaign(p, 3, start_h=0.1)
    assert am.wait(lambda posts: any(a["labels"]["severity"] == "critical" for a in alerts_in(posts)))
    s.close()
    last_warning = [a for a in alerts_in(am.posts) if a["labels"]["severity"] == "warning"][-1]
    assert ts(last_warning["endsAt"]) <= time.time()  # resolved, not left to linger


def test_server_errors_are_retried_with_exponential_backoff(fake_am):
    am = fake_am(codes=[500, 503])
    s = sink(am.url, repost_interval=10.0)
    s.write({"alert_id": "a", "detector": "template_surge", "key": "template:ab12", "status": "firing",
             "severity": "warning", "score": 7.0, "starts_at": "2024-03-04T09:00:00+08:00", "event_ids": ["e1"]})
    assert am.wait(lambda posts: len(posts) >= 3)
    s.close()
    t = [at for at, _, _ in am.posts]
    assert t[1] - t[0] >= 0.05 and t[2] - t[1] >= 0.1  # 0.05 s, then 0.1 s
    assert am.posts[0][2][0]["labels"] == am.posts[2][2][0]["labels"]  # the same alert, re-sent
    st = s.stats()
    assert (st["posts_ok"], st["posts_retried"], st["posts_failed"]) == (1, 2, 0)


def test_client_errors_are_not_retried_and_retries_give_up(fake_am):
    am = fake_am(codes=[400, 500, 500, 500])
    s = sink(am.url, repost_interval=10.0, max_retries=2)
    rec = {"alert_id": "a", "detector": "agent_surge", "key": "phone:1", "status": "firing", "severity": "warning",
           "score": 7.0, "starts_at": "2024-03-04T09:00:00+08:00", "event_ids": ["e1"]}
    s.write(rec)
    assert am.wait(lambda posts: len(posts) >= 1)
    time.sleep(0.1)
    s.write(dict(rec, alert_id="b", key="phone:2"))
    assert am.wait(lambda posts: len(posts) >= 4)
    time.sleep(0.1)
    st = s.stats()
    assert (st["posts_ok"], st["posts_retried"], st["posts_failed"]) == (0, 2, 2)
    s.close()


def test_a_down_alertmanager_never_blocks_the_stream_and_drops_are_bounded():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = sink(f"http://127.0.0.1:{port}", max_queue=5, max_firing=20, backoff_base=0.2, max_retries=3,
             close_timeout=0.3)
    t0 = time.perf_counter()
    for i in range(50):
        s.write({"alert_id": f"a{i}", "detector": "agent_surge", "key": f"phone:{i:04x}", "status": "firing",
                 "severity": "warning", "score": 7.0, "starts_at": "2024-03-04T09:00:00+08:00", "event_ids": [f"e{i}"]})
        s.flush()
    assert time.perf_counter() - t0 < 0.5
    st = s.stats()
    assert st["queue_length"] <= 5 and st["firing"] == 20
    assert st["dropped"] >= 50 - 2 * 5  # at most one queue in flight, one waiting
    reg = CollectorRegistry()
    reg.register(AlertmanagerCollector(s))
    text = generate_latest(reg).decode()
    assert f"surgewatch_alertmanager_dropped_total {float(st['dropped'])}" in text
    assert 'surgewatch_alertmanager_posts_total{result="ok"} 0.0' in text
    assert "surgewatch_alertmanager_queue_length" in text
    t0 = time.perf_counter()
    s.close()
    assert time.perf_counter() - t0 < 1.5  # close gives up after its short timeout


def test_flush_does_not_wait_for_a_slow_alertmanager(fake_am):
    am = fake_am(delay=1.0)
    s = sink(am.url, repost_interval=10.0, close_timeout=0.2, request_timeout=0.3)
    s.write({"alert_id": "a", "detector": "agent_surge", "key": "phone:1", "status": "firing", "severity": "warning",
             "score": 7.0, "starts_at": "2024-03-04T09:00:00+08:00", "event_ids": ["e1"]})
    t0 = time.perf_counter()
    s.flush()
    assert time.perf_counter() - t0 < 0.05
    s.close()


# -- integration with a real Alertmanager ---------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def alertmanager(tmp_path, fake_am):
    if AM_BIN is None:
        pytest.skip("alertmanager binary not installed (run tests/system-packages.sh)")
    hook = fake_am()
    cfg = (ROOT / "deploy/alertmanager/alertmanager.yml").read_text()
    cfg = cfg.replace("http://127.0.0.1:9099/hook", hook.url + "/hook")
    cfg = re.sub(r"group_wait: \S+", "group_wait: 0s", cfg)
    cfg = re.sub(r"group_interval: \S+", "group_interval: 1s", cfg)
    (tmp_path / "am.yml").write_text(cfg)
    port = _free_port()
    proc = subprocess.Popen(
        [AM_BIN, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=0.5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > end:
                pytest.fail(f"alertmanager did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
        yield url, hook
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_real_alertmanager_notifies_the_webhook_of_firing_and_resolved(alertmanager):
    url, hook = alertmanager
    s = sink(url, repost_interval=1.0, resolve_timeout=60.0)
    p, mem = pipeline_with(s)
    campaign(p, 3)
    assert hook.wait(lambda posts: any(b["status"] == "firing" for _, _, b in posts), timeout=10)
    note = next(b for _, _, b in hook.posts if b["status"] == "firing")
    rec = mem.records[0]
    assert note["receiver"] == "surgewatch-agents"
    assert note["groupLabels"] == {"alertname": "SurgewatchAgentSurge", "detector": "agent_surge", "key": rec["key"]}
    alert = note["alerts"][0]
    assert alert["labels"]["service"] == "surgewatch" and alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["event_ids"] == ",".join(rec["event_ids"])
    assert alert["annotations"]["starts_at"] == rec["starts_at"]
    p.process(orjson.dumps(raw_event(ts=5.0)))  # the episode resolves
    assert hook.wait(lambda posts: any(b["status"] == "resolved" for _, _, b in posts), timeout=10)
    done = next(b for _, _, b in hook.posts if b["status"] == "resolved")
    assert done["alerts"][0]["status"] == "resolved"
    assert ts(done["alerts"][0]["endsAt"]) == ts(mem.records[-1]["ends_at"])
    s.close()
    blob = json.dumps(hook.posts, ensure_ascii=False)
    assert RAW_PHONE not in blob and RAW_COMPLAINANT not in blob and RAW_TEXT not in blob
