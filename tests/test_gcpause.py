"""The cyclic collector is paused around a batch, and only around it."""
from __future__ import annotations

import gc

import orjson
import pytest

from streamer.gcpause import gc_paused
from streamer.pipeline import Pipeline
from streamer.testing import TEST_PSEUDO, MemorySink, raw_event


def test_gc_paused_pauses_the_collector_and_restores_its_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            raise RuntimeError("a failing batch")
    assert gc.isenabled()
    gc.disable()                     # a caller that runs without the collector keeps it off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


class CollectorWatcher:
    """Records whether the collector was on at each update."""

    name = "watcher"

    def __init__(self) -> None:
        self.enabled: list[bool] = []

    def update(self, event):
        self.enabled.append(gc.isenabled())
        return []

    def stats(self):
        return {}


def test_process_batch_runs_the_detectors_with_the_collector_paused_and_process_does_not():
    w = CollectorWatcher()
    p = Pipeline([w], TEST_PSEUDO, alert_sinks=[MemorySink()], dead_letter_sinks=[MemorySink()])
    p.process_batch([(orjson.dumps(raw_event(ts=i / 60)), None) for i in range(5)])
    assert w.enabled == [False] * 5 and gc.isenabled()
    p.process(orjson.dumps(raw_event(ts=1.0)))
    assert w.enabled[-1] is True
