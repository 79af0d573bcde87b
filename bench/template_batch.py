#!/usr/bin/env python3
"""template_surge alone: ``update`` per event against ``prepare`` per chunk then ``update``.

    python bench/template_batch.py                                  # simulated default/hard/holdout, seed 1
    python bench/template_batch.py --streams mixed,letters400,letters1k --runs 5

The detector's share of ``bench/throughput.py``, isolated: the events are
parsed once (``streamer.contract.parse`` with the dev pseudonymisation key),
then each run feeds a fresh detector either one event at a time (``process``,
``replay --batch 1``), or ``prepare(chunk)`` and ``update`` for each event of
every ``--chunk``-event chunk (what ``Pipeline.process_batch`` does per Kafka
poll or replay chunk). Reported: the minimum process-CPU microseconds per
event over ``--runs`` (on a shared machine the minimum is the least disturbed
run), and whether both ways gave the same findings and surprises (they must).

Streams: ``default``/``hard``/``holdout`` are simulated (``--seed``) as by
``surgewatch simulate``; ``mixed``/``letters400``/``letters1k`` are built as in
``bench/throughput.py``.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import orjson  # noqa: E402

from detectors.template_surge import TemplateSurge  # noqa: E402
from detectors.textmask import mask  # noqa: E402
from streamer.contract import InvalidEvent, parse  # noqa: E402
from streamer.pseudonym import DEV_KEY, Pseudonymizer  # noqa: E402


def load(name: str, seed: int) -> list:
    if name in ("mixed", "letters400", "letters1k"):
        docs = {"mixed": lambda: C.mixed_docs(), "letters400": lambda: C.letter_docs(3000, chars=400),
                "letters1k": lambda: C.letter_docs(3000, chars=1000)}[name]()
        raws = [orjson.dumps(d) for d in docs]
    else:
        from streamer.simulate import simulate
        raws = [orjson.dumps(d) for d in simulate(name, seed)[0]]
    pseudo = Pseudonymizer(DEV_KEY)
    out = []
    for raw in raws:
        try:
            out.append(parse(raw, pseudo))
        except (InvalidEvent, ValueError):
            pass  # the pipeline dead-letters these
    return out


def run(events: list, chunk: int | None) -> tuple[float, list]:
    """(CPU seconds, per-event findings and surprises) of a fresh detector over ``events``."""
    det = TemplateSurge()
    mask.cache_clear()  # every run masks afresh
    out = []
    gc.collect()
    t0 = time.process_time()
    step = chunk or len(events)
    for i in range(0, len(events), step):
        part = events[i:i + step]
        if chunk:
            det.prepare(part)
        for e in part:
            out.append((det.update(e), det.surprises()))
    dt = time.process_time() - t0
    return dt, [([dataclasses.asdict(f) for f in fs], [dataclasses.asdict(s) for s in ss]) for fs, ss in out]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1, help="simulator seed of the default/hard/holdout streams")
    ap.add_argument("--streams", default=None, type=lambda s: [x for x in s.split(",") if x])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=1000, help="events per prepare() (a Kafka poll)")
    args = ap.parse_args(argv)
    streams = args.streams or ["default", "hard", "holdout"]
    for name in streams:
        events = load(name, args.seed)
        res = {}
        for label, chunk in (("update", None), (f"prepare/{args.chunk}", args.chunk)):
            best, out = float("inf"), None
            for _ in range(args.runs):
                dt, out = run(events, chunk)
                best = min(best, dt)
            res[label] = (best, out)
            print(f"{name:10s} {label:14s} {len(events):6d} events  {best / len(events) * 1e6:7.1f} us/event (CPU, min of {args.runs})")
        (a, fa), (b, fb) = res.values()
        n = sum(len(f) for f, _ in fa)
        print(f"{name:10s} same findings and surprises: {fa == fb} ({n} findings); batch/update time {b / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
