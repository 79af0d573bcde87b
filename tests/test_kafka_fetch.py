"""The fetch process (``--fetch-process``) against the real broker: checkpoint resume,
a clean SIGTERM, and the failure modes of two processes.

(Same alerts as a replay, commits at the end and a restart that resumes without loss:
tests/test_kafka_run.py and tests/test_kafka_commit.py run with it too.)
- a restart with ``--state-dir`` in a group with NO committed offsets starts where the
  checkpoint says, not at the beginning: the resume offsets reach the child, which seeks
  on assignment;
- SIGTERM to ``surgewatch run --fetch-process`` drains, commits what it processed, exits 0
  and leaves no fetch process behind;
- a killed fetch process makes ``surgewatch run`` exit 1 with a clear message;
- a ``surgewatch run`` killed with SIGKILL does not leave its fetch process running.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from streamer.cli import build_pipeline
from streamer.config import KafkaSettings
from streamer.kafka_io import KafkaSink, KafkaSource, make_producer
from streamer.pseudonym import Pseudonymizer
from streamer.testing import raw_event
from tests.kafka_broker import create_topic, unique_topic
from tests.test_kafka_crash import committed
from tests.test_kafka_run import ENV, surgewatch

pytestmark = pytest.mark.kafka


def produce(bootstrap: str, topic: str, first: int, n: int) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(first, first + n):
        p.send(topic, orjson.dumps(raw_event(event_id=f"f-{i}", ts=i / 60)))
    p.flush()
    p.close()


def consume_with_state(bootstrap: str, topic: str, group: str, state: Path) -> KafkaSource:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    producer = make_producer(settings)
    pipeline = build_pipeline(Pseudonymizer(b"fetch-test-key"), [KafkaSink(producer, unique_topic("a"), "alert_id")],
                              [KafkaSink(producer, unique_topic("d"), "event_id")], None)
    source = KafkaSource(settings, topic, group, session_timeout_ms=6000, max_poll_records=50, fetch_process=True)
    source.restore(pipeline, str(state))
    stop = threading.Event()
    timer = threading.Timer(120, stop.set)
    timer.start()
    try:
        source.run(pipeline, stop, poll_ms=200, idle_exit_s=3, state_dir=str(state), checkpoint_every=100)
    finally:
        timer.cancel()
        pipeline.close()
        source.close()
    return source


def test_checkpointed_restart_resumes_from_the_checkpoint_offsets(kafka_bootstrap, tmp_path):
    topic = unique_topic("fetch-ckpt")
    create_topic(kafka_bootstrap, topic, partitions=1)
    produce(kafka_bootstrap, topic, 0, 300)
    state = tmp_path / "state"
    first = consume_with_state(kafka_bootstrap, topic, unique_topic("fetch-g1"), state)
    assert first.messages == 300 and first.checkpoints >= 3 and first.positions == {(topic, 0): 300}
    produce(kafka_bootstrap, topic, 300, 120)
    # a new group has no committed offset (auto_offset_reset=earliest would read all 420):
    # only the checkpoint's offsets, sought by the child on assignment, make it start at 300
    group = unique_topic("fetch-g2")
    second = consume_with_state(kafka_bootstrap, topic, group, state)
    # (a group rejoin before the first checkpoint re-delivers from the checkpoint again: at most 120 more)
    assert 120 <= second.messages < 300 and second.positions == {(topic, 0): 420}
    assert committed(kafka_bootstrap, group, topic) == 420


def run_args(bootstrap: str, topic: str, group: str, idle: float) -> list[str]:
    return [sys.executable, "-m", "streamer.cli", "run", "--bootstrap-servers", bootstrap, "--topic", topic,
            "--group", group, "--alerts-topic", topic + ".alerts", "--dlq-topic", topic + ".dlq",
            "--scored-topic", "", "--metrics-port", "0", "--session-timeout-ms", "6000", "--max-poll-records", "100",
            "--exit-when-idle", str(idle), "--fetch-process"]


def fetch_process(pid: int) -> int:
    """The pid of ``pid``'s fetch process (its other child is multiprocessing's resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        kids = [int(x) for x in f.read().split()]
    found = []
    for k in kids:
        with open(f"/proc/{k}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                found.append(k)
    assert len(found) == 1, f"one fetch process expected among {kids}"
    return found[0]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture()
def big_backlog(kafka_bootstrap, tmp_path) -> tuple[str, int]:
    """A topic with the small simulated profile twice over: long enough to interrupt."""
    r = surgewatch("simulate", "--profile", "small", "--seed", "41", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = [x for x in (tmp_path / "events.jsonl").read_bytes().splitlines() if x.strip()]
    topic = unique_topic("fetch-proc")
    for t in (topic, topic + ".alerts", topic + ".dlq"):
        create_topic(kafka_bootstrap, t, partitions=1)
    produce_lines(kafka_bootstrap, topic, lines)
    return topic, len(lines)


def produce_lines(bootstrap: str, topic: str, lines: list[bytes]) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    for x in lines:
        p.send(topic, x)
    p.flush()
    p.close()


def start(bootstrap: str, topic: str, group: str, idle: float = 120) -> subprocess.Popen:
    proc = subprocess.Popen(run_args(bootstrap, topic, group, idle), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: committed(bootstrap, group, topic) or proc.poll() is not None, 120, "no commit within 120 s")
    assert proc.poll() is None, proc.stderr.read()[-3000:]
    return proc


def test_sigterm_drains_commits_and_exits_zero_without_leaving_the_fetch_process(kafka_bootstrap, big_backlog):
    topic, _ = big_backlog
    group = unique_topic("fetch-term")
    proc = start(kafka_bootstrap, topic, group)
    child = fetch_process(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    stopped = [orjson.loads(x) for x in err.splitlines() if x.startswith("{") and '"stopped"' in x][-1]
    assert stopped["messages"] > 0
    assert committed(kafka_bootstrap, group, topic) == stopped["messages"]   # everything processed, nothing more
    assert not alive(child)


def test_a_killed_fetch_process_makes_run_exit_nonzero_with_a_clear_error(kafka_bootstrap, big_backlog):
    topic, n = big_backlog
    group = unique_topic("fetch-kill")
    proc = start(kafka_bootstrap, topic, group)
    child = fetch_process(proc.pid)
    os.kill(child, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err[-3000:]
    failed = [orjson.loads(x) for x in err.splitlines() if x.startswith("{") and "fetch process failed" in x]
    assert failed and "exited with code -9" in failed[-1]["reason"], err[-3000:]
    assert (committed(kafka_bootstrap, group, topic) or 0) <= n


def test_a_killed_run_takes_its_fetch_process_with_it(kafka_bootstrap, big_backlog):
    topic, _ = big_backlog
    proc = start(kafka_bootstrap, topic, unique_topic("fetch-orphan"))
    child = fetch_process(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    wait_for(lambda: not alive(child), 30, "the fetch process outlived its parent")
