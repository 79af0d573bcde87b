"""A broker outage mid-stream: `surgewatch run` survives it and loses nothing.

This test runs its OWN broker (deploy/kafka/broker.sh on a separate port and data dir,
not the session broker other tests share). It produces the first 60 % of a simulated
stream, starts `surgewatch run --state-dir`, stops the broker once some offsets are
committed, keeps it down for a few seconds (the /metrics gauge `surgewatch_kafka_connected`
drops to 0), restarts it keeping its data (KAFKA_KEEP_DATA=1), produces the rest and checks:
exit 0, the firing alert ids on the alerts topic equal a clean replay's, and the group's
offset reaches the topic end. (The rest is produced after the restart so that the outage is
mid-stream however fast `run` is: with the whole stream produced first, the fetch process
once consumed all of it before the test saw the first commit.)
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.kafka_broker import BROKER_SH, REPO_ROOT, create_topic, unique_topic, wait_reachable
from tests.test_kafka_run import ENV, read_topic, surgewatch

pytestmark = pytest.mark.kafka

OUTAGE_S = 8.0


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_pair(start: int = 39092) -> int:
    """A client port p with p+1 (the controller's) also free."""
    for p in range(start, start + 200, 2):
        if _free(p) and _free(p + 1):
            return p
    raise RuntimeError("no free port pair for the fault-test broker")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port_pair()
        self.env = dict(os.environ, KAFKA_PORT=str(self.port), KAFKA_DATA_DIR=str(data_dir))
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _sh(self, *args: str, keep: bool = False) -> subprocess.CompletedProcess:
        env = dict(self.env, KAFKA_KEEP_DATA="1") if keep else self.env
        r = subprocess.run(["bash", str(BROKER_SH), *args], cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"broker.sh {' '.join(args)}: {r.stdout}\n{r.stderr}"
        return r

    def start(self, keep: bool = False) -> None:
        self._sh("start", keep=keep)
        assert wait_reachable(self.bootstrap, timeout=60)

    def stop(self) -> None:
        self._sh("stop")


def committed(bootstrap: str, group: str, topic: str) -> int | None:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      request_timeout_ms=5000)
    try:
        return c.committed(TopicPartition(topic, 0))
    finally:
        c.close()


def scrape_connected(port: int) -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("surgewatch_kafka_connected "):
            return float(line.split()[1])
    return None


def test_broker_restart_mid_stream_loses_nothing(tmp_path):
    r = surgewatch("simulate", "--profile", "small", "--seed", "31", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    stream = tmp_path / "events.jsonl"
    lines = [x for x in stream.read_bytes().splitlines() if x.strip()]
    n_events = len(lines)
    first, rest = tmp_path / "first.jsonl", tmp_path / "rest.jsonl"
    first.write_bytes(b"\n".join(lines[:n_events * 6 // 10]) + b"\n")
    rest.write_bytes(b"\n".join(lines[n_events * 6 // 10:]) + b"\n")

    broker = Broker(tmp_path / "kafka")
    proc = None
    try:
        broker.start()
        boot = broker.bootstrap
        topic, alerts_topic, dlq_topic, group = (unique_topic(p) for p in ("fault", "fault-alerts", "fault-dlq", "fault-g"))
        for t in (topic, alerts_topic, dlq_topic):
            create_topic(boot, t, partitions=1)
        r = surgewatch("produce", "--bootstrap-servers", boot, "--topic", topic, "--input", str(first))
        assert r.returncode == 0, r.stderr

        metrics_port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "run", "--bootstrap-servers", boot, "--topic", topic,
             "--group", group, "--alerts-topic", alerts_topic, "--dlq-topic", dlq_topic, "--scored-topic", "",
             "--metrics-port", str(metrics_port), "--metrics-addr", "127.0.0.1",
             "--state-dir", str(tmp_path / "state"), "--checkpoint-every", "400",
             "--session-timeout-ms", "6000", "--exit-when-idle", "45"],  # the idle exit outlasts outage, restart, produce
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        deadline = time.monotonic() + 120
        while not committed(boot, group, topic) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            time.sleep(0.3)
        before = committed(boot, group, topic)
        assert before, "no offsets committed within 120 s"
        seen_up = scrape_connected(metrics_port)

        broker.stop()
        t0, readings = time.monotonic(), []
        while time.monotonic() - t0 < OUTAGE_S:
            readings.append(scrape_connected(metrics_port))
            assert proc.poll() is None, f"run died during the outage:\n{proc.stderr.read()[-3000:]}"
            time.sleep(0.5)
        broker.start(keep=True)
        r = surgewatch("produce", "--bootstrap-servers", boot, "--topic", topic, "--input", str(rest))
        assert r.returncode == 0, r.stderr

        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        if os.environ.get("SURGEWATCH_FAULT_DEBUG"):
            print("\n".join(x[:300] for x in err.splitlines() if '"level": "info"' not in x), file=sys.stderr)
            print(f"committed before outage {before}/{n_events}; connected readings {readings}", file=sys.stderr)
        assert seen_up == 1.0
        assert 0.0 in readings, f"surgewatch_kafka_connected never 0 during the outage: {readings}"

        clean = tmp_path / "clean.jsonl"
        r = surgewatch("replay", "--input", str(stream), "--alerts", str(clean))
        assert r.returncode == 0, r.stderr
        want = {a["alert_id"] for a in map(orjson.loads, clean.read_bytes().splitlines()) if a["status"] == "firing"}
        got = {a["alert_id"] for a in read_topic(boot, alerts_topic) if a["status"] == "firing"}
        assert want and got == want
        assert committed(boot, group, topic) == n_events
        # the outage really was mid-stream
        assert before < n_events
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        broker.stop()
