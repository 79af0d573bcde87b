"""Kafka at the edge: the consumer-group source and its run loop (the producer
sinks are in ``streamer.kafka_sink``).

At-least-once: every polled batch goes through the pipeline and its outputs
are handed to the producer at once (``_send_outputs``: alerts on write, the
batch's scored lines as one message); offsets are committed only after every
sink has been flushed (alerts and dead letters acknowledged by the broker,
files fsynced). A crash between flush and commit re-delivers what the commit
did not cover; the pipeline's event-id memory and the deterministic alert
ids make that harmless.

Commit interval: flush + commit cost two broker round trips on the loop's
thread (the producer's acks, then the OffsetCommit) during which nothing is
processed: per 1000-event batch, 4-7 us per event of waiting for each
(bench/kafka_e2e.py, busy 2-core machine), ~5 % of the loop. So while the consumer is *behind* (the batch did not reach
the partition's high watermark) flush + commit happen at most every
``commit_interval_ms`` (default 1000; Kafka Streams' at-least-once default is
30 s); once it has *caught up* (lag 0), on an idle poll and on stop they
happen after every batch as before, so a live stream's offsets stay current.
The outputs are not delayed by this (they are sent per batch), only the
durability point: a crash or a rebalance re-delivers at most about one
interval of already processed messages.

Garbage collection: each batch (poll, pipeline, send) runs with the automatic
collector paused (``gc_paused``), which takes ~15 us per event of full
collections out of a 1000-record batch.

A failing sink (alerts topic unavailable, broker down) does not crash the
loop: the loop commits nothing, counts the failure
(``KafkaSource.flush_failures``), backs off (0.5 s doubling up to 30 s, woken
by the stop event) and flushes again, which re-sends the kept records;
consumption pauses meanwhile. A sink that had to drop records
(``SinkOverflowError``) ends the loop without committing or checkpointing
(details in ``streamer.kafka_sink``).

Fetch process (``fetch_process=True``, ``surgewatch run --fetch-process``):
kafka-python decodes fetched records in pure Python, ~7-10 us per event of the
loop thread's CPU that the GIL keeps from overlapping with detection. With a
fetch process a child process owns the consumer (group membership, fetch,
commit) and fetches one batch ahead while this loop runs the pipeline; the
loop is the same, only its consumer is ``FetchProcessConsumer`` instead of
``GroupConsumer`` (``streamer.kafka_fetch``). Commits are still the loop's
decision, sent to the child and answered with success or the KafkaError. A
batch fetched ahead for a partition revoked meanwhile is processed anyway:
a re-delivery at-least-once allows and the event-id memory absorbs. A child
that dies raises ``FetchProcessError`` out of ``run`` (nothing further is committed).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError

from streamer import checkpoint
from streamer.config import KafkaSettings
from streamer.gcpause import gc_paused  # re-exported: it lived here first
from streamer.kafka_consumer import GroupConsumer, PartitionBatch
from streamer.kafka_fetch import FetchProcessConsumer, FetchProcessError
from streamer.kafka_sink import KafkaLinesSink, KafkaSink, SinkFlushError, SinkOverflowError, make_producer
from streamer.pipeline import Pipeline

# the sinks are re-exported: ``from streamer.kafka_io import KafkaSink`` predates kafka_sink
__all__ = ["FetchProcessError", "KafkaLinesSink", "KafkaSink", "KafkaSource", "SinkFlushError", "SinkOverflowError",
           "gc_paused", "make_producer"]

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


class KafkaSource:
    """A consumer-group reader that feeds a Pipeline batch by batch.

    Without a state directory the sinks are flushed and the offsets committed after
    a batch that caught up with the partitions, on idle and on stop, and while
    catching up at most every ``commit_interval_ms`` (see the module docstring).
    With ``state_dir`` the pipeline state is restored at start, each assigned
    partition is sought to the checkpoint's offset, and offsets are committed
    only right after a checkpoint that covers them has been written.
    ``fetch_process`` moves the consumer into a child process (module docstring).
    """

    def __init__(self, settings: KafkaSettings, topic: str, group: str, *,
                 session_timeout_ms: int = 10000, max_poll_records: int = 1000,
                 auto_offset_reset: str = "earliest", commit_interval_ms: int = 1000,
                 fetch_process: bool = False) -> None:
        if not native_crc32c():
            log.warning("the crc32c package is missing: kafka-python falls back to a pure-Python CRC-32C "
                        "(~8x slower consume); pip install crc32c")
        kw = settings.client_kwargs()
        heartbeat = max(1000, session_timeout_ms // 3)
        kw.update(group_id=group, enable_auto_commit=False, auto_offset_reset=auto_offset_reset,
                  session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat,
                  max_poll_records=max_poll_records)
        self.consumer: GroupConsumer | FetchProcessConsumer = (
            FetchProcessConsumer(kw) if fetch_process else GroupConsumer(kw))
        self.topic = topic
        self.commit_interval = commit_interval_ms / 1000   # seconds; 0 = after every batch
        self.commits = 0
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
            self.consumer.commit(offsets)
        except KafkaError as e:
            if not (e.retriable or isinstance(e, (CommitFailedError, RebalanceInProgressError))):
                raise
            self.commit_failures += 1
            log.warning("offset commit deferred", extra={"reason": type(e).__name__})
            return False
        self.commit_failures = 0
        self.commits += 1
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
        """Consume until ``stop`` is set (or idle for ``idle_exit_s``); leave everything committed.
        Raises ``FetchProcessError`` if the fetch process dies (nothing more is committed)."""
        self.consumer.subscribe(self.topic, self._resume)   # each assigned partition starts at _resume
        idle_polls, idle_limit = 0, (None if idle_exit_s is None else max(1, int(idle_exit_s * 1000 / poll_ms)))
        since_ckpt = 0
        uncommitted = False               # positions advanced since the last flush + commit
        last_commit = time.monotonic()
        while not stop.is_set():
            with gc_paused():
                got = self._poll_and_process(pipeline, poll_ms)
            if got is None:
                idle_polls += 1
                if state_dir and since_ckpt and self._checkpoint(pipeline, state_dir, stop):
                    since_ckpt = 0                  # quiet moment: progress made durable
                elif uncommitted and self._flush_commit(pipeline, stop):
                    uncommitted, last_commit = False, time.monotonic()
                if idle_limit is not None and idle_limit <= idle_polls:
                    log.info("no messages for a while, exiting (--exit-when-idle)", extra={"seconds": idle_exit_s})
                    break
                continue
            idle_polls = 0
            n, behind = got
            if state_dir:
                since_ckpt += n
                if since_ckpt >= checkpoint_every and self._checkpoint(pipeline, state_dir, stop):
                    since_ckpt = 0
            else:
                uncommitted = True
                now = time.monotonic()
                if (not behind or now - last_commit >= self.commit_interval) and self._flush_commit(pipeline, stop):
                    uncommitted, last_commit = False, now
            if on_batch:
                on_batch(n)
        if state_dir and (since_ckpt or not self.checkpoints):
            flushed = self._checkpoint(pipeline, state_dir, stop)
        else:
            flushed = self._flush_commit(pipeline, stop)
        if flushed:
            self._final_commit()

    def _poll_and_process(self, pipeline: Pipeline, poll_ms: int) -> tuple[int, bool] | None:
        """Poll once; run the batch through the pipeline and hand its outputs to the
        producer. None if the poll was empty, else ``_advance``'s (messages, behind).
        The polled records die when this returns (see ``gc_paused``)."""
        batch = self.consumer.poll(poll_ms)
        if not batch:
            return None
        # the whole poll in one call, partitions in order (as one by one): detectors
        # with a ``prepare`` hook see up to max_poll_records events at once
        pipeline.process_batch([
            (value, {"topic": part.topic, "partition": part.partition, "offset": offset})
            for part in batch for offset, value in zip(part.offsets, part.values) if value is not None])
        self._send_outputs(pipeline)
        return self._advance(batch)

    def _advance(self, batch: list[PartitionBatch]) -> tuple[int, bool]:
        """Record the batch's next offsets in ``positions`` and the partitions' lag;
        return (messages, behind): behind = some partition's high watermark (as of
        the last fetch response) is past the batch, i.e. more is waiting."""
        n, behind = 0, False
        for part in batch:
            n += len(part.offsets)
            nxt = part.offsets[-1] + 1
            self.positions[(part.topic, part.partition)] = nxt
            hw = part.highwater
            if hw is not None:
                behind = behind or hw > nxt
                with self._lock:
                    self._lag[(part.topic, part.partition)] = max(0, hw - nxt)
        self.batches += 1
        self.messages += n
        return n, behind

    @staticmethod
    def _send_outputs(pipeline: Pipeline) -> None:
        """Let buffering sinks (the scored topic's NDJSON packer) send the batch's records
        now, without waiting for acks: outputs leave per batch even when the next
        flush + commit is up to ``commit_interval_ms`` away."""
        for s in (*pipeline.alert_sinks, *pipeline.dead_letter_sinks, *pipeline.scored_sinks):
            if isinstance(s, KafkaSink):
                s.send()

    def _flush_commit(self, pipeline: Pipeline, stop: threading.Event) -> bool:
        """Alerts, dead letters and scored records durable first, then the offsets they cover."""
        if not self._flush(pipeline, stop):
            return False
        self._commit(self.positions)
        return True

    @property
    def connected(self) -> bool:
        """True while the consumer holds at least one open broker connection; read at scrape
        time (the run loop may be blocked in a flush retry during an outage)."""
        return self.consumer.connected

    def _final_commit(self, attempts: int = 20) -> None:
        """On the way out, make sure the last commit landed: while the group is
        rebalancing, let the consumer finish joining (poll) and try again. Records
        fetched by those polls are not processed and their offsets not committed."""
        for _ in range(attempts):
            if not self.commit_failures or self._commit(self.positions):
                return
            self.consumer.poll(500)
        log.error("could not commit the final offsets; the next start re-reads from the last commit "
                  "(or from the checkpoint with --state-dir)")

    def close(self) -> None:
        try:
            self.consumer.close()      # without autocommit: the loop committed what it processed
        except Exception:  # closing must never mask the real exit reason
            log.exception("error closing consumer")

