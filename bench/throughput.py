#!/usr/bin/env python3
"""In-process throughput of the whole pipeline (every default detector), one core.

    python bench/throughput.py                      # all streams, 5 runs each
    python bench/throughput.py --runs 3 --streams mixed --profile-out /tmp/mixed.prof
    python bench/throughput.py --quick              # tiny sizes (smoke test)

For each input stream it builds the real pipeline with
``streamer.cli.build_pipeline`` (default detectors, episode manager, default
lateness) with no-op alert / dead-letter / scored sinks -- the scored sink is
on, as in ``surgewatch run`` -- and feeds it the pre-serialised JSON bytes of
every event, exactly as a source would: through ``Pipeline.process_batch`` in
chunks of ``--batch`` (1,000) messages, as ``surgewatch run`` does with its
default ``--max-poll-records 1000`` (and ``surgewatch replay`` with its
1,000-line chunks), so detectors with a ``prepare`` hook get whole batches;
``--per-event`` feeds ``Pipeline.process`` one message at a time instead
(the path before batching; same outputs). Reported: the median events/s over
``--runs`` fresh pipelines (plain, uninstrumented), then a breakdown from
separate instrumented runs in which ``decode`` / ``check`` / ``to_event``
(parse, validate, pseudonymise) and every detector's ``update`` and
``prepare`` (and, inside
template_surge, mask / shingle / MinHash / band keys) are wrapped with
``perf_counter`` -- shares are of the instrumented total; "pipeline rest" is
de-duplication, stats, episodes and the scored record.

Streams (deterministic, see bench/_common.py):

* ``hotline``  -- the short hotline records of the simulator's default profile
  (mean text 22 characters), two event-time-shifted copies (19,188 events);
* ``letters1k`` -- distinct ~1,000-character Chinese letters (~3 kB UTF-8);
* ``letters400`` -- distinct ~400-character letters (~1.2 kB UTF-8, i.e. the
  literal "1 kB" of JSON);
* ``mixed``    -- the simulator's default profile as is (19,100 events over 12
  days: half hotline, ~3 % letters of 150-340 characters, planted campaigns).

``--profile-out`` additionally runs cProfile once over the mixed stream and
prints the top functions by own time and by cumulative time.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import orjson  # noqa: E402

import streamer.pipeline as pipeline_mod  # noqa: E402
from streamer.cli import build_pipeline  # noqa: E402
from streamer.pseudonym import DEV_KEY, Pseudonymizer  # noqa: E402

TARGETS = {"hotline": 25_000, "letters1k": 3_000, "letters400": 3_000, "mixed": 20_000}


def make_streams(args) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    want = args.streams
    if "hotline" in want:
        out["hotline"] = [orjson.dumps(d) for d in C.hotline_docs(args.n_hotline)]
    if "letters1k" in want:
        out["letters1k"] = [orjson.dumps(d) for d in C.letter_docs(args.n_letters, chars=1000)]
    if "letters400" in want:
        out["letters400"] = [orjson.dumps(d) for d in C.letter_docs(args.n_letters, chars=400)]
    if "mixed" in want:
        out["mixed"] = [orjson.dumps(d) for d in C.mixed_docs(args.n_mixed)]
    return out


def new_pipeline():
    sinks = (C.NullSink(), C.NullSink(), C.NullSink())
    p = build_pipeline(Pseudonymizer(DEV_KEY), [sinks[0]], [sinks[1]], None, scored_sinks=[sinks[2]])
    return p, sinks


#: messages per ``process_batch`` call; 0 means ``process`` per message (``--per-event``)
BATCH = 1000


def feed(p, raws: list[bytes], origin: dict) -> None:
    """Everything in ``raws`` through ``p``: in ``BATCH``-sized ``process_batch`` calls (as a
    Kafka poll), or one ``process`` call per message when ``BATCH`` is 0.

    Building the (raw, origin) pairs is timed too: a source does that work per poll.
    """
    if not BATCH:
        process = p.process
        for raw in raws:
            process(raw, origin)
        return
    process_batch = p.process_batch
    for i in range(0, len(raws), BATCH):
        process_batch([(raw, origin) for raw in raws[i:i + BATCH]])


def run_plain(raws: list[bytes]) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of this process, output counts) of one fresh pipeline over ``raws``."""
    p, sinks = new_pipeline()
    origin = {"bench": "throughput"}
    gc.collect()
    c0 = time.process_time()
    t0 = time.perf_counter()
    feed(p, raws, origin)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    info = {"alert_emissions": sinks[0].n, "dead_letters": sinks[1].n, "scored": sinks[2].n,
            "tracked": {d.name: d.stats().get("tracked_keys", 0) for d in p.detectors}}
    return dt, cpu, info


class _Timer:
    """Accumulates wall time of a wrapped callable."""

    def __init__(self, fn, bucket: str, acc: dict) -> None:
        self.fn, self.bucket, self.acc = fn, bucket, acc

    def __call__(self, *a, **kw):
        t0 = time.perf_counter()
        try:
            return self.fn(*a, **kw)
        finally:
            self.acc[self.bucket] += time.perf_counter() - t0


class _TimedDetector:
    """Times a detector's ``update`` (and ``prepare``, if it has one, into the same bucket)."""

    def __init__(self, det, acc: dict) -> None:
        self._det = det
        self.name = det.name
        self._acc = acc
        if hasattr(det, "prepare"):  # only then: the pipeline probes for the hook
            self.prepare = _Timer(det.prepare, "detector:" + self.name, acc)

    def update(self, event):
        t0 = time.perf_counter()
        try:
            return self._det.update(event)
        finally:
            self._acc["detector:" + self.name] += time.perf_counter() - t0

    def stats(self):
        return self._det.stats()


def run_instrumented(raws: list[bytes]) -> tuple[float, dict]:
    import detectors.textbatch as ts_mod  # where template_surge's text features are computed

    acc: dict[str, float] = defaultdict(float)
    saved = {n: getattr(pipeline_mod, n) for n in ("decode", "check", "to_event")}
    saved_ts = {n: getattr(ts_mod, n) for n in ("mask", "mask_many", "features", "features_batch", "effective_length")}
    try:
        pipeline_mod.decode = _Timer(saved["decode"], "parse:decode (orjson)", acc)
        pipeline_mod.check = _Timer(saved["check"], "parse:validate", acc)
        pipeline_mod.to_event = _Timer(saved["to_event"], "parse:to_event (pseudonymise)", acc)
        ts_mod.mask = _Timer(saved_ts["mask"], "  template:mask", acc)
        ts_mod.mask_many = _Timer(saved_ts["mask_many"], "  template:mask, whole batch (prepare)", acc)
        # shingles + MinHash + band keys + paraphrase cells: per text in update, per batch in prepare
        ts_mod.features = _Timer(saved_ts["features"], "  template:text features, one text (update)", acc)
        ts_mod.features_batch = _Timer(saved_ts["features_batch"], "  template:text features, whole batch (prepare)", acc)
        ts_mod.effective_length = _Timer(saved_ts["effective_length"], "  template:effective_length", acc)
        p, _ = new_pipeline()
        p.detectors = [_TimedDetector(d, acc) for d in p.detectors]
        origin = {"bench": "throughput"}
        gc.collect()
        t0 = time.perf_counter()
        feed(p, raws, origin)
        total = time.perf_counter() - t0
    finally:
        for n, f in saved.items():
            setattr(pipeline_mod, n, f)
        for n, f in saved_ts.items():
            setattr(ts_mod, n, f)
    return total, dict(acc)


def profile_mixed(raws: list[bytes], out_path: str, top: int) -> None:
    import cProfile
    import pstats

    p, _ = new_pipeline()
    origin = {"bench": "throughput"}
    prof = cProfile.Profile()
    prof.enable()
    feed(p, raws, origin)
    prof.disable()
    prof.dump_stats(out_path)
    print(f"\n-- cProfile of one mixed run ({len(raws)} events; profiler overhead inflates "
          f"per-call costs) saved to {out_path}")
    st = pstats.Stats(prof)
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per stream (median reported)")
    ap.add_argument("--streams", default="hotline,letters1k,letters400,mixed",
                    type=lambda s: [x for x in s.split(",") if x])
    ap.add_argument("--n-hotline", type=int, default=19_188, help="hotline records (default: 2 copies)")
    ap.add_argument("--n-letters", type=int, default=3_000, help="letters per letter stream")
    ap.add_argument("--n-mixed", type=int, default=None, help="mixed events (default: the whole profile, 19,100)")
    ap.add_argument("--profile-out", default=None, help="also cProfile the mixed stream once, stats to this file")
    ap.add_argument("--top", type=int, default=25, help="rows of the profile to print")
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU (sched_setaffinity)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes from the 'small' simulator profile, 1 run (smoke test; figures meaningless)")
    ap.add_argument("--json", default=None, help="write the figures as JSON here")
    ap.add_argument("--batch", type=int, default=1000, help="messages per Pipeline.process_batch call")
    ap.add_argument("--per-event", action="store_true",
                    help="feed Pipeline.process one message at a time (the path before batching)")
    args = ap.parse_args(argv)
    global BATCH
    BATCH = 0 if args.per_event else max(1, args.batch)
    if args.quick:
        args.runs, args.n_hotline, args.n_letters, args.n_mixed = 1, 300, 60, 600
        C.PROFILE = "small"  # a 3-day profile: inputs in a fraction of the time
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    m = C.header("surgewatch in-process throughput (whole detector set, one core)")
    print(f"runs    : {args.runs} per stream (median); pinned cpu: {args.cpu}; feed: "
          + ("Pipeline.process per event" if not BATCH else f"Pipeline.process_batch of {BATCH}"))
    t0 = time.perf_counter()
    streams = make_streams(args)
    print(f"inputs  : built in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k}={len(v)} events / {sum(map(len, v)) / len(v):,.0f} B avg JSON" for k, v in streams.items()))
    # warm-up: imports, regex compiles, numpy first calls
    run_plain(next(iter(streams.values()))[:200])

    results = {"machine": m, "command": " ".join(["python", *sys.argv]), "batch": BATCH, "streams": {}}
    for name, raws in streams.items():
        rates, cpu_rates, info = [], [], {}
        for _ in range(args.runs):
            dt, cpu, info = run_plain(raws)
            rates.append(len(raws) / dt)
            cpu_rates.append(len(raws) / cpu)
        med, cmed = C.median(rates), C.median(cpu_rates)
        tgt = TARGETS.get(name)
        verdict = "" if tgt is None else f"  target >= {tgt:,}/s: {'MET' if med >= tgt else 'NOT met'}"
        print(f"\n[{name}] {len(raws)} events: median {med:,.0f} events/s wall "
              f"({1e6 / med:.1f} us/event); runs: " + ", ".join(f"{r:,.0f}" for r in rates) + verdict)
        print(f"   per CPU-second of this process (less sensitive to other load): median {cmed:,.0f} events/s; "
              "runs: " + ", ".join(f"{r:,.0f}" for r in cpu_rates))
        print(f"   outputs: {info['alert_emissions']} alert emissions, {info['dead_letters']} dead letters, "
              f"{info['scored']} scored; tracked keys {info['tracked']}")
        # breakdown
        parts_runs = []
        totals = []
        for _ in range(max(1, min(3, args.runs))):
            tot, parts = run_instrumented(raws)
            totals.append(tot)
            parts_runs.append(parts)
        tot = C.median(totals)
        keys = sorted({k for p in parts_runs for k in p})
        med_parts = {k: C.median([p.get(k, 0.0) for p in parts_runs]) for k in keys}
        top_level = {k: v for k, v in med_parts.items() if not k.startswith("  ")}
        rest = tot - sum(top_level.values())
        print(f"   breakdown (instrumented, median of {len(totals)}: {len(raws) / tot:,.0f} events/s "
              f"incl. timer overhead):")
        rows = []
        parse_sum = sum(v for k, v in top_level.items() if k.startswith("parse:"))
        for k in keys:
            if k.startswith("parse:"):
                rows.append((k, med_parts[k]))
        rows.append(("parse+validate+pseudonymise (sum)", parse_sum))
        for k in keys:
            if k.startswith("detector:"):
                rows.append((k, med_parts[k]))
                if k == "detector:template_surge":
                    rows.extend((kk, med_parts[kk]) for kk in keys if kk.startswith("  template:"))
        rows.append(("pipeline rest (dedup, stats, episodes, scored rec)", rest))
        for k, v in rows:
            print(f"     {k:<52} {v / len(raws) * 1e6:8.2f} us/event  {100 * v / tot:5.1f} %")
        results["streams"][name] = {
            "events": len(raws), "median_eps": round(med), "runs_eps": [round(r) for r in rates],
            "median_eps_cpu": round(cmed), "runs_eps_cpu": [round(r) for r in cpu_rates],
            "target_eps": tgt, "info": info,
            "breakdown_us_per_event": {k.strip(): round(v / len(raws) * 1e6, 3) for k, v in rows},
            "breakdown_share": {k.strip(): round(v / tot, 4) for k, v in rows},
        }
    if args.profile_out and "mixed" in streams:
        profile_mixed(streams["mixed"], args.profile_out, args.top)
    print(f"\nload at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
