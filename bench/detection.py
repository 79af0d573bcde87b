"""Detection quality on simulated scenarios: recall, precision, false alerts/day, delay.

    python bench/detection.py --profiles small default hard --seeds 1 2 3

For each (profile, seed): simulate, replay in-process through every detector
(the same ``build_pipeline`` as the CLI), and score with ``streamer.evaluate``.
Prints one row per run and the pooled figures; ``--verbose`` adds per-campaign
rows and every false alert's cause.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamer.cli import build_pipeline  # noqa: E402
from streamer.evaluate import evaluate, format_report  # noqa: E402
from streamer.pseudonym import DEV_KEY, Pseudonymizer  # noqa: E402
from streamer.simulate import simulate  # noqa: E402
from streamer.testing import MemorySink  # noqa: E402


def run_one(profile: str, seed: int) -> tuple[dict, float, int]:
    events, truth = simulate(profile, seed)
    sink = MemorySink()
    p = build_pipeline(Pseudonymizer(DEV_KEY), [sink], [MemorySink()])
    t0 = time.perf_counter()
    for e in events:
        p.process(orjson.dumps(e))
    dt = time.perf_counter() - t0
    return evaluate(events, truth, sink.records), dt, len(events)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", nargs="+", default=["small", "default", "hard"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    print(f"{'profile':<8} {'seed':>4} {'events':>7} {'recall':>7} {'prec':>6} {'false/d':>8} {'delay_ev':>8} "
          f"{'delay_h':>8} {'ev/s':>8}  recall by type")
    pooled: dict[str, list] = {}
    for prof in args.profiles:
        for seed in args.seeds:
            r, dt, n = run_one(prof, seed)
            pooled.setdefault(prof, []).append(r)
            print(f"{prof:<8} {seed:>4} {n:>7} {r['recall']!s:>7} {r['precision']!s:>6} {r['false_alerts_per_day']!s:>8} "
                  f"{r['median_delay_events']!s:>8} {r['median_delay_hours']!s:>8} {n / dt:>8.0f}  "
                  + ", ".join(f"{k}={v}" for k, v in r["recall_by_type"].items()), flush=True)
            if args.verbose:
                print("\n".join("      " + x for x in format_report(r).splitlines()))
                print(f"      false alerts by cause {r['false_by_cause']} by detector {r['false_by_detector']}")
    print("\npooled over seeds:")
    for prof, rs in pooled.items():
        caught = sum(r["caught"] for r in rs)
        total = sum(r["campaigns"] for r in rs)
        eps = sum(r["alert_episodes"] for r in rs)
        false = sum(r["false_alerts"] for r in rs)
        days = sum(r["days"] for r in rs)
        delays = [row["delay_events"] for r in rs for row in r["per_campaign"] if "delay_events" in row]
        print(f"  {prof:<8} recall {caught}/{total} = {caught / max(total, 1):.3f}   precision "
              f"{(eps - false)}/{eps} = {(eps - false) / max(eps, 1):.3f}   false alerts/day {false / max(days, 1e-9):.3f}   "
              f"median delay {statistics.median(delays) if delays else None} campaign events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
