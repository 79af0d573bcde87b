"""The ``surgewatch`` command: replay, run, simulate, produce, demo.

Flags win over environment variables, which win over defaults; ``--help`` on
every subcommand names the variable behind each flag.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

import orjson
from prometheus_client import CollectorRegistry

from streamer.checkpoint import CheckpointError
from streamer.config import KafkaSettings, add_kafka_args, env, env_bool, env_int, usable_cpus
from streamer.episodes import EpisodeManager
from streamer.metrics import VERSION, PipelineCollector, serve_metrics
from streamer.pipeline import Pipeline
from streamer.pseudonym import KEY_ENV, MissingKeyError, Pseudonymizer
from streamer.sinks import ConsoleAlertSink, JsonlSink

__all__ = ["main", "build_pipeline"]

log = logging.getLogger("surgewatch")


def build_pipeline(pseudo: Pseudonymizer, alert_sinks, dead_letter_sinks, args=None, scored_sinks=()) -> Pipeline:
    """The one place the detector set and episode policy are assembled."""
    from detectors import default_detectors

    quiet_h = float(getattr(args, "quiet_hours", None) or 72.0)
    lateness_h = float(getattr(args, "max_lateness_hours", None) or 168.0)
    return Pipeline(
        default_detectors(getattr(args, "max_keys", None)), pseudo,
        alert_sinks=alert_sinks, dead_letter_sinks=dead_letter_sinks, scored_sinks=scored_sinks,
        episodes=EpisodeManager(quiet=quiet_h * 3600.0),
        max_lateness=lateness_h * 3600.0,
        include_raw_dead_letters=bool(getattr(args, "dead_letter_raw", False)),
    )


def _pseudo(allow_dev: bool) -> Pseudonymizer:
    p = Pseudonymizer.from_env(allow_dev_key=allow_dev)
    if p.is_dev_key:
        log.warning("using the fixed DEVELOPMENT pseudonym key; set %s for real data", KEY_ENV)
    return p


def _dlq_path(alerts_path: str) -> str:
    base = alerts_path[:-6] if alerts_path.endswith(".jsonl") else alerts_path
    return base + ".dlq.jsonl"


def _start_metrics(pipeline: Pipeline, port: int, addr: str, mode: str, source=None, fallback: bool = False):
    registry = CollectorRegistry()
    registry.register(PipelineCollector(pipeline, source=source, mode=mode))
    from streamer.alertmanager import AlertmanagerCollector, AlertmanagerSink
    for s in pipeline.alert_sinks:
        if isinstance(s, AlertmanagerSink):
            registry.register(AlertmanagerCollector(s))
    if not port:
        return registry, None
    try:
        server = serve_metrics(registry, port, addr)
    except OSError as e:
        if not fallback:
            raise SystemExit(f"surgewatch: cannot serve metrics on {addr}:{port}: {e}") from None
        server = serve_metrics(registry, _free_port(addr), addr)
    return registry, server


def _free_port(addr: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _add_alertmanager(sinks: list, args) -> None:
    if getattr(args, "alertmanager_url", None):
        from streamer.alertmanager import AlertmanagerSink

        sinks.append(AlertmanagerSink(args.alertmanager_url))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet-hours", type=float, default=float(env("SURGEWATCH_QUIET_HOURS", "72")),
                   help="event-time silence after which an alert episode resolves (default 72) [env SURGEWATCH_QUIET_HOURS]")
    p.add_argument("--max-lateness-hours", type=float, default=float(env("SURGEWATCH_MAX_LATENESS_HOURS", "168")),
                   help="events older than the watermark by more than this are dead-lettered as late (default 168) "
                        "[env SURGEWATCH_MAX_LATENESS_HOURS]")
    p.add_argument("--dead-letter-raw", action="store_true", default=env("SURGEWATCH_DEAD_LETTER_RAW") == "1",
                   help="also keep the raw bytes of rejected messages in dead letters (they may hold personal data) "
                        "[env SURGEWATCH_DEAD_LETTER_RAW=1]")
    p.add_argument("--max-keys", type=int, default=env_int("SURGEWATCH_MAX_KEYS", 0) or None,
                   help="cap on tracked keys per detector (the memory bound; coldest evicted first; default: each "
                        "detector's own) [env SURGEWATCH_MAX_KEYS]")
    p.add_argument("--log-level", default=env("SURGEWATCH_LOG_LEVEL", "info"), help="[env SURGEWATCH_LOG_LEVEL]")
    p.add_argument("--alertmanager-url", default=env("SURGEWATCH_ALERTMANAGER_URL"),
                   help="also notify this Alertmanager (base URL, e.g. http://127.0.0.1:9093); best effort, "
                        "never blocks the stream [env SURGEWATCH_ALERTMANAGER_URL]")


# -- replay ---------------------------------------------------------------
def cmd_replay(args) -> int:
    from streamer.replay import Progress, replay_file

    if not os.path.exists(args.input):
        raise SystemExit(f"surgewatch replay: --input {args.input}: no such file")
    pseudo = _pseudo(allow_dev=True)
    sinks = [JsonlSink(args.alerts)]
    if args.stdout:
        sinks.append(ConsoleAlertSink(json=False))
    _add_alertmanager(sinks, args)
    dlq_path = args.dead_letters or _dlq_path(args.alerts)
    scored = [JsonlSink(args.scored, fsync=False)] if args.scored else []
    pipeline = build_pipeline(pseudo, sinks, [JsonlSink(dlq_path)], args, scored)
    if args.state_dir:
        from streamer import checkpoint

        try:
            ck = checkpoint.load(args.state_dir)
            if ck is not None:
                checkpoint.restore(pipeline, ck.state)
        except CheckpointError as e:
            raise SystemExit(f"surgewatch replay: {e}") from None
    _start_metrics(pipeline, args.metrics_port, args.metrics_addr, "replay")
    prog = Progress(os.path.getsize(args.input), enabled=args.progress)
    n = replay_file(args.input, pipeline, progress=prog)
    if args.state_dir:
        from streamer import checkpoint

        checkpoint.save(args.state_dir, checkpoint.Checkpoint(checkpoint.FORMAT_VERSION, {}, checkpoint.snapshot(pipeline),
                                                              {"input": os.path.abspath(args.input)}))
    pipeline.close()
    st = pipeline.stats
    ok = sum(v for (r, _, _), v in st.events.items() if r == "ok")
    log.info("replay done", extra={"lines": n, "ok": ok, "dead_letters": sum(st.dead_letters.values()),
                                   "alerts": sum(st.alerts.values()), "alerts_file": args.alerts,
                                   "dead_letter_file": dlq_path})
    return 0


# -- run --------------------------------------------------------------------
def cmd_run(args) -> int:
    from streamer.kafka_io import FetchProcessError, KafkaLinesSink, KafkaSink, KafkaSource, make_producer

    try:
        pseudo = _pseudo(allow_dev=args.allow_dev_key)
    except MissingKeyError as e:
        print(f"surgewatch run: {e}", file=sys.stderr)
        return 2
    settings = KafkaSettings.from_args(args)
    producer = make_producer(settings)
    sinks: list = [KafkaSink(producer, args.alerts_topic, "alert_id")]
    if args.alerts:
        sinks.append(JsonlSink(args.alerts))
    if args.stdout:
        sinks.append(ConsoleAlertSink(json=False))
    _add_alertmanager(sinks, args)
    dlq = [KafkaSink(producer, args.dlq_topic, "event_id")]
    scored = [KafkaLinesSink(producer, args.scored_topic)] if args.scored_topic else []
    pipeline = build_pipeline(pseudo, sinks, dlq, args, scored)
    try:
        source = KafkaSource(settings, args.topic, args.group, session_timeout_ms=args.session_timeout_ms,
                             max_poll_records=args.max_poll_records, commit_interval_ms=args.commit_interval_ms,
                             fetch_process=args.fetch_process)
    except FetchProcessError as e:
        print(f"surgewatch run: {e}", file=sys.stderr)
        return 1
    if args.state_dir:
        try:
            source.restore(pipeline, args.state_dir)
        except CheckpointError as e:
            print(f"surgewatch run: {e}", file=sys.stderr)
            return 2
    _start_metrics(pipeline, args.metrics_port, args.metrics_addr, "run", source=source)
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("signal received, draining", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("consuming", extra={"topic": args.topic, "group": args.group, "bootstrap": args.bootstrap_servers,
                                 "alerts_topic": args.alerts_topic, "dlq_topic": args.dlq_topic,
                                 "metrics_port": args.metrics_port, "fetch_process": args.fetch_process})
    try:
        source.run(pipeline, stop, idle_exit_s=args.exit_when_idle, state_dir=args.state_dir,
                   checkpoint_every=args.checkpoint_every)
    except FetchProcessError as e:
        log.error("fetch process failed; exiting without committing further (a restart re-reads from the "
                  "last commit or checkpoint)", extra={"reason": str(e)})
        return 1
    finally:
        pipeline.close()
        source.close()
    st = pipeline.stats
    log.info("stopped", extra={"messages": source.messages, "alerts": sum(st.alerts.values()),
                               "dead_letters": sum(st.dead_letters.values())})
    return 0


# -- simulate / produce -------------------------------------------------------
def cmd_simulate(args) -> int:
    from streamer.simulate import simulate, write_scenario

    t0 = time.monotonic()
    events, truth = simulate(args.profile, args.seed)
    write_scenario(args.out, events, truth)
    print(f"wrote {len(events)} events ({len(truth['campaigns'])} campaigns, {len(truth['decoys'])} decoys) "
          f"to {os.path.join(args.out, 'events.jsonl')} and truth.json in {time.monotonic() - t0:.1f} s")
    return 0


def cmd_produce(args) -> int:
    import orjson

    from streamer.kafka_io import make_producer

    settings = KafkaSettings.from_args(args)
    producer = make_producer(settings, linger_ms=20, batch_size=256 * 1024)
    n = 0
    with open(args.input, "rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            key = None
            if args.key_field:
                try:
                    v = orjson.loads(line).get(args.key_field)
                    key = str(v).encode() if v is not None else None
                except Exception:
                    key = None
            producer.send(args.topic, key=key, value=line)
            n += 1
    producer.flush()
    producer.close()
    print(f"produced {n} messages to {args.topic}")
    return 0


def cmd_evaluate(args) -> int:
    from streamer.evaluate import evaluate, format_report, load_jsonl

    for flag in ("events", "truth", "alerts"):
        if not os.path.exists(getattr(args, flag)):
            raise SystemExit(f"surgewatch evaluate: --{flag} {getattr(args, flag)}: no such file")
    with open(args.truth, "rb") as f:
        truth = orjson.loads(f.read())
    report = evaluate(load_jsonl(args.events), truth, load_jsonl(args.alerts))
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() if args.json else format_report(report))
    return 0


# -- demo ---------------------------------------------------------------------
def cmd_demo(args) -> int:
    from streamer.demo import run_demo

    return run_demo(args)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="surgewatch",
        description="Streaming detector of organised complaint campaigns (agent phones, templated letters) "
                    "in complaint event flows. Event time only: a replay gives the same alerts as the live run.",
        epilog="Start with `surgewatch demo`. Every flag's environment variable is shown in its subcommand's --help.")
    ap.add_argument("--version", action="version", version=f"surgewatch {VERSION}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("replay", help="run a JSONL file of events through every detector, in file order",
                       description="Replay EVENTS.jsonl (one complaint.v1 per line) through every detector and append "
                                   "each alert emission to ALERTS.jsonl; invalid lines go to ALERTS.dlq.jsonl.")
    p.add_argument("--input", required=True, help="events file (JSONL)")
    p.add_argument("--alerts", required=True, help="alerts file to append to (JSONL, alert.v1)")
    p.add_argument("--dead-letters", help="dead-letter file (default: beside the alerts, .dlq.jsonl)")
    p.add_argument("--scored", help="write every event's triage risk in [0, 1] with reasons here (JSONL)")
    p.add_argument("--stdout", action="store_true", help="also print alerts readably")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--metrics-port", type=int, default=env_int("SURGEWATCH_METRICS_PORT", 0),
                   help="serve /metrics during the replay (default 0 = off) [env SURGEWATCH_METRICS_PORT]")
    p.add_argument("--metrics-addr", default=env("SURGEWATCH_METRICS_ADDR", "127.0.0.1"),
                   help="[env SURGEWATCH_METRICS_ADDR]")
    p.add_argument("--state-dir", help="load detector state from here first and save it after (continue across files)")
    _common(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("run", help="consume a Kafka topic in a consumer group and alert continuously",
                       description="Consume complaint events from Kafka (at-least-once: offsets are committed only "
                                   "after the alerts and dead letters they caused are acknowledged). "
                                   f"Requires {KEY_ENV}. SIGTERM drains, flushes and commits, then exits 0.")
    add_kafka_args(p)
    p.add_argument("--topic", default=env("SURGEWATCH_TOPIC", "complaints"), help="[env SURGEWATCH_TOPIC]")
    p.add_argument("--group", default=env("SURGEWATCH_GROUP", "surgewatch"), help="[env SURGEWATCH_GROUP]")
    p.add_argument("--alerts-topic", default=env("SURGEWATCH_ALERTS_TOPIC", "complaints.alerts"),
                   help="[env SURGEWATCH_ALERTS_TOPIC]")
    p.add_argument("--dlq-topic", default=env("SURGEWATCH_DLQ_TOPIC", "complaints.dlq"), help="[env SURGEWATCH_DLQ_TOPIC]")
    p.add_argument("--scored-topic", default=env("SURGEWATCH_SCORED_TOPIC", "complaints.scored"),
                   help="every event's triage risk with reasons, as NDJSON: one message per polled batch, "
                        "one line per event ('' disables) [env SURGEWATCH_SCORED_TOPIC]")
    p.add_argument("--alerts", default=env("SURGEWATCH_ALERTS_FILE"), help="also append alerts to this file [env SURGEWATCH_ALERTS_FILE]")
    p.add_argument("--stdout", action="store_true", help="also print alerts readably")
    p.add_argument("--metrics-port", type=int, default=env_int("SURGEWATCH_METRICS_PORT", 9108),
                   help="Prometheus /metrics port, 0 disables (default 9108) [env SURGEWATCH_METRICS_PORT]")
    p.add_argument("--metrics-addr", default=env("SURGEWATCH_METRICS_ADDR", "0.0.0.0"),
                   help="address /metrics binds to (default 0.0.0.0) [env SURGEWATCH_METRICS_ADDR]")
    p.add_argument("--session-timeout-ms", type=int, default=env_int("SURGEWATCH_SESSION_TIMEOUT_MS", 10000),
                   help="consumer group session timeout (>= the broker's group.min.session.timeout.ms)")
    p.add_argument("--max-poll-records", type=int, default=env_int("SURGEWATCH_MAX_POLL_RECORDS", 1000),
                   help="most messages per polled batch; each batch is flushed and committed once, so larger "
                        "batches amortise that round trip but delay the first event of a backlog "
                        "(default 1000) [env SURGEWATCH_MAX_POLL_RECORDS]")
    p.add_argument("--commit-interval-ms", type=int, default=env_int("SURGEWATCH_COMMIT_INTERVAL_MS", 1000),
                   help="while catching up on a backlog, flush the outputs and commit offsets at most this often "
                        "(each costs two broker round trips); once caught up, after every batch. A crash re-reads "
                        "at most about this much. 0 = after every batch (default 1000) "
                        "[env SURGEWATCH_COMMIT_INTERVAL_MS]")
    p.add_argument("--fetch-process", action=argparse.BooleanOptionalAction,
                   default=env_bool("SURGEWATCH_FETCH_PROCESS", usable_cpus() >= 2),
                   help="fetch and decode the Kafka records in a child process (one batch ahead) while this one "
                        "runs the detectors: kafka-python decodes records in pure Python, 7-10 us per event that "
                        "a second core takes off the detectors' thread. Offsets are still committed only after the "
                        "outputs are acknowledged. Default: on when this process may use 2 or more CPUs; turn it "
                        "off under a CPU quota of one core [env SURGEWATCH_FETCH_PROCESS=1/0]")
    p.add_argument("--exit-when-idle", type=float, default=None, metavar="SECONDS",
                   help="exit cleanly after this long without messages (batch jobs, tests)")
    p.add_argument("--allow-dev-key", action="store_true", help=f"use the development key if {KEY_ENV} is unset (never in production)")
    p.add_argument("--state-dir", default=env("SURGEWATCH_STATE_DIR"),
                   help="checkpoint detector state here and resume from it on start; offsets are committed only "
                        "after a checkpoint covers them (one instance per group) [env SURGEWATCH_STATE_DIR]")
    p.add_argument("--checkpoint-every", type=int, default=env_int("SURGEWATCH_CHECKPOINT_EVERY", 5000),
                   help="messages between checkpoints (default 5000; also on idle and on SIGTERM)")
    _common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("simulate", help="write a simulated, labelled complaint stream",
                       description="Write DIR/events.jsonl and DIR/truth.json (planted campaigns and decoys).")
    p.add_argument("--profile", default="default", help="small | default (default: default)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("produce", help="load a JSONL file into a Kafka topic, one message per line")
    add_kafka_args(p)
    p.add_argument("--input", required=True)
    p.add_argument("--topic", default=env("SURGEWATCH_TOPIC", "complaints"))
    p.add_argument("--key-field", default="institution",
                   help="message key taken from this event field (default institution); '' for none")
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("evaluate", help="score an alerts file against a simulated truth",
                       description="Recall by campaign type, alert precision (an alert episode counts for a campaign "
                                   "if at least half its event_ids belong to it), false alerts per day, and detection "
                                   "delay in hours and in campaign events.")
    p.add_argument("--events", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--alerts", required=True)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="simulate a few days and replay them through every detector (no services needed)")
    p.add_argument("--profile", default="small")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=env("SURGEWATCH_DEMO_DIR", "surgewatch-demo"), help="where the demo writes its files")
    p.add_argument("--metrics-port", type=int, default=env_int("SURGEWATCH_METRICS_PORT", 9108),
                   help="serve /metrics while the demo runs (0 = off; a busy port falls back to a free one)")
    p.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                   help="keep serving metrics this long after the replay (Ctrl-C ends)")
    p.add_argument("--all-updates", action="store_true", help="print every alert emission, not just first firing and resolution")
    p.set_defaults(func=cmd_demo)
    return ap


def main(argv: list[str] | None = None) -> int:
    from streamer.logs import setup_logging

    args = _parser().parse_args(argv)
    setup_logging(getattr(args, "log_level", None) or env("SURGEWATCH_LOG_LEVEL", "info"))
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
