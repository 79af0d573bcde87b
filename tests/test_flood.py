"""Bounded memory under attack: a flood of distinct fake agents and random texts.

Every detector is capped at ``max_keys`` tracked keys (``surgewatch --max-keys``);
the coldest state is evicted and every eviction is counted, so the state --
and the checkpoint -- stay flat however many distinct keys arrive.
(``bench/memory.py`` measures bytes per key and RSS up to a million keys.)
"""
from __future__ import annotations

import pickle
import random

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from streamer.cli import build_pipeline
from streamer.metrics import PipelineCollector
from streamer.testing import TEST_PSEUDO, MemorySink, raw_event

CAP = 500
HANZI = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def flood(n: int, start: int, rng: random.Random):
    for i in range(start, start + n):
        text = "".join(rng.choice(HANZI) for _ in range(90)) if i % 10 == 0 else None
        yield orjson.dumps(raw_event(
            event_id=f"f{i}", ts=i / 600, complainant=f"F{i}", institution=f"inst-{i % 40}",
            channel="letter" if text else "hotline", category="collection",
            contacts=[("phone", f"170{i:08d}", "representative"), ("address", f"某省某市某路{i}号", "unknown")],
            text=text))


class _Args:
    max_keys = CAP


def test_flood_of_distinct_keys_keeps_state_flat_and_counts_evictions():
    rng = random.Random(9)
    p = build_pipeline(TEST_PSEUDO, [MemorySink()], [MemorySink()], _Args())
    for raw in flood(12_000, 0, rng):
        p.process(raw)
    size_1 = len(pickle.dumps((p.detectors, p.episodes)))
    for raw in flood(24_000, 12_000, rng):
        p.process(raw)
    size_2 = len(pickle.dumps((p.detectors, p.episodes)))
    for det in p.detectors:
        st = det.stats()
        assert st["tracked_keys"] <= CAP, det.name
    evicted = {d.name: d.stats().get("evicted_total", 0) for d in p.detectors}
    assert evicted["agent_surge"] > 36_000 - CAP            # every cold fake agent went
    assert evicted["template_surge"] > 3_600 - 2 * CAP       # and every cold fake template
    assert size_2 < 1.2 * size_1 + 200_000, (size_1, size_2)  # flat: triple the keys, same state
    reg = CollectorRegistry()
    reg.register(PipelineCollector(p))
    text = generate_latest(reg).decode()
    assert f'surgewatch_detector_evictions_total{{detector="agent_surge"}} {float(evicted["agent_surge"])}' in text
