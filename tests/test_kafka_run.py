"""`surgewatch run` against the real broker gives the alerts `surgewatch replay` gives.

A simulated stream (plus a few broken messages) is produced to a fresh topic;
`surgewatch run` consumes it as a subprocess in a consumer group and exits
when idle. Then: same alert emissions as a replay of the same file, bad
messages in the DLQ topic, offsets committed to the end, and a restarted
consumer in the same group reads only what came after -- with the consumer in
the loop's thread and in a fetch process (``--fetch-process``).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.kafka_broker import create_topic, unique_topic

pytestmark = pytest.mark.kafka

ENV = dict(os.environ, SURGEWATCH_PSEUDONYM_KEY="integration-test-key", SURGEWATCH_LOG_LEVEL="info")


def surgewatch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamer.cli", *args], env=ENV, capture_output=True,
                          timeout=timeout, text=True)


def read_topic_raw(bootstrap: str, topic: str) -> list[bytes]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                      consumer_timeout_ms=3000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    out = [m.value for m in c]
    c.close()
    return out


def read_topic(bootstrap: str, topic: str) -> list[dict]:
    return [orjson.loads(v) for v in read_topic_raw(bootstrap, topic)]


def stopped_line(stderr: str) -> dict:
    lines = [orjson.loads(x) for x in stderr.splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("event") == "stopped"][-1]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("scenario")
    r = surgewatch("simulate", "--profile", "small", "--seed", "11", "--out", str(d))
    assert r.returncode == 0, r.stderr
    lines = (d / "events.jsonl").read_bytes().splitlines()
    bad = [b"{not json", orjson.dumps({"event_id": "bad-1", "ts": "2024-03-05T10:00:00+08:00"}),
           orjson.dumps({**orjson.loads(lines[5]), "event_id": "bad-2", "channel": "carrier-pigeon"})]
    mixed = lines[:100] + bad[:1] + lines[100:200] + bad[1:] + lines[200:]
    (d / "mixed.jsonl").write_bytes(b"\n".join(mixed) + b"\n")
    return d


@pytest.mark.parametrize("fetch", ["--no-fetch-process", "--fetch-process"])
def test_live_run_equals_replay_and_commits(kafka_bootstrap, scenario, tmp_path, fetch):
    topic, alerts_topic, dlq_topic = unique_topic("complaints"), unique_topic("alerts"), unique_topic("dlq")
    scored_topic = unique_topic("scored")
    for t in (topic, alerts_topic, dlq_topic, scored_topic):
        create_topic(kafka_bootstrap, t, partitions=1)
    events = scenario / "mixed.jsonl"
    all_lines = [x for x in events.read_bytes().splitlines() if x.strip()]
    # first half now, second half after the first consumer stopped
    half = len(all_lines) // 2
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"\n".join(all_lines[:half]) + b"\n")
    second.write_bytes(b"\n".join(all_lines[half:]) + b"\n")

    r = surgewatch("produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--input", str(first))
    assert r.returncode == 0, r.stderr
    group = unique_topic("group")
    run_args = ["run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--group", group,
                "--alerts-topic", alerts_topic, "--dlq-topic", dlq_topic, "--scored-topic", scored_topic,
                "--metrics-port", "0",
                "--exit-when-idle", "4", "--session-timeout-ms", "6000", fetch]
    r = surgewatch(*run_args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert stopped_line(r.stderr)["messages"] == half

    # replay of exactly what was consumed gives the same emissions, in the same order
    alerts_file = tmp_path / "replay-alerts.jsonl"
    scored_file = tmp_path / "replay-scored.jsonl"
    r2 = surgewatch("replay", "--input", str(first), "--alerts", str(alerts_file), "--scored", str(scored_file))
    assert r2.returncode == 0, r2.stderr
    replayed = [orjson.loads(x) for x in alerts_file.read_bytes().splitlines()]
    live = read_topic(kafka_bootstrap, alerts_topic)
    assert replayed, "the simulated stream should raise alerts"
    assert [(a["alert_id"], a["status"]) for a in live] == [(a["alert_id"], a["status"]) for a in replayed]
    assert live == replayed

    # scored topic: NDJSON messages (one per polled batch) whose lines are the replay's --scored file
    scored_msgs = read_topic_raw(kafka_bootstrap, scored_topic)
    assert len(scored_msgs) < half, "scored records should be packed, not one message per event"
    live_scored = [orjson.loads(x) for v in scored_msgs for x in v.splitlines()]
    replay_scored = [orjson.loads(x) for x in scored_file.read_bytes().splitlines()]

    dead = read_topic(kafka_bootstrap, dlq_topic)
    assert sorted(d["field"] for d in dead) == ["$", "channel", "institution"]
    assert len(replay_scored) == half - len(dead) and live_scored == replay_scored   # every valid event, in order
    assert all(d["origin"]["topic"] == topic for d in dead)

    c = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    assert c.committed(tp) == c.end_offsets([tp])[tp] == half
    c.close()

    # restart in the same group: only the new messages are read
    r = surgewatch("produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--input", str(second))
    assert r.returncode == 0, r.stderr
    r = surgewatch(*run_args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert stopped_line(r.stderr)["messages"] == len(all_lines) - half
    c = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    assert c.committed(tp) == len(all_lines)
    c.close()

