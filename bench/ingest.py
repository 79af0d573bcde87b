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
    rounds = [one_round(raws) for _ in range(args.rounds)]
    print(f"stream  : {args.stream}, {n} events; {args.rounds} rounds, fresh Pseudonymizer each")
    figures = {}
    for stage in ("decode", "validate", "to_event"):
        us = sorted(r[stage] / n * 1e6 for r in rounds)
        figures[stage] = {"median_us": round(C.median(us), 3), "min_us": round(us[0], 3), "max_us": round(us[-1], 3)}
        print(f"  {stage:<9} median {C.median(us):6.2f} us/event   (min {us[0]:.2f} .. max {us[-1]:.2f})")
    tot = sorted(sum(r.values()) / n * 1e6 for r in rounds)
    figures["total"] = {"median_us": round(C.median(tot), 3), "min_us": round(tot[0], 3), "max_us": round(tot[-1], 3)}
    print(f"  {'total':<9} median {C.median(tot):6.2f} us/event   (min {tot[0]:.2f} .. max {tot[-1]:.2f})")
    return C.finish({"machine": m, "stream": args.stream, "events": n, "us_per_event": figures}, args.json)


if __name__ == "__main__":
    sys.exit(main())
