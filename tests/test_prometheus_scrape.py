"""The real ``prometheus`` binary scrapes a live surgewatch and our rules fire on it.

promtool unit tests (test_ops_configs.py) check the rules against series we
typed in; this checks the other half: that what surgewatch *serves* is
scrapable, carries the labels the rules aggregate by, and makes the real
expressions fire. In-process: a real Pipeline (the CLI's detector set) fed
2 valid + 1 invalid message per tick from a thread, the real PipelineCollector
on prometheus_client's HTTP server (own registry, free loopback port). The
rules Prometheus loads are the real recording rules plus test copies of two
real alerting rules with ``for: 0s`` (the production ``for`` would make the
test take minutes). Skipped when ``prometheus`` is not installed
(tests/system-packages.sh installs it). About 10 s.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import yaml
from prometheus_client import CollectorRegistry

from streamer.cli import build_pipeline
from streamer.metrics import PipelineCollector, serve_metrics
from streamer.testing import TEST_PSEUDO, MemorySink, raw_event

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy/prometheus/rules"
PROMETHEUS = shutil.which("prometheus")
DEADLINE_S = 40.0  # per wait; the whole test normally takes ~10 s

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (run tests/system-packages.sh)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, path: str):
    with urllib.request.urlopen(base + path, timeout=2) as r:
        return json.loads(r.read())["data"]


def wait_for(what: str, fn, proc: subprocess.Popen, log: Path, timeout: float = DEADLINE_S):
    """Poll ``fn`` until it returns something truthy; fail with Prometheus's log."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited ({proc.returncode}) waiting for {what}:\n{log.read_text()[-3000:]}")
        try:
            got = fn()
            if got:
                return got
            last = None
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last error {last!r}):\n{log.read_text()[-3000:]}")


def fast_copy(alertname: str) -> dict:
    """The real rule, evaluated immediately (``for: 0s``)."""
    for f in RULES.glob("*.yml"):
        for group in yaml.safe_load(f.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alertname:
                    return dict(rule, **{"for": "0s"})
    raise AssertionError(f"no alerting rule {alertname} in {RULES}")


class Feeder(threading.Thread):
    """2 valid events + 1 undecodable message every tick, event time moving
    forward. Both counters move in lockstep, so the dead-letter ratio Prometheus
    computes is 1/3 whatever its rate() extrapolation does."""

    def __init__(self, pipeline, tick: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pipeline, self.tick, self.stop = pipeline, tick, threading.Event()
        self.lock = threading.Lock()  # held per tick, and by the collector's scrape via Locked

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            with self.lock:
                for _ in range(2):
                    self.pipeline.process(orjson.dumps(raw_event(ts=i / 60)))
                    i += 1
                self.pipeline.process(b'{"schema": "complaint.v1", "event_id": ')  # truncated JSON
            self.stop.wait(self.tick)


class Locked(PipelineCollector):
    """Scrape between ticks, never inside one (the exact 1/3 depends on it)."""

    def __init__(self, pipeline, lock) -> None:
        super().__init__(pipeline, mode="run")
        self.lock = lock

    def collect(self):
        with self.lock:
            return list(super().collect())


def test_prometheus_scrapes_surgewatch_and_fires_dead_letter_then_down_alerts(tmp_path):
    t0 = time.monotonic()
    pipeline = build_pipeline(TEST_PSEUDO, [MemorySink()], [MemorySink()])
    feeder = Feeder(pipeline)
    registry = CollectorRegistry()
    registry.register(Locked(pipeline, feeder.lock))
    mport = free_port()
    server = serve_metrics(registry, mport, "127.0.0.1")
    feeder.start()

    rules = tmp_path / "fast-alerts.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "fast", "interval": "1s", "rules": [
        fast_copy("SurgewatchDeadLetterRateHigh"), fast_copy("SurgewatchDown")]}]}))
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "rule_files": [str(RULES / "surgewatch-recording.yml"), str(rules)],
        "scrape_configs": [{"job_name": "surgewatch", "static_configs": [{"targets": [f"127.0.0.1:{mport}"]}]}],
    }))
    pport = free_port()
    base = f"http://127.0.0.1:{pport}"
    log = tmp_path / "prometheus.log"
    proc = None
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
                                     f"--web.listen-address=127.0.0.1:{pport}", "--log.level=warn"],
                                    stdout=out, stderr=subprocess.STDOUT)

        # 1. the target is scraped and healthy
        target = wait_for("target health=up", lambda: [
            t for t in api(base, "/api/v1/targets")["activeTargets"]
            if t["labels"]["job"] == "surgewatch" and t["health"] == "up"], proc, log)[0]
        assert target["scrapeUrl"] == f"http://127.0.0.1:{mport}/metrics"
        assert target["lastError"] == ""

        # 2. the real recording rule sees 1 message in 3 dead-lettered, and the
        #    real DeadLetterRateHigh expression fires on it
        def firing(name):
            return [a for a in api(base, "/api/v1/alerts")["alerts"]
                    if a["labels"]["alertname"] == name and a["state"] == "firing"]

        alert = wait_for("SurgewatchDeadLetterRateHigh firing", lambda: firing("SurgewatchDeadLetterRateHigh"),
                         proc, log)[0]
        assert alert["labels"]["severity"] == "warning"
        assert alert["labels"]["job"] == "surgewatch"
        assert alert["annotations"]["runbook_url"].endswith("#surgewatchdeadletterratehigh")
        assert float(alert["value"]) == pytest.approx(1 / 3, abs=0.02)
        ratio = api(base, "/api/v1/query?query=job:surgewatch_dead_letters:ratio_rate15m")["result"]
        assert [r["metric"] for r in ratio] == [{"__name__": "job:surgewatch_dead_letters:ratio_rate15m",
                                                 "job": "surgewatch"}]
        assert float(ratio[0]["value"][1]) == pytest.approx(1 / 3, abs=0.02)
        # the labels the dashboards and rules aggregate by are really there
        ok = api(base, '/api/v1/query?query=sum(surgewatch_events_total{result="ok"})')["result"]
        assert float(ok[0]["value"][1]) > 0
        assert not firing("SurgewatchDown"), "SurgewatchDown fired while the target was up"

        # 3. surgewatch stops serving: the target goes down and SurgewatchDown fires
        feeder.stop.set()
        server.shutdown()
        server.server_close()
        server = None
        wait_for("target health=down", lambda: [
            t for t in api(base, "/api/v1/targets")["activeTargets"] if t["health"] == "down"], proc, log)
        down = wait_for("SurgewatchDown firing", lambda: firing("SurgewatchDown"), proc, log)[0]
        assert down["labels"]["severity"] == "critical"
        assert down["labels"]["instance"] == f"127.0.0.1:{mport}"
    finally:
        feeder.stop.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    assert time.monotonic() - t0 < 60
