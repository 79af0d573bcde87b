"""Stall hunter for the fetch process's poll pattern (issue #6): loop many short consumes of a
backlog and report any that stop short of the end.

Each iteration makes a fresh 1-partition topic, produces ``--messages`` ~450-byte records (in
``--steps`` producer flushes, as the tests do), and consumes them in a new consumer group:

* ``--mode thread``: a ``GroupConsumer`` in this thread polled the way the fetch process's child
  polls (``_serve``): a 25 ms poll for the first chunk, then ``poll(0)`` chunks of 250 until a
  batch of 1000 or an empty poll, then idle for a simulated parent's processing time. No pipes,
  no second process: a stall here is kafka-python's.
* ``--mode process``: the real ``FetchProcessConsumer`` (child + pipes), its parent polling with
  500 ms timeouts and burning ``--us-per-event`` of CPU per event, as ``KafkaSource.run`` does.

A stall: the consumer is short of the end and nothing has arrived for ``--stall-s`` seconds. In
thread mode the fetcher's state is printed then (what is buffered, what is in flight, positions)
and the ``kafka.consumer.fetcher`` DEBUG log of the next polls. Run it beside CPU burners
(``python -c 'while 1: pass'``) to reproduce the loaded machine.

    PYTHONPATH=$PWD python bench/fetch_stall.py --bootstrap-servers 127.0.0.1:29392 --mode thread --iterations 50
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import random
import sys
import time
import uuid

import orjson
from kafka import KafkaProducer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _kafka import create_topics  # noqa: E402

from streamer.kafka_consumer import GroupConsumer  # noqa: E402

PAYLOAD = "x" * 380


def produce(bootstrap: str, topic: str, n: int, steps: int) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    per = -(-n // steps)
    for i in range(n):
        p.send(topic, orjson.dumps({"event_id": f"e-{i}", "text": PAYLOAD}))
        if (i + 1) % per == 0:
            p.flush()
    p.flush()
    p.close()


def consumer_kwargs(bootstrap: str, group: str) -> dict:
    return dict(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=6000, heartbeat_interval_ms=2000, max_poll_records=1000)


def fetcher_state(gc: GroupConsumer, tp: TopicPartition) -> dict:
    """What kafka-python's fetcher holds: buffered responses, the in-line records, pending nodes, futures."""
    c = gc.consumer
    f = c._fetcher
    sub = c._subscription
    st = sub.assignment.get(tp)
    nxt = f._next_partition_records
    return {
        "assigned": [str(x) for x in c.assignment()],
        "position": None if st is None else st.position,
        "highwater": c.highwater(tp),
        "fetchable": [str(x) for x in sub.fetchable_partitions()],
        "completed_fetches": [(str(x.topic_partition), x.fetched_offset) for x in list(f._completed_fetches)],
        "next_partition_records": None if nxt is None else (bool(nxt), getattr(nxt, "next_fetch_offset", None)),
        "paused": (list(f._paused_completed_fetches), list(f._paused_partition_records)),
        "pending_nodes": sorted(f._nodes_with_pending_fetch_requests),
        "fetch_futures": [(fut.is_done, fut.succeeded() if fut.is_done else None) for fut in list(f._fetch_futures)],
        "in_flight": f.in_flight_fetches(),
        "state": None if st is None else {"paused": st.paused, "pending_revocation": st._pending_revocation,
                                          "awaiting_validation": st.awaiting_validation,
                                          "awaiting_reset": st.awaiting_reset,
                                          "reconciled_epoch": st._current_leader_epoch},
        "cluster_leader_epoch": c._client.cluster.leader_epoch_for_partition(tp),
        "validation_task": _task(f._validation_task),
        "reset_task": _task(f._reset_task),
        "need_rejoin": c._coordinator.need_rejoin(),
        "sessions": {k: (v.next_metadata.session_id, v.next_metadata.epoch) for k, v in f._session_handlers.items()},
    }


def _task(t) -> str | None:
    if t is None:
        return None
    return f"done={t.is_done} " + (repr(getattr(t, "exception", None)) if t.is_done else "")


class _Ring(logging.Handler):
    """The last ``size`` kafka.coordinator / kafka.cluster log lines of an iteration (need_rejoin chatter dropped)."""

    def __init__(self, size: int = 200) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(relativeCreated)d %(threadName)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("kafka.coordinator", "kafka.cluster")) and "need_rejoin" not in record.msg:
            self.lines.append(self.format(record)[:600])


def run_thread(bootstrap: str, topic: str, n: int, stall_s: float, us_per_event: float, rng: random.Random) -> tuple[int, str | None]:
    ring = _Ring()
    for name in ("kafka.coordinator", "kafka.cluster"):
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).addHandler(ring)
    gc = GroupConsumer(consumer_kwargs(bootstrap, "g-" + uuid.uuid4().hex[:8]))
    gc.subscribe(topic, {})
    tp = TopicPartition(topic, 0)
    got, last = 0, time.monotonic()
    report = None
    try:
        while got < n:
            # the child's pattern: first chunk within 25 ms (3 s while joining), then poll(0) chunks
            size = 0
            parts = gc.poll(3000 if gc.joining else 25, 250)
            size += sum(len(p.offsets) for p in parts)
            while parts and size < 1000:
                parts = gc.poll(0, min(250, 1000 - size))
                size += sum(len(p.offsets) for p in parts)
            if size:
                got += size
                last = time.monotonic()
                time.sleep(size * us_per_event * rng.uniform(0.5, 1.5) / 1e6)   # the parent's turn
                continue
            if time.monotonic() - last > stall_s:
                report = "\n".join(["coordinator log before the stall:", *ring.lines, stall_report(gc, tp, got, n)])
                break
            time.sleep(rng.uniform(0, 0.3))     # a caught-up child waits for the parent's ``wait``
    finally:
        gc.close()
        for name in ("kafka.coordinator", "kafka.cluster"):
            logging.getLogger(name).removeHandler(ring)
    return got, report


def stall_report(gc: GroupConsumer, tp: TopicPartition, got: int, n: int) -> str:
    lines = [f"STALL at {got}/{n}: {fetcher_state(gc, tp)}"]
    handler = logging.StreamHandler(_Buf(lines))
    handler.addFilter(lambda r: "need_rejoin" not in r.getMessage())
    handler.setFormatter(logging.Formatter("%(relativeCreated)d %(threadName)s %(name)s %(message)s"))
    lg = logging.getLogger("kafka")
    lg.addHandler(handler)
    old = lg.level
    lg.setLevel(logging.DEBUG)
    recovered_at = None
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 15:     # does it ever recover on its own?
            parts = gc.poll(0, 250) or gc.poll(25, 250)
            if parts:
                recovered_at = time.monotonic() - t0
                break
            time.sleep(0.2)
    finally:
        lg.setLevel(old)
        lg.removeHandler(handler)
    lines.append(f"after: {fetcher_state(gc, tp)}")
    lines.append(f"recovered after {recovered_at:.1f} s more" if recovered_at is not None else "no recovery in 15 s")
    return "\n".join(lines[:400])


class _Buf:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, s: str) -> None:
        if s.strip():
            self.lines.append(s.rstrip())

    def flush(self) -> None:
        pass


def run_process(bootstrap: str, topic: str, n: int, stall_s: float, us_per_event: float) -> tuple[int, str | None]:
    from streamer.kafka_fetch import FetchProcessConsumer

    fc = FetchProcessConsumer(consumer_kwargs(bootstrap, "g-" + uuid.uuid4().hex[:8]), "warning")
    fc.subscribe(topic, {})
    got, last = 0, time.monotonic()
    report = None
    try:
        while got < n:
            batch = fc.poll(500)
            size = sum(len(p.offsets) for p in batch)
            if size:
                got += size
                last = time.monotonic()
                end = time.thread_time() + size * us_per_event / 1e6
                while time.thread_time() < end:      # the pipeline's CPU
                    pass
            elif time.monotonic() - last > stall_s:
                report = f"STALL at {got}/{n} (process mode; child pid {fc.pid}): " + _recovery(fc)
                break
    finally:
        fc.close()
    return got, report


def _recovery(consumer) -> str:
    """Whether a stalled consumer gets records again within 15 s: a slow start, or a real stall."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15:
        if consumer.poll(500):
            return f"recovered after {time.monotonic() - t0:.1f} s more"
    return "no recovery in 15 s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap-servers", required=True)
    ap.add_argument("--mode", choices=["thread", "process"], default="thread")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=4, help="producer flushes per topic")
    ap.add_argument("--stall-s", type=float, default=2.0)
    ap.add_argument("--us-per-event", type=float, default=50.0, help="simulated pipeline time per event")
    ap.add_argument("--nice", type=int, default=5, help="run at this niceness, as the child does")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.nice:
        os.nice(args.nice)
    rng = random.Random(args.seed)
    stalls = 0
    for i in range(args.iterations):
        topic = f"stall-{uuid.uuid4().hex[:10]}"
        create_topics(args.bootstrap_servers, [topic])
        produce(args.bootstrap_servers, topic, args.messages, args.steps)
        t0 = time.monotonic()
        if args.mode == "thread":
            got, report = run_thread(args.bootstrap_servers, topic, args.messages, args.stall_s, args.us_per_event, rng)
        else:
            got, report = run_process(args.bootstrap_servers, topic, args.messages, args.stall_s, args.us_per_event)
        stalls += report is not None
        print(f"iteration {i + 1}: {got}/{args.messages} in {time.monotonic() - t0:.1f} s"
              + ("" if report is None else "\n" + report), flush=True)
    print(f"{stalls} stalls in {args.iterations} iterations ({args.mode} mode)", flush=True)


if __name__ == "__main__":
    main()
