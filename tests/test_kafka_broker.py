"""Integration test of the real Kafka broker (deploy/kafka/broker.sh) with kafka-python.

Produce 1000 keyed JSON messages (acks=all), consume part of them in a group with manual commits,
reopen the group and check it resumes exactly at the committed offsets (nothing re-delivered,
nothing lost), and that end_offsets equals the produced count.
"""
from __future__ import annotations

import time
from collections import defaultdict

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
# kafka-python 3.0 deprecates plain callables as (de)serializers: use Serializer objects.
from kafka.serializer import DefaultSerializer, JsonSerializer

from tests.kafka_broker import (
    HEARTBEAT_INTERVAL_MS,
    SESSION_TIMEOUT_MS,
    create_topic,
    prime_metadata,
    unique_topic,
)

pytestmark = pytest.mark.kafka

N = 1000
PARTITIONS = 3
FIRST_PART = 400  # consume at least this many before the first commit


def _consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,  # broker allows >= 1000 (group.min.session.timeout.ms)
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        max_poll_records=100,
        key_deserializer=DefaultSerializer(),
        value_deserializer=JsonSerializer(),
    )
    prime_metadata(consumer, topic)  # one JoinGroup instead of two (kafka-python 3.0.12 race)
    return consumer


def _poll_at_least(consumer: KafkaConsumer, want: int, timeout: float) -> list:
    out: list = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            out.extend(records)
    return out


def test_produce_consume_commit_resume(kafka_bootstrap):
    topic = create_topic(kafka_bootstrap, unique_topic("it-broker"), partitions=PARTITIONS)
    group = unique_topic("it-broker-group")
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    # --- produce 1000 keyed JSON messages, acks=all ---
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        acks="all",
        linger_ms=5,
        key_serializer=DefaultSerializer(),
        value_serializer=JsonSerializer(),
    )
    futures = [
        producer.send(topic, key=f"device-{i % 37}", value={"id": i, "kind": "complaint", "n": i * 7})
        for i in range(N)
    ]
    producer.flush(timeout=60)
    metas = [f.get(timeout=30) for f in futures]
    producer.close(timeout=10)
    produced = {(m.partition, m.offset) for m in metas}
    assert len(produced) == N
    key_partition: dict[str, set[int]] = defaultdict(set)
    for i, m in enumerate(metas):
        key_partition[f"device-{i % 37}"].add(m.partition)
    assert all(len(ps) == 1 for ps in key_partition.values()), "a key landed on two partitions"

    # --- first consumer: take part of the stream, commit, close ---
    c1 = _consumer(kafka_bootstrap, topic, group)
    try:
        first = _poll_at_least(c1, FIRST_PART, timeout=60)
        assert FIRST_PART <= len(first) < N, len(first)
        c1.commit()
        committed = {tp: c1.committed(tp) for tp in tps}
        for tp in tps:
            seen = [r.offset for r in first if r.partition == tp.partition]
            # commit() commits the position of every assigned partition: 0 where nothing came yet
            assert (committed[tp] or 0) == (max(seen) + 1 if seen else 0), (tp, committed[tp])
            if seen:
                assert seen == list(range(seen[0], seen[-1] + 1)) and seen[0] == 0
    finally:
        c1.close()

    # --- same group again: resumes exactly at the committed offsets ---
    c2 = _consumer(kafka_bootstrap, topic, group)
    try:
        rest = _poll_at_least(c2, N - len(first), timeout=60)
        assert len(rest) == N - len(first), (len(first), len(rest))
        for tp in tps:
            offsets = [r.offset for r in rest if r.partition == tp.partition]
            if offsets:
                assert offsets[0] == (committed[tp] or 0), (tp, offsets[0], committed[tp])
        got_first = {(r.partition, r.offset) for r in first}
        got_rest = {(r.partition, r.offset) for r in rest}
        assert not got_first & got_rest, "records re-delivered after commit"
        assert got_first | got_rest == produced
        assert sorted(r.value["id"] for r in first + rest) == list(range(N))
        assert all(r.key == f"device-{r.value['id'] % 37}" for r in first + rest)

        c2.commit()
        end = c2.end_offsets(tps)
        assert sum(end.values()) == N
        assert c2.beginning_offsets(tps) == {tp: 0 for tp in tps}
        assert {tp: c2.committed(tp) for tp in tps} == end
    finally:
        c2.close()

    # --- third time: everything committed, nothing comes back ---
    c3 = _consumer(kafka_bootstrap, topic, group)
    try:
        deadline = time.monotonic() + 30
        extra = []
        while not c3.assignment() and time.monotonic() < deadline:
            for records in c3.poll(timeout_ms=200).values():
                extra.extend(records)
        assert c3.assignment() == set(tps)
        extra += _poll_at_least(c3, 1, timeout=1.0)
        assert extra == []
    finally:
        c3.close()
