"""The fetch process: ``KafkaSource``'s consumer in a child process (the in-thread one is ``streamer.kafka_consumer``).

``KafkaSource.run`` makes five calls on its consumer -- ``subscribe``, ``poll``,
``commit``, ``connected``, ``close`` -- and two classes answer them:

* ``GroupConsumer``: kafka-python's ``KafkaConsumer`` in the calling thread (the
  loop as it always was);
* ``FetchProcessConsumer``: the same ``GroupConsumer`` in a child process, so
  that decoding the fetched records overlaps with detection on a second core.

Why a process: kafka-python 3.0.12 decodes record batches in pure Python
(``_unpack_records``, ``default_records._read_msg``, ``decode_varint``), 7-10 us
of the loop thread's CPU per event (bench/kafka_e2e.py), and the GIL keeps a
thread from overlapping it with the detectors. The child owns the consumer
(group membership, fetch, commit) and hands the parent each poll as a list of
``PartitionBatch``: plain lists of offsets and value bytes, which pickle at
~0.5 us per 450-byte event in the child and unpickle at ~0.2 us in the parent
(never ConsumerRecord objects); the parent's whole poll costs ~0.6 us per event
of its CPU instead of 7-10. The child fetches at most ONE batch ahead (credit:
the next only after the parent took the last), so memory stays bounded by
kafka-python's own fetch buffer plus one batch; once caught up it polls only
when asked, so an idle stream costs what in-thread polling costs.

Guarantees are the loop's (``streamer.kafka_io``): the parent decides what to
commit and when; the child commits exactly the offsets it is sent and answers
success, or the KafkaError, which the loop treats as it always has (retriable
and rebalance errors defer the commit). Checkpoint offsets go to the child
with ``subscribe`` and are sought on assignment, as in-thread.
Re-delivery: a batch fetched ahead for a partition that a rebalance then
revokes is still processed, and the new owner reads those records again from
the last commit -- at-least-once allows it, and the pipeline's event-id memory
drops the duplicates.

The child is started with the ``spawn`` method (forking a process that runs
kafka-python's I/O threads is unsafe; as with any spawn, a script that builds a
``KafkaSource(fetch_process=True)`` needs the ``if __name__ == "__main__"``
guard), runs at nice +5 (``_child_main`` says why), ignores SIGINT/SIGTERM (the
parent drains, commits and then closes it: ``close`` without autocommit), and
exits when the parent goes away (its pipe end closes). A child that dies or
stops answering makes every call raise ``FetchProcessError``; the loop never
hangs.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
import traceback

from kafka.errors import KafkaError

# GroupConsumer runs in the child; PartitionBatch and pack are re-exported for this module's callers
from streamer.kafka_consumer import GroupConsumer, Offsets, PartitionBatch, pack

__all__ = ["FetchProcessConsumer", "FetchProcessError", "GroupConsumer", "PartitionBatch", "pack"]

log = logging.getLogger("surgewatch.kafka")


class FetchProcessError(RuntimeError):
    """The fetch process died, failed or stopped answering."""


class FetchProcessConsumer:
    """``GroupConsumer``'s calls answered by a child process that owns the consumer.

    Two one-way pipes: requests go down, batches and replies come up. While records are
    waiting (a backlog) the child pushes a batch as soon as it has fetched one, into a pipe
    buffer large enough to hold it (``_widen``), so a poll reads a batch already there
    without waiting for the child to be scheduled (on a busy machine each wake-up costs
    milliseconds). Credit keeps it ONE batch ahead: it fetches the next batch only after the
    parent took the last. Once caught up (a fetch ahead found nothing) it stops polling and
    waits to be asked: a poll that finds no batch sends ``wait`` and the child polls for
    that long -- so idle costs what in-thread polling costs, and a commit is answered at
    once instead of after a poll. Every wait checks, every ``_TICK_S``, that the child is
    alive; a dead child or one silent past a call's deadline raises ``FetchProcessError``
    (a commit may take kafka-python's request_timeout_ms, so deadlines are generous)."""

    _TICK_S = 0.25
    START_S, COMMIT_S, CLOSE_S = 120.0, 120.0, 30.0

    def __init__(self, consumer_kwargs: dict, log_level: str | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        req_end, self._req = ctx.Pipe(duplex=False)    # requests: parent -> child
        self._out, out_end = ctx.Pipe(duplex=False)    # batches and replies: child -> parent
        _widen(out_end)
        self._connected = ctx.Value("b", 0, lock=False)   # written by the child, read at scrape time
        level = log_level or logging.getLevelName(logging.getLogger().level)
        self._proc = ctx.Process(target=_child_main, name="surgewatch-fetch", daemon=True,
                                 args=(req_end, out_end, consumer_kwargs, self._connected, level))
        self._proc.start()
        req_end.close()      # only the child holds these ends: its death reads as EOF here
        out_end.close()
        self._ready: list[PartitionBatch] | None = None   # a batch that came while waiting for a reply
        self._closed = False
        self._wait_seq = 0   # numbers ``wait`` requests: a late "empty" answer to an old one is ignored
        self._receive("reply", self.START_S, "start")

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def subscribe(self, topic: str, resume: Offsets) -> None:
        self._send(("subscribe", topic, dict(resume)), "subscribe")
        self._receive("reply", self.START_S, "subscribe")

    def poll(self, timeout_ms: int) -> list[PartitionBatch]:
        """The batch fetched ahead, else the first to arrive within ``timeout_ms`` (else [])."""
        batch, self._ready = self._ready, None
        if batch is None:
            batch = self._receive("batch", 0.0, "poll")          # already in the pipe?
        if batch is None:
            self._wait_seq += 1
            self._send(("wait", self._wait_seq, timeout_ms), "poll")
            batch = self._receive("batch", timeout_ms / 1000 + self.START_S, "poll", self._wait_seq)
        if batch:
            self._send(("more",), "poll")    # credit: the child may fetch the next batch now
        return batch or []

    def commit(self, offsets: Offsets) -> None:
        """Commit in the child; raises the KafkaError of a failed commit, as in-thread."""
        self._send(("commit", dict(offsets)), "commit")
        self._receive("reply", self.COMMIT_S, "commit")

    @property
    def connected(self) -> bool:
        return bool(self._connected.value) and self._proc.is_alive()

    def close(self) -> None:
        """Ask the child to close its consumer (no autocommit) and exit; kill it if it does not."""
        if self._closed:
            return
        self._closed = True
        try:
            self._req.send(("close",))
        except OSError:
            pass            # already gone
        deadline = time.monotonic() + self.CLOSE_S
        while self._proc.is_alive() and time.monotonic() < deadline:
            try:            # drain: a child blocked writing a batch larger than the pipe must finish
                if self._out.poll(self._TICK_S):
                    self._out.recv()
            except (EOFError, OSError):
                break
        self._proc.join(5)
        if self._proc.is_alive():
            log.error("fetch process did not exit, killing it", extra={"pid": self._proc.pid})
            self._proc.kill()
            self._proc.join(5)
        self._req.close()
        self._out.close()

    def _send(self, request: tuple, what: str) -> None:
        if self._closed:
            raise FetchProcessError("the fetch process is closed")
        try:
            self._req.send(request)
        except OSError:
            raise self._dead(what) from None

    def _receive(self, kind: str, timeout_s: float, what: str, wait_seq: int | None = None):
        """The next ``kind`` message's value. "batch": the batch, or None once the child answered
        ``wait`` number ``wait_seq`` with "empty" (without ``wait_seq``: None after ``timeout_s``,
        a peek). "reply": the value, or the child's exception raised. A batch that arrives while
        waiting for a reply is kept for the next poll; past ``timeout_s`` the child is killed."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if self._out.poll(max(0.0, min(self._TICK_S, left))):
                try:
                    tag, value = self._out.recv()
                except (EOFError, OSError):
                    raise self._dead(what) from None
                if tag == "batch" and kind == "batch":
                    return value
                if tag == "batch":
                    self._ready = value           # at most one: the child waits for credit
                elif tag == "empty":
                    if kind == "batch" and value == wait_seq:
                        return None
                elif tag == "ok":
                    return value
                elif tag == "error":              # a KafkaError (or what the consumer raised on start)
                    raise value
                else:
                    raise FetchProcessError(f"the fetch process failed during {what!r}:\n{value}")
            elif not self._proc.is_alive():
                raise self._dead(what)
            elif left <= 0:
                if kind == "batch" and wait_seq is None:
                    return None
                self._proc.kill()
                raise FetchProcessError(f"the fetch process did not answer {what!r} within {timeout_s:.0f} s; killed it")

    def _dead(self, what: str) -> FetchProcessError:
        self._proc.join(1)
        return FetchProcessError(f"the fetch process (pid {self._proc.pid}) exited with code {self._proc.exitcode} "
                                 f"during {what!r}; offsets are committed only up to what was processed")


def _widen(conn, size: int = 1 << 20) -> None:
    """Let the child's pipe hold ``size`` bytes (a 1,000-event batch of 450-byte events pickles
    to ~0.5 MB; Linux's default is 64 KiB), so the child writes a whole batch without waiting
    for the parent to read. Best effort: elsewhere, or above /proc/sys/fs/pipe-max-size, a
    smaller buffer only means the child's send waits for the parent."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError):
        pass


# -- the child ------------------------------------------------------------------------------------
# A fetch ahead waits PREFETCH_MS for records: with a backlog the broker answers a fetch at once, so
# finding none means the consumer has caught up. A batch is assembled from polls of at most CHUNK
# records (decoding 250 takes ~3 ms), between which requests are served: a commit does not wait
# for a whole batch to be decoded.
# While the group (re)joins, polls wait JOIN_POLL_MS, so that one poll usually completes the join:
# kafka-python 3.0.12 leaves a join that a short poll started and timed out on unfinished in one
# case (a leader's rejoin after a metadata change, which follows every start), and then fetches
# nothing; GroupConsumer._finish_stranded_join repairs that before the next poll, and the 0 and
# 25 ms polls below made it common (bench/fetch_stall.py: 15 stalls in 128 starts under load).
PREFETCH_MS, CHUNK, JOIN_POLL_MS, CHILD_NICE = 25, 250, 3000, 5


def _child_main(req, out, consumer_kwargs: dict, connected, log_level: str) -> None:
    """Entry point of the fetch process: own a GroupConsumer and serve the parent's requests."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the parent drains and then closes us
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Lower priority: on a CPU shared with other work the child must not preempt the detectors'
    # thread (measured on a busy 2-core machine: at equal priority the parent's per-event CPU rose
    # by about what the child saved it, from cache pollution; at +5 it fell 7-10 us). With a
    # free core it changes nothing.
    try:
        os.nice(CHILD_NICE)
    except (AttributeError, OSError):
        pass
    from streamer.logs import setup_logging

    setup_logging(log_level)
    try:
        consumer = GroupConsumer(consumer_kwargs)
    except Exception as e:
        out.send(("error", _picklable(e)))
        return
    out.send(("ok", None))
    try:
        _serve(req, out, consumer, connected, consumer_kwargs.get("max_poll_records", 500))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        log.error("the surgewatch process went away; the fetch process closes its consumer without committing")
    except Exception:
        log.exception("fetch process failed")
        try:
            out.send(("fatal", traceback.format_exc()))
        except OSError:
            pass
    finally:
        consumer.close()


def _serve(req, out, consumer: GroupConsumer, connected, batch_size: int) -> None:
    """Serve requests until ``close``; fetch ahead while the parent has credit and records keep
    coming; once caught up, poll only when asked (``wait``).

    Requests: ``subscribe`` (gives the first credit), ``more`` (the parent took a batch: one
    more credit), ``wait`` (the parent has no batch and waits: push one within its timeout or
    answer "empty"), ``commit`` (answered ok or with the KafkaError), ``close``. A batch holds
    at most ``batch_size`` records: what is buffered, else the first records to arrive (as a
    single in-thread poll)."""
    credit, caught_up = 0, False
    building: dict[tuple[str, int], PartitionBatch] = {}   # the batch being assembled, by partition
    size = 0

    def add(got: list[PartitionBatch]) -> None:
        nonlocal size
        for part in got:
            size += len(part.offsets)
            have = building.get((part.topic, part.partition))
            if have is None:
                building[(part.topic, part.partition)] = part
            else:
                have.offsets.extend(part.offsets)
                have.values.extend(part.values)
                building[(part.topic, part.partition)] = have._replace(highwater=part.highwater)

    def push() -> None:
        nonlocal credit, caught_up, size
        out.send(("batch", [building[k] for k in sorted(building)]))
        building.clear()
        credit, caught_up, size = credit - 1, False, 0

    while True:
        connected.value = consumer.connected
        if credit and not caught_up and not req.poll(0):
            # assembling: only what is buffered (timeout 0); starting: records within PREFETCH_MS
            timeout = JOIN_POLL_MS if consumer.joining else 0 if building else PREFETCH_MS
            got = consumer.poll(timeout, min(CHUNK, batch_size - size))
            add(got)
            if building and (not got or size >= batch_size):
                push()
            elif not got:
                caught_up = True
            continue
        if not req.poll(FetchProcessConsumer._TICK_S):
            continue
        op, *args = req.recv()
        if op == "more":
            credit += 1
        elif op == "wait":
            seq, timeout_ms = args
            if credit and not building:
                add(consumer.poll(JOIN_POLL_MS if consumer.joining else timeout_ms, batch_size))
            if credit and building:
                push()
            else:       # nothing came, or a batch is already on its way (no credit)
                out.send(("empty", seq))
        elif op == "commit":
            try:
                consumer.commit(args[0])
            except KafkaError as e:
                out.send(("error", _picklable(e)))
            else:
                out.send(("ok", None))
        elif op == "subscribe":
            consumer.subscribe(*args)
            credit = 1
            out.send(("ok", None))
        elif op == "close":
            return
        else:
            raise ValueError(f"unknown request {op!r}")


def _picklable(e: BaseException) -> BaseException:
    """``e`` if it survives pickling, else a KafkaError (or RuntimeError) carrying its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        if not isinstance(e, KafkaError):
            return RuntimeError(f"{type(e).__name__}: {e}")
        err = KafkaError(f"{type(e).__name__}: {e}")
        err.retriable = e.retriable     # the loop defers retriable commit errors
        return err
