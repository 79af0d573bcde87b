"""kafka-python's ``KafkaConsumer`` behind the run loop's five calls, in this thread.

``KafkaSource.run`` (``streamer.kafka_io``) makes five calls on its consumer --
``subscribe``, ``poll``, ``commit``, ``connected``, ``close`` -- and gets each poll
as a list of ``PartitionBatch``: plain offsets and value bytes per partition, the
same whether the consumer runs here (``GroupConsumer``) or in a fetch process
(``streamer.kafka_fetch.FetchProcessConsumer``, which runs a ``GroupConsumer`` in a
child and sends these batches up a pipe: they pickle cheaply, ConsumerRecords do not).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

__all__ = ["GroupConsumer", "Offsets", "PartitionBatch", "pack"]

Offsets = Mapping[tuple[str, int], int]   # (topic, partition) -> next offset to read


class PartitionBatch(NamedTuple):
    """One partition's records of a poll, in offset order (``values`` may hold None: tombstones)."""
    topic: str
    partition: int
    offsets: list[int]
    values: list[bytes | None]
    highwater: int | None    # the partition's high watermark as of the last fetch response


def pack(records: Mapping[TopicPartition, list], highwater: Callable[[TopicPartition], int | None]) -> list[PartitionBatch]:
    """kafka-python's ``poll`` result as PartitionBatches, partitions in (topic, partition) order."""
    return [PartitionBatch(tp.topic, tp.partition, [m.offset for m in msgs], [m.value for m in msgs], highwater(tp))
            for tp, msgs in sorted(records.items(), key=lambda kv: (kv[0].topic, kv[0].partition)) if msgs]


class GroupConsumer:
    """A ``KafkaConsumer`` in a consumer group, in this thread, behind the run loop's five calls."""

    def __init__(self, consumer_kwargs: dict) -> None:
        self.consumer = KafkaConsumer(**consumer_kwargs)
        self.resume: dict[tuple[str, int], int] = {}

    def subscribe(self, topic: str, resume: Offsets) -> None:
        """Join the group on ``topic``; start each partition assigned at ``resume`` if it is there."""
        self.resume = dict(resume)
        # kafka-python 3.0.12 can lose its first group join when it subscribes before it knows the
        # topic's partitions and a short poll expires mid-join (then it polls nothing forever);
        # fetching the topic metadata first avoids that race.
        self.consumer.partitions_for_topic(topic)
        self.consumer.subscribe([topic], listener=_SeekOnAssign(self))

    def poll(self, timeout_ms: int, max_records: int | None = None) -> list[PartitionBatch]:
        return pack(self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records), self.consumer.highwater)

    def commit(self, offsets: Offsets) -> None:
        """Commit synchronously; raises the KafkaError of a failed commit. A partition reassigned
        after a commit starts at the commit, not at the older checkpoint offset it was restored at
        (with a state directory commits follow the checkpoints that cover them)."""
        self.consumer.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})
        for tp, off in offsets.items():
            if tp in self.resume:
                self.resume[tp] = off

    @property
    def joining(self) -> bool:
        """True while the consumer has to (re)join its group (private API; if it is gone: True
        while nothing is assigned). See ``_serve``: polls then get time to finish the join."""
        try:
            return bool(self.consumer._coordinator.need_rejoin())
        except AttributeError:
            return not self.consumer.assignment()

    @property
    def connected(self) -> bool:
        """True while the consumer holds at least one open broker connection. kafka-python
        3.0.12's ``bootstrap_connected()`` is only true *during* bootstrap, so look at the
        client's connections (private API; falls back to bootstrap_connected())."""
        try:
            conns = list(self.consumer._client._manager._conns.values())
        except (AttributeError, RuntimeError):
            return bool(self.consumer.bootstrap_connected())
        return any(getattr(x, "connected", False) for x in conns)

    def close(self) -> None:
        self.consumer.close(autocommit=False)


class _SeekOnAssign(ConsumerRebalanceListener):
    """On assignment, start each partition where the restored checkpoint left off."""

    def __init__(self, owner: GroupConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked) -> None:
        pass

    def on_partitions_assigned(self, assigned) -> None:
        for tp in assigned:
            off = self.owner.resume.get((tp.topic, tp.partition))
            if off is not None:
                self.owner.consumer.seek(tp, off)
