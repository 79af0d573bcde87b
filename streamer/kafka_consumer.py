"""kafka-python's ``KafkaConsumer`` behind the run loop's five calls, in this thread.

``KafkaSource.run`` (``streamer.kafka_io``) makes five calls on its consumer --
``subscribe``, ``poll``, ``commit``, ``connected``, ``close`` -- and gets each poll
as a list of ``PartitionBatch``: plain offsets and value bytes per partition, the
same whether the consumer runs here (``GroupConsumer``) or in a fetch process
(``streamer.kafka_fetch.FetchProcessConsumer``, which runs a ``GroupConsumer`` in a
child and sends these batches up a pipe: they pickle cheaply, ConsumerRecords do not).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import NamedTuple

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

__all__ = ["GroupConsumer", "Offsets", "PartitionBatch", "pack"]

log = logging.getLogger("surgewatch.kafka")

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
        # kafka-python 3.0.12: a JoinGroup sent before the topic's partitions are known assigns
        # nothing; loading the topic metadata first makes the first join carry them. (A leader
        # still rejoins once the metadata listener catches up: _finish_stranded_join.)
        self.consumer.partitions_for_topic(topic)
        self.consumer.subscribe([topic], listener=_SeekOnAssign(self))

    def poll(self, timeout_ms: int, max_records: int | None = None) -> list[PartitionBatch]:
        self._finish_stranded_join()
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

    def _finish_stranded_join(self) -> None:
        """Work around a kafka-python 3.0.12 stall: make a group join that no poll will finish
        get finished by the next one.

        A leader rejoins when the topic metadata it last assigned from changes (right after every
        start: its first assignment is made from the metadata snapshot taken at ``subscribe``,
        ``{}``, and the topic's metadata arrives ~0.1 s later). The rejoin revokes every partition
        (``_on_join_prepare``: they stay assigned but marked pending revocation, so nothing is
        fetched), and runs JoinGroup -> SyncGroup as a background task that only a poll's
        ``join_group_async`` completes (re-assign, clear the marks, re-enable heartbeats) -- and
        only while ``need_rejoin()`` is true. For this rejoin ``need_rejoin()`` is true only
        while the snapshots differ, and the background task's own assignment makes them equal:
        if the poll that started it timed out first (a 0 or 25 ms poll, a loaded machine), no
        later poll completes it. The consumer then fetches nothing forever, and the broker
        expires the silent member (bench/fetch_stall.py reproduces it: 15 stalls in 128 starts
        under load with the fetch process's poll pattern). Called before every poll: a stranded
        join gets ``request_rejoin()``, which keeps ``need_rejoin()`` true until a join is
        completed, so this poll joins again -- a new JoinGroup, since kafka-python discards the
        finished task's result, hence a new generation that the group's other members join on
        their next polls -- and completes it (``joining`` is then true: the fetch process gives
        it time). Checking only after an empty poll would be too late: a poll in the stranded
        state returns empty only at its timeout.

        ``need_rejoin()`` is read before ``rejoining``: a completing join clears ``rejoining``
        before ``rejoin_needed``, so a join being completed right now is never mistaken for a
        stranded one. Private API: without it this does nothing."""
        try:
            coordinator = self.consumer._coordinator
            stranded = not coordinator.need_rejoin() and coordinator.rejoining
            if stranded:
                log.info("kafka-python left a group join unfinished; rejoining")
                coordinator.request_rejoin()
        except AttributeError:
            pass

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
