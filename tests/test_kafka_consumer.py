"""``GroupConsumer`` (the consumer of both the loop thread and the fetch process) against the
real broker: group rejoins with kafka-python 3.0.12.

- A leader whose topic metadata changes rejoins; when the poll that started that rejoin times
  out before it completes (the fetch process polls with 0 ms timeouts while it assembles a
  batch), kafka-python never completes it: the partitions stay revoked and nothing is fetched
  again (``GroupConsumer._finish_stranded_join``). Adding a partition while only 0 ms polls run
  stranded the join in 10 of 10 runs without the workaround.
- A partition reassigned by a rebalance after a commit starts at that commit, not at the
  older checkpoint offset the consumer was started with: in a thread and in a fetch process.
"""
from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewPartitions

from streamer.kafka_consumer import GroupConsumer
from streamer.kafka_fetch import FetchProcessConsumer
from tests.kafka_broker import HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS, create_topic, unique_topic

pytestmark = pytest.mark.kafka


def kwargs(bootstrap: str, group: str, **extra) -> dict:
    return dict(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS, **extra)


def produce(bootstrap: str, topic: str, partition: int, first: int, n: int) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(first, first + n):
        p.send(topic, f"m-{partition}-{i}".encode(), partition=partition)
    p.flush()
    p.close()


def read(consumer, want: int, timeout_ms: int, deadline_s: float, pause_s: float = 0.0) -> dict[tuple[str, int], list[int]]:
    """Poll until ``want`` records came (or the deadline); the offsets read, by partition."""
    got: dict[tuple[str, int], list[int]] = {}
    deadline = time.monotonic() + deadline_s
    while sum(map(len, got.values())) < want and time.monotonic() < deadline:
        for part in consumer.poll(timeout_ms):
            got.setdefault((part.topic, part.partition), []).extend(part.offsets)
        time.sleep(pause_s)
    return got


def test_a_rejoin_begun_by_a_zero_ms_poll_is_finished(kafka_bootstrap):
    topic = unique_topic("strand")
    create_topic(kafka_bootstrap, topic, partitions=1)
    produce(kafka_bootstrap, topic, 0, 0, 50)
    # a short metadata max age: the added partition is seen within ~0.3 s
    c = GroupConsumer(kwargs(kafka_bootstrap, unique_topic("strand-g"), metadata_max_age_ms=300))
    try:
        c.subscribe(topic, {})
        assert read(c, 50, 3000, 30) == {(topic, 0): list(range(50))}
        deadline = time.monotonic() + 10
        while c.joining and time.monotonic() < deadline:    # the join after start-up is done
            c.poll(500)
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.create_partitions({topic: NewPartitions(total_count=2)})
        finally:
            admin.close()
        produce(kafka_bootstrap, topic, 0, 50, 20)
        produce(kafka_bootstrap, topic, 1, 0, 20)
        # only 0 ms polls from now on, as the fetch process polls while it assembles a batch:
        # the metadata change makes this leader rejoin inside one of them
        got = read(c, 40, 0, 30, pause_s=0.01)
        assert got == {(topic, 0): list(range(50, 70)), (topic, 1): list(range(20))}
    finally:
        c.close()


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_a_partition_reassigned_after_a_commit_starts_at_the_commit(kafka_bootstrap, kind):
    topic = unique_topic("rejoin")
    create_topic(kafka_bootstrap, topic, partitions=2)
    for p in (0, 1):
        produce(kafka_bootstrap, topic, p, 0, 100)
    group = unique_topic("rejoin-g")
    first = (GroupConsumer if kind == "thread" else FetchProcessConsumer)(kwargs(kafka_bootstrap, group))
    second = None
    try:
        # started from a checkpoint at offset 20 of each partition; reads and commits to 100
        first.subscribe(topic, {(topic, 0): 20, (topic, 1): 20})
        got = read(first, 160, 500, 60)
        assert got == {(topic, 0): list(range(20, 100)), (topic, 1): list(range(20, 100))}
        first.commit({(topic, 0): 100, (topic, 1): 100})

        # a second member joins: the rebalance revokes both partitions and gives the first one back
        second = GroupConsumer(kwargs(kafka_bootstrap, group))
        second.subscribe(topic, {})
        after: dict[tuple[str, int], list[int]] = {}
        stop = threading.Event()

        def poll_first() -> None:
            while not stop.is_set():
                for part in first.poll(200):
                    after.setdefault((part.topic, part.partition), []).extend(part.offsets)

        t = threading.Thread(target=poll_first)
        t.start()
        try:
            deadline = time.monotonic() + 60
            while (second.joining or not second.consumer.assignment()) and time.monotonic() < deadline:
                second.poll(200)
            assert len(second.consumer.assignment()) == 1, "the rebalance did not happen"
            for p in (0, 1):
                produce(kafka_bootstrap, topic, p, 100, 10)
            got2 = read(second, 10, 200, 30)
            deadline = time.monotonic() + 30
            while sum(map(len, after.values())) < 10 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            t.join(30)
        # each member read only the 10 new records of its partition: nothing from the checkpoint again
        assert len(got2) == 1 and list(got2.values())[0] == list(range(100, 110))
        assert len(after) == 1 and list(after.values())[0] == list(range(100, 110)), after
    finally:
        first.close()
        if second is not None:
            second.close()
