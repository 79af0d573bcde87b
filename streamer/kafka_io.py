"""Kafka at the edge: a consumer-group source, a producer sink, the run loop.

At-least-once: every polled batch goes through the pipeline, every sink is
flushed (alerts and dead letters acknowledged by the broker, files fsynced),
and only then are the batch's offsets committed. A crash between flush and
commit re-delivers the batch; the pipeline's event-id memory and the
deterministic alert ids make that harmless.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streamer.config import KafkaSettings
from streamer.pipeline import Pipeline

__all__ = ["KafkaSink", "KafkaSource", "make_producer"]

log = logging.getLogger("surgewatch.kafka")


def make_producer(settings: KafkaSettings, **overrides) -> KafkaProducer:
    kw = settings.client_kwargs()
    kw.update(acks="all", linger_ms=5, retries=10, max_in_flight_requests_per_connection=1)
    kw.update(overrides)
    return KafkaProducer(**kw)


class KafkaSink:
    """Writes records to a topic keyed by ``key_field``; ``flush`` waits for acks
    and raises if any send failed, so the runner does not commit past a loss."""

    def __init__(self, producer: KafkaProducer, topic: str, key_field: str | None = "alert_id",
                 flush_timeout: float = 30.0) -> None:
        self.producer = producer
        self.topic = topic
        self.key_field = key_field
        self.flush_timeout = flush_timeout
        self._pending: list = []

    def write(self, record: dict) -> None:
        key = record.get(self.key_field) if self.key_field else None
        fut = self.producer.send(self.topic, key=key.encode() if isinstance(key, str) else None,
                                 value=orjson.dumps(record))
        self._pending.append(fut)

    def flush(self) -> None:
        if not self._pending:
            return
        self.producer.flush(timeout=self.flush_timeout)
        pending, self._pending = self._pending, []
        for fut in pending:
            fut.get(timeout=self.flush_timeout)  # raises the send error, if any

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.producer.close(timeout=5)


class KafkaSource:
    """A consumer-group reader that feeds a Pipeline batch by batch."""

    def __init__(self, settings: KafkaSettings, topic: str, group: str, *,
                 session_timeout_ms: int = 10000, max_poll_records: int = 500,
                 auto_offset_reset: str = "earliest") -> None:
        kw = settings.client_kwargs()
        heartbeat = max(1000, session_timeout_ms // 3)
        self.consumer = KafkaConsumer(
            topic, group_id=group, enable_auto_commit=False, auto_offset_reset=auto_offset_reset,
            session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat,
            max_poll_records=max_poll_records, **kw)
        self.topic = topic
        self.connected = False
        self._lag: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self.batches = 0
        self.messages = 0

    def partition_lag(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._lag)

    def run(self, pipeline: Pipeline, stop: threading.Event, poll_ms: int = 500,
            on_batch: Callable[[int], None] | None = None, idle_exit_s: float | None = None) -> None:
        """Consume until ``stop`` is set. Each batch: process, flush, commit."""
        c = self.consumer
        idle_polls, idle_limit = 0, (None if idle_exit_s is None else max(1, int(idle_exit_s * 1000 / poll_ms)))
        while not stop.is_set():
            batch = c.poll(timeout_ms=poll_ms)
            self.connected = bool(c.bootstrap_connected()) or bool(batch)
            if not batch:
                idle_polls += 1
                if idle_limit is not None and idle_polls >= idle_limit:
                    log.info("no messages for %.1f s, exiting (--exit-when-idle)", idle_exit_s)
                    break
                continue
            idle_polls = 0
            offsets: dict[TopicPartition, OffsetAndMetadata] = {}
            n = 0
            for tp in sorted(batch, key=lambda t: (t.topic, t.partition)):
                msgs = batch[tp]
                for m in msgs:
                    if m.value is None:
                        continue
                    pipeline.process(m.value, {"topic": tp.topic, "partition": tp.partition, "offset": m.offset})
                n += len(msgs)
                last = msgs[-1].offset
                offsets[tp] = OffsetAndMetadata(last + 1, "", -1)
                hw = c.highwater(tp)
                if hw is not None:
                    with self._lock:
                        self._lag[(tp.topic, tp.partition)] = max(0, hw - (last + 1))
            pipeline.flush()          # alerts + dead letters durable first ...
            c.commit(offsets)         # ... then the offsets that they cover
            self.batches += 1
            self.messages += n
            if on_batch:
                on_batch(n)

    def close(self) -> None:
        try:
            self.consumer.close(autocommit=False)
        except Exception:  # closing must never mask the real exit reason
            log.exception("error closing consumer")
