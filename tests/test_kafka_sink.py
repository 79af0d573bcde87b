"""KafkaSink keeps what the broker did not acknowledge and re-sends it; the run loop
backs off and retries a failing flush instead of crashing, and never commits past it.

No broker: a tiny stand-in producer whose ``send`` returns kafka-python futures that
succeed or fail as told.
"""
from __future__ import annotations

import threading

import pytest
from kafka.errors import KafkaTimeoutError, NotLeaderForPartitionError
from kafka.future import Future

import orjson

from streamer.kafka_io import KafkaLinesSink, KafkaSink, KafkaSource, SinkFlushError, SinkOverflowError


class FakeProducer:
    """``fail`` = how the next sends end: "ok", "fail" (future fails), "raise" (send raises),
    "hang" (future never completes)."""

    def __init__(self) -> None:
        self.fail = "ok"
        self.acked: list[bytes] = []
        self.values: list[bytes] = []   # values of acknowledged sends
        self.hung: list[tuple[bytes, Future]] = []
        self.closed = False

    def send(self, topic, key=None, value=None):
        if self.fail == "raise":
            raise KafkaTimeoutError("no metadata for topic")
        fut = Future()
        if self.fail == "ok":
            self.acked.append(key)
            self.values.append(value)
            fut.success(object())
        elif self.fail == "fail":
            fut.failure(NotLeaderForPartitionError())
        else:
            self.hung.append((key, fut))
        return fut

    def flush(self, timeout=None):
        if self.hung:
            raise KafkaTimeoutError("Timeout waiting for future")

    def close(self, timeout=None):
        self.closed = True


def ids(keys) -> list[str]:
    return [k.decode() for k in keys]


def test_failed_records_are_kept_and_resent_on_the_next_flush():
    prod = FakeProducer()
    sink = KafkaSink(prod, "alerts")
    sink.write({"alert_id": "a1"})
    prod.fail = "fail"
    sink.write({"alert_id": "a2"})
    prod.fail = "raise"
    sink.write({"alert_id": "a3"})      # send itself raised: kept, not propagated
    with pytest.raises(SinkFlushError):
        sink.flush()
    assert sink.unacknowledged == 2
    with pytest.raises(SinkFlushError):  # still failing: still kept
        sink.flush()
    assert sink.unacknowledged == 2 and ids(prod.acked) == ["a1"]
    prod.fail = "ok"
    sink.flush()                         # re-sent and acknowledged
    assert sorted(ids(prod.acked)) == ["a1", "a2", "a3"] and sink.unacknowledged == 0
    sink.flush()                         # nothing left: no-op
    assert len(prod.acked) == 3


def test_in_flight_records_are_waited_for_not_resent():
    prod = FakeProducer()
    sink = KafkaSink(prod, "alerts")
    prod.fail = "hang"
    sink.write({"alert_id": "a1"})
    with pytest.raises(SinkFlushError):
        sink.flush()
    (key, fut), = prod.hung
    prod.hung.clear()
    fut.success(object())                # the producer's own retry got it through
    sink.flush()
    assert prod.acked == [] and sink.unacknowledged == 0


def test_overflow_drops_counts_and_refuses_every_later_flush():
    prod = FakeProducer()
    sink = KafkaSink(prod, "alerts", max_failed=2)
    prod.fail = "fail"
    for i in range(5):
        sink.write({"alert_id": f"a{i}"})
    with pytest.raises(SinkOverflowError):
        sink.flush()
    assert sink.dropped == 3 and sink.unacknowledged == 2
    prod.fail = "ok"
    with pytest.raises(SinkOverflowError):  # sticky: never let the runner commit past a loss
        sink.flush()
    sink.close()                              # logs, does not raise; closes the producer
    assert prod.closed


def lines(values: list[bytes]) -> list[dict]:
    return [orjson.loads(x) for v in values for x in v.splitlines()]


def test_lines_sink_sends_one_unkeyed_ndjson_message_per_flush():
    prod = FakeProducer()
    sink = KafkaLinesSink(prod, "scored")
    recs = [{"event_id": f"e{i}", "risk": i / 10, "reasons": []} for i in range(5)]
    for r in recs:
        sink.write(r)
    assert prod.values == [] and sink.unacknowledged == 1      # buffered until the flush
    sink.flush()
    assert prod.acked == [None] and len(prod.values) == 1
    assert prod.values[0].endswith(b"\n") and lines(prod.values) == recs
    sink.flush()                                               # nothing buffered: nothing sent
    assert len(prod.values) == 1 and sink.unacknowledged == 0


def test_lines_sink_bounds_message_size():
    prod = FakeProducer()
    sink = KafkaLinesSink(prod, "scored", max_message_bytes=100)
    recs = [{"event_id": f"e{i:03d}", "pad": "x" * 20} for i in range(20)]
    for r in recs:
        sink.write(r)
    assert len(prod.values) >= 5                               # sent as the buffer filled, before any flush
    sink.flush()
    assert all(len(v) <= 100 for v in prod.values) and lines(prod.values) == recs
    big = {"event_id": "big", "pad": "y" * 300}
    sink.write(big)                                            # larger than the bound: travels alone
    sink.flush()
    assert lines(prod.values[-1:]) == [big]


def test_lines_sink_keeps_and_resends_a_failed_message():
    prod = FakeProducer()
    sink = KafkaLinesSink(prod, "scored")
    prod.fail = "fail"
    sink.write({"event_id": "e1"})
    sink.write({"event_id": "e2"})
    with pytest.raises(SinkFlushError):
        sink.flush()
    assert sink.unacknowledged == 1
    prod.fail = "ok"
    sink.write({"event_id": "e3"})
    sink.flush()
    assert sorted(r["event_id"] for r in lines(prod.values)) == ["e1", "e2", "e3"]
    assert sink.unacknowledged == 0


class FakePipeline:
    def __init__(self, sink: KafkaSink) -> None:
        self.sink = sink
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        self.sink.flush()


def bare_source() -> KafkaSource:
    src = KafkaSource.__new__(KafkaSource)   # no consumer: only the flush/backoff logic
    src.flush_failures = 0
    src.flush_backoff = (0.01, 0.04)
    return src


def test_run_loop_flush_backs_off_and_retries_until_the_sink_recovers():
    prod = FakeProducer()
    sink = KafkaSink(prod, "alerts")
    prod.fail = "fail"
    sink.write({"alert_id": "a1"})
    pipe, src = FakePipeline(sink), bare_source()
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout=None):
            waits.append(timeout)
            if len(waits) == 4:
                prod.fail = "ok"              # the topic comes back
            return False

    assert src._flush(pipe, Stop()) is True
    assert src.flush_failures == 4 and pipe.flushes == 5
    assert waits == [0.01, 0.02, 0.04, 0.04]   # doubling, bounded
    assert ids(prod.acked) == ["a1"]


def test_run_loop_flush_gives_up_on_stop_and_propagates_overflow():
    prod = FakeProducer()
    prod.fail = "fail"
    sink = KafkaSink(prod, "alerts", max_failed=1)
    sink.write({"alert_id": "a1"})
    src, stop = bare_source(), threading.Event()
    stop.set()
    assert src._flush(FakePipeline(sink), stop) is False   # caller must not commit
    assert src.flush_failures == 1
    sink.write({"alert_id": "a2"})
    sink.write({"alert_id": "a3"})
    with pytest.raises(SinkOverflowError):
        src._flush(FakePipeline(sink), threading.Event())


def test_flush_failures_are_exported():
    from prometheus_client import CollectorRegistry, generate_latest

    from detectors import default_detectors
    from streamer.metrics import PipelineCollector
    from streamer.pipeline import Pipeline
    from streamer.testing import TEST_PSEUDO, MemorySink

    class Src:
        connected = False
        flush_failures = 3

        def partition_lag(self):
            return {}

    p = Pipeline(default_detectors(), TEST_PSEUDO, alert_sinks=[MemorySink()], dead_letter_sinks=[MemorySink()])
    reg = CollectorRegistry()
    reg.register(PipelineCollector(p, source=Src(), mode="run"))
    assert "surgewatch_sink_flush_failures_total 3.0" in generate_latest(reg).decode()
