"""Kafka producer-side sinks: alerts / dead letters keyed per record, scored records
packed as NDJSON, and the keep-and-re-send rules the run loop's commits rely on.

The run loop (``streamer.kafka_io``) commits offsets only after every sink's
``flush`` returned. A failing sink (alerts topic unavailable, broker down)
does not crash the loop: ``KafkaSink.flush`` keeps every record the broker
did not acknowledge and raises ``SinkFlushError``; the loop then commits nothing, counts the
failure (``KafkaSource.flush_failures``), backs off (0.5 s doubling up to
30 s, woken by the stop event) and flushes again, which re-sends the kept
records. Consumption pauses meanwhile. The kept records are bounded
(``KafkaSink.max_failed``): past that bound records are dropped and counted
(``KafkaSink.dropped``), the sink raises ``SinkOverflowError`` from then on
and the loop exits with it without committing or checkpointing, so a restart
re-reads from the last commit/checkpoint and re-derives the dropped records.
"""
from __future__ import annotations

import logging

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from streamer.config import KafkaSettings

__all__ = ["KafkaLinesSink", "KafkaSink", "SinkFlushError", "SinkOverflowError", "make_producer"]

log = logging.getLogger("surgewatch.kafka")


def make_producer(settings: KafkaSettings, **overrides) -> KafkaProducer:
    kw = settings.client_kwargs()
    kw.update(acks="all", linger_ms=5, retries=10, max_in_flight_requests_per_connection=1)
    kw.update(overrides)
    return KafkaProducer(**kw)


class SinkFlushError(KafkaError):
    """Some records were not acknowledged; the sink kept them and re-sends them on the next flush."""
    retriable = True


class SinkOverflowError(KafkaError):
    """The sink dropped unacknowledged records (buffer full): never commit past them again."""


class KafkaSink:
    """Writes records to a topic keyed by ``key_field``; ``flush`` waits for acks
    and raises ``SinkFlushError`` if any record is not acknowledged, so the runner
    does not commit past it.

    Records whose send failed (the producer gave up after its own retries, or
    ``send`` itself raised, e.g. no metadata within ``max_block_ms``) are kept and
    re-sent by the next ``flush``; records still in flight when the flush timeout
    expires stay pending (not re-sent). At most ``max_failed`` records are kept:
    beyond that they are dropped, counted in ``dropped`` and logged, and every later
    ``flush`` raises ``SinkOverflowError`` (the runner exits without committing, a
    restart re-derives them from the last committed offsets / checkpoint).
    """

    def __init__(self, producer: KafkaProducer, topic: str, key_field: str | None = "alert_id",
                 flush_timeout: float = 30.0, max_failed: int = 50_000) -> None:
        self.producer = producer
        self.topic = topic
        self.key_field = key_field
        self.flush_timeout = flush_timeout
        self.max_failed = max_failed
        self._pending: list = []   # (key, value, future) sent, not yet acknowledged
        self._failed: list = []    # (key, value) to re-send on the next flush
        self.dropped = 0

    def write(self, record: dict) -> None:
        key = record.get(self.key_field) if self.key_field else None
        self._send(key.encode() if isinstance(key, str) else None, orjson.dumps(record))

    def _send(self, key: bytes | None, value: bytes) -> None:
        try:
            fut = self.producer.send(self.topic, key=key, value=value)
        except KafkaError as e:  # e.g. KafkaTimeoutError: topic metadata unavailable
            self._keep(key, value, e)
            return
        self._pending.append((key, value, fut))

    def _keep(self, key: bytes | None, value: bytes, err: object) -> None:
        if len(self._failed) < self.max_failed:
            self._failed.append((key, value))
            return
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.error("sink buffer full, dropping unacknowledged records; offsets will not be committed past "
                      "them, restart to re-derive them",
                      extra={"topic": self.topic, "dropped": self.dropped, "reason": type(err).__name__})

    @property
    def unacknowledged(self) -> int:
        return len(self._pending) + len(self._failed)

    def send(self) -> None:
        """Hand every written record to the producer without waiting for acks (a
        ``KafkaSink`` already does on ``write``; subclasses that buffer override this)."""

    def flush(self) -> None:
        if self.dropped:
            raise SinkOverflowError(f"{self.dropped} records for {self.topic} dropped (sink buffer full)")
        retry, self._failed = self._failed, []
        for key, value in retry:
            self._send(key, value)
        if self._pending:
            try:
                self.producer.flush(timeout=self.flush_timeout)
            except KafkaError as e:  # timeout: what did not complete stays pending
                log.warning("producer flush incomplete", extra={"topic": self.topic, "reason": type(e).__name__})
        pending, self._pending = self._pending, []
        for key, value, fut in pending:
            if not fut.is_done:
                self._pending.append((key, value, fut))
            elif fut.failed():
                self._keep(key, value, fut.exception)
        if self.dropped:
            raise SinkOverflowError(f"{self.dropped} records for {self.topic} dropped (sink buffer full)")
        if self._pending or self._failed:
            raise SinkFlushError(f"{len(self._pending)} records for {self.topic} unacknowledged, "
                                 f"{len(self._failed)} failed and kept for re-sending")

    def close(self) -> None:
        try:
            self.flush()
        except KafkaError as e:  # the runner did not commit past these: a restart re-derives them
            log.error("closing with unacknowledged records", extra={"topic": self.topic, "reason": str(e)})
        finally:
            self.producer.close(timeout=5)


class KafkaLinesSink(KafkaSink):
    """Packs many records into one Kafka message of NDJSON lines (``b"{...}\\n{...}\\n"``), unkeyed.

    Why: kafka-python's ``send`` is pure Python per message (partitioner, record builder,
    future, sender wake-up): ~50 us for a keyed scored record (~90 us without ``crc32c``),
    against ~3 us per record packed 500 to a message. The scored topic gets one record per
    input event, so per-record messages cost more than a quarter of all the detectors' work.
    Records are buffered by ``write`` and go out as messages of at most
    ``max_message_bytes`` (a record larger than that travels alone) on the next ``send``
    (the run loop calls it once per polled batch) or ``flush`` (before offsets are
    committed); the ack/keep/re-send rules of ``KafkaSink`` apply to each packed message. Readers split
    each message value on newlines (``jq`` reads the concatenated documents as is).
    The buffer is bounded: reaching ``max_message_bytes`` sends a message at once.
    """

    def __init__(self, producer: KafkaProducer, topic: str, flush_timeout: float = 30.0,
                 max_failed: int = 50_000, max_message_bytes: int = 512 * 1024) -> None:
        super().__init__(producer, topic, None, flush_timeout, max_failed)
        self.max_message_bytes = max_message_bytes
        self._lines: list[bytes] = []
        self._size = 0

    def write(self, record: dict) -> None:
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        if self._lines and self._size + len(line) > self.max_message_bytes:
            self._pack()
        self._lines.append(line)
        self._size += len(line)

    def _pack(self) -> None:
        value = b"".join(self._lines)
        self._lines, self._size = [], 0
        self._send(None, value)

    @property
    def unacknowledged(self) -> int:
        return super().unacknowledged + (1 if self._lines else 0)

    def send(self) -> None:
        """Send the buffered lines as one message now (once per polled batch), not
        waiting for the ack: the batch's scored records leave with the batch even when
        the flush before the next commit is a while away."""
        if self._lines:
            self._pack()

    def flush(self) -> None:
        self.send()
        super().flush()
