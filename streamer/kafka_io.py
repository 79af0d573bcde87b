"""Kafka at the edge: a consumer-group source, a producer sink, the run loop.

At-least-once: every polled batch goes through the pipeline, every sink is
flushed (alerts and dead letters acknowledged by the broker, files fsynced),
and only then are the batch's offsets committed. A crash between flush and
commit re-delivers the batch; the pipeline's event-id memory and the
deterministic alert ids make that harmless.

A failing sink (alerts topic unavailable, broker down) does not crash the
loop: ``KafkaSink.flush`` keeps every record the broker did not acknowledge
and raises ``SinkFlushError``; the loop then commits nothing, counts the
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
import threading
from collections.abc import Callable

import orjson
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from streamer import checkpoint
from streamer.config import KafkaSettings
from streamer.pipeline import Pipeline

__all__ = ["KafkaLinesSink", "KafkaSink", "KafkaSource", "SinkFlushError", "SinkOverflowError", "make_producer"]

log = logging.getLogger("surgewatch.kafka")


def native_crc32c() -> bool:
    """True when kafka-python can use the ``crc32c`` C extension.

    Without it kafka-python checks every fetched record batch's CRC-32C and computes every
    produced batch's in pure Python, about 0.5 us per byte: ~70 us of CPU per ~450-byte
    event on the consumer alone, more than a third of all the detectors' work."""
    try:
        import crc32c  # noqa: F401
    except ImportError:
        return False
    return True


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
    input event, so per-record messages cost more than a quarter of all the detectors' work. Records are buffered by ``write`` and go out as messages of
    at most ``max_message_bytes`` (a record larger than that travels alone) on the next
    ``flush``, i.e. once per polled batch, before its offsets are committed; the
    ack/keep/re-send rules of ``KafkaSink`` apply to each packed message. Readers split
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

    def flush(self) -> None:
        if self._lines:
            self._pack()
        super().flush()


class KafkaSource:
    """A consumer-group reader that feeds a Pipeline batch by batch.

    Without a state directory every batch is flushed and then committed.
    With ``state_dir`` the pipeline state is restored at start, each assigned
    partition is sought to the checkpoint's offset, and offsets are committed
    only right after a checkpoint that covers them has been written.
    """

    def __init__(self, settings: KafkaSettings, topic: str, group: str, *,
                 session_timeout_ms: int = 10000, max_poll_records: int = 1000,
                 auto_offset_reset: str = "earliest") -> None:
        if not native_crc32c():
            log.warning("the crc32c package is missing: kafka-python falls back to a pure-Python CRC-32C "
                        "(~8x slower consume); pip install crc32c")
        kw = settings.client_kwargs()
        heartbeat = max(1000, session_timeout_ms // 3)
        self.consumer = KafkaConsumer(
            group_id=group, enable_auto_commit=False, auto_offset_reset=auto_offset_reset,
            session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat,
            max_poll_records=max_poll_records, **kw)
        self.topic = topic
        self._lag: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._resume: dict[tuple[str, int], int] = {}
        self.positions: dict[tuple[str, int], int] = {}
        self.batches = 0
        self.messages = 0
        self.checkpoints = 0
        self.commit_failures = 0
        self.flush_failures = 0          # sink flushes that raised (nothing committed), all time
        self.flush_backoff = (0.5, 30.0)  # first and maximum sleep between flush retries, seconds
        self.consumer.subscribe([topic], listener=_SeekOnAssign(self))

    def partition_lag(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._lag)

    def restore(self, pipeline: Pipeline, state_dir: str) -> bool:
        """Load the checkpoint in ``state_dir`` into ``pipeline``; remember its offsets."""
        ck = checkpoint.load(state_dir)
        if ck is None:
            log.info("no checkpoint yet, starting with empty state", extra={"state_dir": state_dir})
            return False
        checkpoint.restore(pipeline, ck.state)
        self._resume = dict(ck.offsets)
        self.positions = dict(ck.offsets)
        log.info("restored checkpoint", extra={"state_dir": state_dir, "offsets": {f"{t}/{p}": o for (t, p), o in ck.offsets.items()}})
        return True

    def _commit(self, offsets: dict[tuple[str, int], int]) -> bool:
        """Commit ``offsets``; a commit refused because the group is rebalancing (a restarted
        member rejoining while its dead predecessor has not timed out yet) is not fatal, and
        neither is a retriable error (broker down: connection refused, coordinator unknown):
        the offsets stay in ``positions`` and go out with the next commit."""
        if not offsets:
            return True
        try:
            self.consumer.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})
        except KafkaError as e:
            if not (e.retriable or isinstance(e, (CommitFailedError, RebalanceInProgressError))):
                raise
            self.commit_failures += 1
            log.warning("offset commit deferred", extra={"reason": type(e).__name__})
            return False
        self.commit_failures = 0
        return True

    def _flush(self, pipeline: Pipeline, stop: threading.Event) -> bool:
        """Flush every sink; on a Kafka error count it, back off (doubling, bounded) and
        retry until it succeeds (True) or ``stop`` is set (False: do not commit).
        ``SinkOverflowError`` (records dropped) propagates: never commit past a loss.
        While retrying nothing is polled; an outage longer than the consumer's
        max_poll_interval_ms costs a group rejoin (re-delivery from the last commit)."""
        delay, max_delay = self.flush_backoff
        while True:
            try:
                pipeline.flush()
                return True
            except SinkOverflowError:
                log.error("sink dropped records; exiting without committing (restart re-derives them)")
                raise
            except KafkaError as e:
                self.flush_failures += 1
                log.warning("sink flush failed, offsets not committed",
                            extra={"reason": str(e), "retry_in_s": delay, "flush_failures": self.flush_failures})
            if stop.wait(delay):
                log.error("stopping with unflushed records; offsets not committed past them")
                return False
            delay = min(delay * 2, max_delay)

    def _checkpoint(self, pipeline: Pipeline, state_dir: str, stop: threading.Event) -> bool:
        if not self._flush(pipeline, stop):
            return False
        size = checkpoint.save(state_dir, checkpoint.Checkpoint(
            checkpoint.FORMAT_VERSION, dict(self.positions), checkpoint.snapshot(pipeline)))
        self._commit(self.positions)
        self.checkpoints += 1
        log.debug("checkpoint", extra={"bytes": size, "messages": self.messages})
        return True

    def run(self, pipeline: Pipeline, stop: threading.Event, poll_ms: int = 500,
            on_batch: Callable[[int], None] | None = None, idle_exit_s: float | None = None,
            state_dir: str | None = None, checkpoint_every: int = 5000) -> None:
        """Consume until ``stop`` is set (or idle for ``idle_exit_s``); leave everything committed."""
        c = self.consumer
        # kafka-python 3.0.12 can lose its first group join when it subscribes before it knows the
        # topic's partitions and a short poll expires mid-join (then it polls nothing forever);
        # fetching the topic metadata first avoids that race.
        c.partitions_for_topic(self.topic)
        idle_polls, idle_limit = 0, (None if idle_exit_s is None else max(1, int(idle_exit_s * 1000 / poll_ms)))
        since_ckpt = 0
        while not stop.is_set():
            batch = c.poll(timeout_ms=poll_ms)
            if not batch:
                idle_polls += 1
                if state_dir and since_ckpt and self._checkpoint(pipeline, state_dir, stop):
                    since_ckpt = 0                  # quiet moment: progress made durable
                if idle_limit is not None and idle_polls >= idle_limit:
                    log.info("no messages for a while, exiting (--exit-when-idle)", extra={"seconds": idle_exit_s})
                    break
                continue
            idle_polls = 0
            tps = sorted(batch, key=lambda t: (t.topic, t.partition))
            # the whole poll in one call, partitions in order (as one by one): detectors
            # with a ``prepare`` hook see up to max_poll_records events at once
            pipeline.process_batch([
                (m.value, {"topic": tp.topic, "partition": tp.partition, "offset": m.offset})
                for tp in tps for m in batch[tp] if m.value is not None])
            batch_offsets: dict[tuple[str, int], int] = {}
            n = 0
            for tp in tps:
                msgs = batch[tp]
                n += len(msgs)
                nxt = msgs[-1].offset + 1
                batch_offsets[(tp.topic, tp.partition)] = nxt
                hw = c.highwater(tp)
                if hw is not None:
                    with self._lock:
                        self._lag[(tp.topic, tp.partition)] = max(0, hw - nxt)
            self.positions.update(batch_offsets)
            self.batches += 1
            self.messages += n
            if state_dir:
                since_ckpt += n
                if since_ckpt >= checkpoint_every and self._checkpoint(pipeline, state_dir, stop):
                    since_ckpt = 0
            elif self._flush(pipeline, stop):    # alerts + dead letters durable first ...
                self._commit(self.positions)     # ... then the offsets that they cover
            if on_batch:
                on_batch(n)
        if state_dir and (since_ckpt or not self.checkpoints):
            flushed = self._checkpoint(pipeline, state_dir, stop)
        else:
            flushed = self._flush(pipeline, stop)
            if flushed:
                self._commit(self.positions)
        if flushed:
            self._final_commit()

    @property
    def connected(self) -> bool:
        """True while the consumer holds at least one open broker connection; read at scrape
        time (the run loop may be blocked in a flush retry during an outage). kafka-python
        3.0.12's ``bootstrap_connected()`` is only true *during* bootstrap, so look at the
        client's connections (private API; falls back to bootstrap_connected())."""
        try:
            conns = list(self.consumer._client._manager._conns.values())
        except (AttributeError, RuntimeError):
            return bool(self.consumer.bootstrap_connected())
        return any(getattr(x, "connected", False) for x in conns)

    def _final_commit(self, attempts: int = 20) -> None:
        """On the way out, make sure the last commit landed: while the group is
        rebalancing, let the consumer finish joining (poll) and try again. Records
        fetched by those polls are not processed and their offsets not committed."""
        for _ in range(attempts):
            if not self.commit_failures or self._commit(self.positions):
                return
            self.consumer.poll(timeout_ms=500)
        log.error("could not commit the final offsets; the next start re-reads from the last commit "
                  "(or from the checkpoint with --state-dir)")

    def close(self) -> None:
        try:
            self.consumer.close(autocommit=False)
        except Exception:  # closing must never mask the real exit reason
            log.exception("error closing consumer")


class _SeekOnAssign(ConsumerRebalanceListener):
    """On assignment, start each partition where the restored checkpoint left off."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    def on_partitions_revoked(self, revoked) -> None:
        pass

    def on_partitions_assigned(self, assigned) -> None:
        for tp in assigned:
            off = self.source._resume.get((tp.topic, tp.partition))
            if off is not None:
                self.source.consumer.seek(tp, off)
