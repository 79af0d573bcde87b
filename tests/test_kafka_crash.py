"""Crash safety against the real broker: SIGKILL at random moments loses nothing.

`surgewatch run --state-dir` is killed with SIGKILL several times while it
consumes a multi-day stream, then restarted; at the end the set of firing
alert ids equals a clean replay's, and the group's offsets reach the end of
the topic. SIGTERM drains, checkpoints, commits and exits 0.
"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.kafka_broker import create_topic, unique_topic
from tests.test_kafka_run import ENV, read_topic, surgewatch

pytestmark = pytest.mark.kafka


def start_run(bootstrap: str, topic: str, group: str, alerts_topic: str, dlq_topic: str, state: Path,
              idle: float = 4.0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "streamer.cli", "run", "--bootstrap-servers", bootstrap, "--topic", topic,
         "--group", group, "--alerts-topic", alerts_topic, "--dlq-topic", dlq_topic, "--scored-topic", "",
         "--metrics-port", "0", "--state-dir", str(state), "--checkpoint-every", "400",
         "--session-timeout-ms", "6000", "--exit-when-idle", str(idle)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("crash")
    r = surgewatch("simulate", "--profile", "small", "--seed", "21", "--out", str(d))
    assert r.returncode == 0, r.stderr
    return d / "events.jsonl"


def committed(bootstrap: str, group: str, topic: str) -> int | None:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return c.committed(TopicPartition(topic, 0))
    finally:
        c.close()


def test_sigkill_restarts_give_the_alerts_of_a_clean_replay(kafka_bootstrap, stream, tmp_path):
    topic, alerts_topic, dlq_topic, group = (unique_topic(p) for p in ("crash", "crash-alerts", "crash-dlq", "crash-g"))
    for t in (topic, alerts_topic, dlq_topic):
        create_topic(kafka_bootstrap, t, partitions=1)
    r = surgewatch("produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--input", str(stream))
    assert r.returncode == 0, r.stderr
    n_events = sum(1 for x in stream.read_bytes().splitlines() if x.strip())

    rng = random.Random(1234)
    state = tmp_path / "state"
    kills = 0
    for _ in range(4):
        proc = start_run(kafka_bootstrap, topic, group, alerts_topic, dlq_topic, state)
        time.sleep(rng.uniform(2.0, 6.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    assert kills >= 3, "the stream finished too fast to be interrupted; use a longer one"
    proc = start_run(kafka_bootstrap, topic, group, alerts_topic, dlq_topic, state)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]

    clean = tmp_path / "clean.jsonl"
    r = surgewatch("replay", "--input", str(stream), "--alerts", str(clean))
    assert r.returncode == 0, r.stderr
    want = {a["alert_id"] for a in map(orjson.loads, clean.read_bytes().splitlines()) if a["status"] == "firing"}
    live = read_topic(kafka_bootstrap, alerts_topic)
    got = {a["alert_id"] for a in live if a["status"] == "firing"}
    assert want and got == want
    assert committed(kafka_bootstrap, group, topic) == n_events


def test_sigterm_drains_checkpoints_commits_and_exits_zero(kafka_bootstrap, stream, tmp_path):
    topic, alerts_topic, dlq_topic, group = (unique_topic(p) for p in ("term", "term-alerts", "term-dlq", "term-g"))
    for t in (topic, alerts_topic, dlq_topic):
        create_topic(kafka_bootstrap, t, partitions=1)
    r = surgewatch("produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--input", str(stream))
    assert r.returncode == 0, r.stderr
    state = tmp_path / "state"
    proc = start_run(kafka_bootstrap, topic, group, alerts_topic, dlq_topic, state, idle=120)
    deadline = time.monotonic() + 120
    while committed(kafka_bootstrap, group, topic) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert (state / "checkpoint.pkl").exists()
    stopped = [orjson.loads(x) for x in err.splitlines() if x.startswith("{") and '"stopped"' in x][-1]
    # everything the process consumed is covered by the committed offset
    assert stopped["messages"] > 0
    assert committed(kafka_bootstrap, group, topic) == stopped["messages"]
