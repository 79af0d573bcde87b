"""Pause Python's cyclic garbage collector around one batch of work.

Why this module exists: the pipeline works a batch at a time (a Kafka poll, a
1,000-line chunk of a replay), and a batch keeps ~1000 messages, their parsed
events and outputs alive until it is done. With the collector on, the
young-generation collections that the batch's own allocations trigger find those
objects alive and promote them towards the old generation, and every promotion
brings the next *full* collection closer -- a walk over every object of the
detectors' state (hundreds of thousands of keys). Measured through 1000-record
batches: ~15-17 us per event spent in full collections, against ~1 us per event
when events are processed one at a time (bench/kafka_e2e.py, bench/ingest.py).

Paused for the batch, the batch's objects are freed by reference counting
before the collector runs again; detector state made during the batch is
collected (young generation first, as usual) at the first allocation after the
pause. Only reference cycles created during a batch wait that long, and a batch
is bounded (``--max-poll-records``, the replay chunk), so memory stays bounded.
Detection never depends on it: the same alerts with the collector on or off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic garbage collection inside; the previous state is restored after,
    also on error, and nesting is harmless (an inner pause leaves it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
