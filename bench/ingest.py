#!/usr/bin/env python3
"""CPU cost of the ingest path alone: decode, check (validate), to_event (pseudonymise).

    python bench/ingest.py                 # mixed stream, 7 rounds
    python bench/ingest.py --rounds 15 --stream hotline

The whole-pipeline breakdown in ``throughput.py`` wraps each stage in a timer
per event, which at a few microseconds per stage is mostly timer overhead and
noise. Here each stage runs over the whole pre-serialised stream in a tight
loop and is timed with ``time.process_time`` (CPU, not wall: the bench machine
is shared), so stage costs of 1-2 us are resolvable. Every round builds a
fresh ``Pseudonymizer``, as at process start; the median over rounds is
reported, with min..max to show the noise. Compare revisions A/B in the same
time window: on two shared cores the figures drift by 30 % within minutes.

The last stage, ``pipeline``, is different: the whole ``Pipeline.process_batch``
in 1,000-message batches with *no detectors* (null sinks, scored records on),
with the cyclic GC on as in production, so it is the parse stages above plus
the pipeline's own bookkeeping (de-duplication, counters, episodes, scored
record) and the garbage collections the batch causes; ``gc`` is the part of it
spent inside collections (``gc.callbacks``). The stages above run with the GC
off, so ``pipeline`` minus their sum is bookkeeping plus GC.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import orjson  # noqa: E402

from streamer.contract import check, decode, to_event  # noqa: E402
from streamer.episodes import EpisodeManager  # noqa: E402
from streamer.pipeline import Pipeline  # noqa: E402
from streamer.pseudonym import DEV_KEY, Pseudonymizer  # noqa: E402


def one_round(raws: list[bytes]) -> dict[str, float]:
    """CPU seconds of each stage over ``raws``; stages run one after another on the same data."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.process_time()
        docs = [decode(r) for r in raws]
        t1 = time.process_time()
        tss = [check(d) for d in docs]
        t2 = time.process_time()
        pseudo = Pseudonymizer(DEV_KEY)
        for d, ts in zip(docs, tss):
            to_event(d, pseudo, ts)
        t3 = time.process_time()
    finally:
        gc.enable()
    return {"decode": t1 - t0, "validate": t2 - t1, "to_event": t3 - t2}


def pipeline_round(raws: list[bytes]) -> dict[str, float]:
    """CPU seconds of ``process_batch`` over ``raws`` with no detectors, GC on, and of the GC in it."""
    sinks = [C.NullSink() for _ in range(3)]
    p = Pipeline([], Pseudonymizer(DEV_KEY), alert_sinks=[sinks[0]], dead_letter_sinks=[sinks[1]],
                 scored_sinks=[sinks[2]], episodes=EpisodeManager(quiet=72 * 3600.0), max_lateness=168 * 3600.0)
    origin = {"bench": "ingest"}
    batches = [[(r, origin) for r in raws[i:i + 1000]] for i in range(0, len(raws), 1000)]
    in_gc = [0.0, 0.0]  # start of the current collection, total

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            in_gc[0] = time.process_time()
        else:
            in_gc[1] += time.process_time() - in_gc[0]

    gc.collect()
    gc.callbacks.append(on_gc)
    try:
        t0 = time.process_time()
        for batch in batches:
            p.process_batch(batch)
        total = time.process_time() - t0
    finally:
        gc.callbacks.remove(on_gc)
    return {"pipeline": total, "gc": in_gc[1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--stream", choices=("mixed", "hotline"), default="mixed")
    ap.add_argument("--json", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    m = C.header("surgewatch ingest path (decode / validate / to_event), CPU time")
    docs = C.mixed_docs() if args.stream == "mixed" else C.hotline_docs()
    raws = [orjson.dumps(d) for d in docs]
    n = len(raws)
    one_round(raws[:500])  # warm-up
    rounds = [{**one_round(raws), **pipeline_round(raws)} for _ in range(args.rounds)]
    print(f"stream  : {args.stream}, {n} events; {args.rounds} rounds, fresh Pseudonymizer each")
    figures = {}
    for stage in ("decode", "validate", "to_event"):
        us = sorted(r[stage] / n * 1e6 for r in rounds)
        figures[stage] = {"median_us": round(C.median(us), 3), "min_us": round(us[0], 3), "max_us": round(us[-1], 3)}
        print(f"  {stage:<9} median {C.median(us):6.2f} us/event   (min {us[0]:.2f} .. max {us[-1]:.2f})")
    tot = sorted((r["decode"] + r["validate"] + r["to_event"]) / n * 1e6 for r in rounds)
    figures["total"] = {"median_us": round(C.median(tot), 3), "min_us": round(tot[0], 3), "max_us": round(tot[-1], 3)}
    print(f"  {'total':<9} median {C.median(tot):6.2f} us/event   (min {tot[0]:.2f} .. max {tot[-1]:.2f})")
    for stage in ("pipeline", "gc"):
        us = sorted(r[stage] / n * 1e6 for r in rounds)
        figures[stage] = {"median_us": round(C.median(us), 3), "min_us": round(us[0], 3), "max_us": round(us[-1], 3)}
        label = "pipeline (process_batch, no detectors, GC on)" if stage == "pipeline" else "  of which in GC"
        print(f"  {label:<46} median {C.median(us):6.2f} us/event   (min {us[0]:.2f} .. max {us[-1]:.2f})")
    return C.finish({"machine": m, "stream": args.stream, "events": n, "us_per_event": figures}, args.json)


if __name__ == "__main__":
    sys.exit(main())
