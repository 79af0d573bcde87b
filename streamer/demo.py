"""``surgewatch demo``: the whole job on an embedded default, no services needed.

Simulates a few days of complaints with planted campaigns and decoys, replays
them through every detector with a progress bar while serving /metrics,
prints the alerts readably, and says where the files are -- then scores the
alerts against the simulator's truth so a newcomer sees what was caught.
"""
from __future__ import annotations

import os
import sys
import time
from streamer.replay import Progress, replay_file
from streamer.sinks import ConsoleAlertSink, JsonlSink

__all__ = ["run_demo"]


def run_demo(args) -> int:
    from streamer.cli import _start_metrics, build_pipeline
    from streamer.pseudonym import DEV_KEY, Pseudonymizer
    from streamer.simulate import simulate, write_scenario

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    print(f"surgewatch demo: simulating profile '{args.profile}' (seed {args.seed}) ...")
    events, truth = simulate(args.profile, args.seed)
    write_scenario(out, events, truth)
    events_path = os.path.join(out, "events.jsonl")
    alerts_path = os.path.join(out, "alerts.jsonl")
    dlq_path = os.path.join(out, "alerts.dlq.jsonl")
    for p in (alerts_path, dlq_path):  # the demo starts clean; real runs only ever append
        if os.path.exists(p):
            os.remove(p)
    print(f"  {len(events)} complaints from {truth['start']} to {truth['end']}, "
          f"{len(truth['campaigns'])} planted campaigns, {len(truth['decoys'])} decoys (genuine surges)")
    print("  using the fixed development pseudonym key (demo only)\n")

    console = ConsoleAlertSink(stream=sys.stdout, updates=args.all_updates)
    pipeline = build_pipeline(Pseudonymizer(DEV_KEY), [JsonlSink(alerts_path, fsync=False), console],
                              [JsonlSink(dlq_path, fsync=False)])
    _, server = _start_metrics(pipeline, args.metrics_port, "127.0.0.1", "demo", fallback=True)
    if server is not None:
        print(f"  metrics: http://127.0.0.1:{server.server_port}/metrics\n")
    t0 = time.monotonic()
    replay_file(events_path, pipeline, progress=Progress(os.path.getsize(events_path), enabled=True, stream=sys.stdout))
    pipeline.flush()
    elapsed = time.monotonic() - t0
    _report(alerts_path, events_path, truth, len(events), elapsed)
    print(f"\n  alerts:       {alerts_path}\n  events:       {events_path}\n  truth:        {os.path.join(out, 'truth.json')}")
    print(f"  dead letters: {dlq_path}")
    if server is not None and args.hold > 0:
        print(f"\n  serving metrics for {args.hold:.0f} s (Ctrl-C to stop) ...")
        try:
            time.sleep(args.hold)
        except KeyboardInterrupt:
            pass
    pipeline.close()
    return 0


def _report(alerts_path: str, events_path: str, truth: dict, n_events: int, elapsed: float) -> None:
    from streamer.evaluate import evaluate, format_report, load_jsonl

    report = evaluate(load_jsonl(events_path), truth, load_jsonl(alerts_path))
    print(f"\n  {n_events} events in {elapsed:.1f} s ({n_events / max(elapsed, 1e-9):,.0f}/s)\n")
    print("\n".join("  " + line for line in format_report(report).splitlines()))
