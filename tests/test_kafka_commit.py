"""The run loop's commit policy: outputs leave per batch, flush + commit per interval
while behind, after every batch once caught up, and always flush before commit.

No broker: a scripted stand-in consumer (polls, high watermarks, commits) and the
FakeProducer of test_kafka_sink.
"""
from __future__ import annotations

import threading
from collections import namedtuple

from kafka import TopicPartition

from streamer.kafka_io import KafkaLinesSink, KafkaSource
from tests.test_kafka_sink import FakeProducer

Msg = namedtuple("Msg", "offset value")
TP = TopicPartition("in", 0)


class ScriptedConsumer:
    """Returns ``batches`` of ``size`` messages from one partition whose high watermark is
    ``highwater``, then empty polls; sets ``stop`` while returning batch ``stop_after``."""

    def __init__(self, log: list, batches: int, size: int, highwater: int, stop: threading.Event,
                 stop_after: int | None = None) -> None:
        self.log, self.left, self.size, self.hw = log, batches, size, highwater
        self.stop, self.stop_after, self.next = stop, stop_after, 0

    def partitions_for_topic(self, topic):
        return {0}

    def poll(self, timeout_ms=0):
        if not self.left:
            return {}
        self.left -= 1
        msgs = [Msg(o, b"x") for o in range(self.next, self.next + self.size)]
        self.next += self.size
        if self.stop_after is not None and self.next == self.stop_after * self.size:
            self.stop.set()   # as SIGTERM while this batch is processed
        return {TP: msgs}

    def highwater(self, tp):
        return self.hw

    def commit(self, offsets):
        self.log.append(("commit", offsets[TP].offset))


class Pipe:
    """Writes one scored line per message; logs each flush with how many scored
    messages had been sent before it."""

    def __init__(self, log: list, sink: KafkaLinesSink, prod: FakeProducer) -> None:
        self.log, self.prod = log, prod
        self.scored_sinks, self.alert_sinks, self.dead_letter_sinks = [sink], [], []

    def process_batch(self, items) -> int:
        for _, origin in items:
            self.scored_sinks[0].write({"offset": origin["offset"]})
        return len(items)

    def flush(self) -> None:
        self.log.append(("flush", len(self.prod.values)))   # scored messages already sent
        self.scored_sinks[0].flush()


def source(consumer: ScriptedConsumer, commit_interval_ms: int) -> KafkaSource:
    src = KafkaSource.__new__(KafkaSource)   # no KafkaConsumer: the scripted one
    src.__dict__.update(consumer=consumer, topic="in", commit_interval=commit_interval_ms / 1000, commits=0,
                        _lag={}, _lock=threading.Lock(), _resume={}, positions={}, batches=0, messages=0,
                        checkpoints=0, commit_failures=0, flush_failures=0, flush_backoff=(0.01, 0.02))
    return src


def run(batches: int, highwater: int, commit_interval_ms: int, stop_after: int | None = None):
    log: list = []
    stop = threading.Event()
    prod = FakeProducer()
    pipe = Pipe(log, KafkaLinesSink(prod, "scored"), prod)
    src = source(ScriptedConsumer(log, batches, 10, highwater, stop, stop_after), commit_interval_ms)
    src.run(pipe, stop, poll_ms=10, idle_exit_s=0.02)
    return log, prod, src


def test_behind_commits_wait_for_the_interval_and_catching_up_commits_at_once():
    log, prod, src = run(batches=5, highwater=50, commit_interval_ms=3_600_000)
    # one flush + commit, when the fifth batch reached the high watermark; flush first, and
    # the scored lines had left once per batch before it
    assert log[:2] == [("flush", 5), ("commit", 50)]
    assert src.positions == {("in", 0): 50} and src.messages == 50
    assert [len(v.splitlines()) for v in prod.values] == [10] * 5


def test_interval_zero_flushes_and_commits_after_every_batch():
    log, prod, src = run(batches=3, highwater=30, commit_interval_ms=0)
    assert log[:6] == [("flush", 1), ("commit", 10), ("flush", 2), ("commit", 20), ("flush", 3), ("commit", 30)]
    assert src.commits >= 3


def test_stop_while_behind_flushes_and_commits_what_was_processed():
    log, prod, src = run(batches=5, highwater=50, commit_interval_ms=3_600_000, stop_after=2)
    assert log == [("flush", 2), ("commit", 20)]
    assert [len(v.splitlines()) for v in prod.values] == [10, 10]


def test_idle_poll_commits_a_batch_left_uncommitted():
    # behind (the high watermark says more is waiting) when the stream goes quiet
    log, prod, src = run(batches=2, highwater=100, commit_interval_ms=3_600_000)
    assert log[:2] == [("flush", 2), ("commit", 20)]


def test_gc_paused_pauses_the_collector_and_restores_its_state():
    import gc

    from streamer.kafka_io import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    try:
        with gc_paused():
            raise RuntimeError("a failing batch")
    except RuntimeError:
        pass
    assert gc.isenabled()
    gc.disable()                     # a caller that runs without the collector keeps it off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_run_loop_processes_batches_with_the_collector_paused():
    import gc

    seen: list[bool] = []
    log: list = []
    stop = threading.Event()
    prod = FakeProducer()
    pipe = Pipe(log, KafkaLinesSink(prod, "scored"), prod)
    real = pipe.process_batch
    pipe.process_batch = lambda items: (seen.append(gc.isenabled()), real(items))[1]
    src = source(ScriptedConsumer(log, 2, 10, 20, stop), 1000)
    src.run(pipe, stop, poll_ms=10, idle_exit_s=0.02)
    assert seen == [False, False] and gc.isenabled()
