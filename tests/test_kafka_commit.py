"""The run loop's commit policy against the real broker.

While the consumer is behind, flush + commit wait for ``commit_interval_ms``; once it
has caught up (and on stop) they happen at once; ``commit_interval_ms=0`` commits after
every batch. Either way the scored records leave per batch and, when ``run`` returns,
everything processed is committed -- also with the consumer in a fetch process. Small polls (``max_poll_records``) make a backlog of
many batches out of a few hundred messages.
"""
from __future__ import annotations

import threading

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streamer.cli import build_pipeline
from streamer.config import KafkaSettings
from streamer.kafka_io import KafkaLinesSink, KafkaSink, KafkaSource, make_producer
from streamer.pseudonym import Pseudonymizer
from streamer.testing import raw_event
from tests.kafka_broker import create_topic, unique_topic

pytestmark = pytest.mark.kafka

N, POLL = 300, 25   # messages, records per poll: at least 12 batches


@pytest.fixture(scope="module")
def backlog(kafka_bootstrap) -> str:
    """A topic holding N valid events before any consumer starts (a backlog)."""
    topic = unique_topic("commit")
    create_topic(kafka_bootstrap, topic, partitions=1)
    p = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(N):
        p.send(topic, orjson.dumps(raw_event(event_id=f"c-{i}", ts=i / 60)))
    p.flush()
    p.close()
    return topic


def consume(bootstrap: str, topic: str, interval_ms: int, fetch_process: bool = False) -> tuple[KafkaSource, str, int]:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    producer = make_producer(settings)
    scored_topic = unique_topic("commit-scored")
    pipeline = build_pipeline(Pseudonymizer(b"commit-test-key"), [KafkaSink(producer, unique_topic("a"), "alert_id")],
                              [KafkaSink(producer, unique_topic("d"), "event_id")], None,
                              [KafkaLinesSink(producer, scored_topic)])
    group = unique_topic("commit-group")
    source = KafkaSource(settings, topic, group, session_timeout_ms=6000, max_poll_records=POLL,
                         commit_interval_ms=interval_ms, fetch_process=fetch_process)
    stop = threading.Event()
    timer = threading.Timer(120, stop.set)
    timer.start()
    try:
        source.run(pipeline, stop, poll_ms=200, idle_exit_s=3)
    finally:
        timer.cancel()
        pipeline.close()
        source.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    committed = c.committed(TopicPartition(topic, 0))
    c.close()
    return source, scored_topic, committed


def scored_messages(bootstrap: str, topic: str) -> list[bytes]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                      consumer_timeout_ms=3000)
    c.assign([TopicPartition(topic, 0)])
    out = [m.value for m in c]
    c.close()
    return out


@pytest.mark.parametrize("fetch_process", [False, True])
def test_a_backlog_commits_per_interval_and_everything_is_committed_at_the_end(kafka_bootstrap, backlog, fetch_process):
    source, scored_topic, committed = consume(kafka_bootstrap, backlog, interval_ms=3_600_000, fetch_process=fetch_process)
    assert source.messages == N and source.batches >= N // POLL
    assert committed == N
    # behind for all but the last batches: far fewer commits than batches
    assert source.commits <= 3 < source.batches
    # the outputs were not held back for the commit: one scored message per batch
    msgs = scored_messages(kafka_bootstrap, scored_topic)
    assert len(msgs) == source.batches and sum(len(m.splitlines()) for m in msgs) == N


def test_interval_zero_commits_after_every_batch(kafka_bootstrap, backlog):
    source, _, committed = consume(kafka_bootstrap, backlog, interval_ms=0)
    assert committed == N
    assert source.commits >= source.batches >= N // POLL
