#!/usr/bin/env python3
"""Produce-to-alert latency through Kafka at fixed input rates.

    python bench/latency.py                              # 500, 1000, 5000 events/s, 15 s each
    python bench/latency.py --rates 1000 --seconds 10 --bootstrap-servers 127.0.0.1:19092

Per rate, in a fresh set of topics:

* ``surgewatch run`` (the real CLI, a subprocess; dev key, metrics off,
  default scored topic) consumes the input topic in a fresh group;
* a probe consumer in this process subscribes to ``<topic>.scored`` and
  ``<topic>.alerts`` (already assigned before anything is produced);
* one warm-up event is produced and its scored record awaited (so start-up
  and the group join are not counted), then a producer paced at the rate
  (a sender loop that keeps ``sent == rate * elapsed``; kafka-python,
  ``linger_ms=5``, ``acks=all``) writes the simulator's default-profile
  events (with their planted campaigns; more copies, event-time shifted, as
  needed) for ``--seconds``, stamping ``perf_counter()`` per event id just
  before ``send``;
* the probe records when each scored record / alert arrives (a scored
  message carries the NDJSON lines of one polled batch, see
  docs/operations.md; each line is one event's sample).

Latency per event = scored-record receipt - produce time of that event (every
event gets a scored record, so this is one sample per event). Alert latency =
receipt of an alert's first ``firing`` emission - produce time of its trigger
(the last id in that emission's ``event_ids``; see streamer/episodes.py).
After the paced phase the probe drains for up to ``--drain`` seconds; events
still without a scored record then are reported as missing (their latency
exceeds the drain). "sustained" compares surgewatch's consumption rate with
the input rate.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
import _kafka as K  # noqa: E402

import orjson  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[i]


class Probe(threading.Thread):
    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        from kafka import KafkaConsumer

        self.scored_topic, self.alerts_topic = topic + ".scored", topic + ".alerts"
        self.c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=K.unique("bench-probe"),
                               auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=100)
        for t in (self.scored_topic, self.alerts_topic):
            self.c.partitions_for_topic(t)
        self.c.subscribe([self.scored_topic, self.alerts_topic])
        self.scored: dict[str, float] = {}
        self.alerts: list[tuple[float, dict]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def wait_assigned(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.c.assignment() and time.monotonic() < deadline:
            self._poll(100)
        if not self.c.assignment():
            raise RuntimeError("probe consumer got no assignment")

    def _poll(self, ms: int) -> None:
        batch = self.c.poll(timeout_ms=ms)
        now = time.perf_counter()
        for tp, msgs in batch.items():
            for m in msgs:
                with self.lock:
                    if tp.topic == self.scored_topic:   # NDJSON: one line per event, many per message
                        for line in m.value.splitlines():
                            self.scored.setdefault(orjson.loads(line)["event_id"], now)
                    else:
                        self.alerts.append((now, orjson.loads(m.value)))

    def run(self) -> None:
        while not self.stop.is_set():
            self._poll(50)
        self.c.close()


def one_rate(bootstrap: str, rate: int, seconds: float, drain: float, docs: list[dict]) -> dict:
    from kafka import KafkaProducer

    topic = K.unique(f"bench-lat{rate}")
    K.create_topics(bootstrap, [topic, topic + ".alerts", topic + ".dlq", topic + ".scored"])
    group = K.unique("bench-lat-run")
    cmd = [sys.executable, "-m", "streamer.cli", "run", "--bootstrap-servers", bootstrap, "--topic", topic,
           "--group", group, "--alerts-topic", topic + ".alerts", "--dlq-topic", topic + ".dlq",
           "--scored-topic", topic + ".scored", "--metrics-port", "0", "--allow-dev-key",
           "--session-timeout-ms", "6000", "--log-level", "warning"]
    env = dict(os.environ)
    env.pop("SURGEWATCH_PSEUDONYM_KEY", None)
    run = subprocess.Popen(cmd, cwd=str(C.REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    probe = Probe(bootstrap, topic)
    probe.wait_assigned()
    probe.start()
    prod = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, client_id="surgewatch-bench")
    sent_at: dict[str, float] = {}
    try:
        # warm-up: one event through the whole path
        first = docs[0]
        t_w = time.perf_counter()
        prod.send(topic, key=first["institution"].encode(), value=orjson.dumps(first))
        prod.flush()
        deadline = time.monotonic() + 60
        while first["event_id"] not in probe.scored and time.monotonic() < deadline:
            if run.poll() is not None:
                raise RuntimeError("surgewatch run exited: " + run.stderr.read().decode(errors="replace")[-2000:])
            time.sleep(0.01)
        if first["event_id"] not in probe.scored:
            raise RuntimeError("warm-up event never scored")
        warm_s = probe.scored[first["event_id"]] - t_w
        # paced phase
        n_total = int(rate * seconds)
        payload = [(d["event_id"], d["institution"].encode(), orjson.dumps(d)) for d in docs[1:1 + n_total]]
        t0 = time.perf_counter()
        i = 0
        while i < n_total:
            due = min(n_total, int((time.perf_counter() - t0) * rate) + 1)
            while i < due:
                eid, key, val = payload[i]
                sent_at[eid] = time.perf_counter()
                prod.send(topic, key=key, value=val)
                i += 1
            nxt = t0 + i / rate
            delay = nxt - time.perf_counter()
            if delay > 0:
                time.sleep(min(delay, 0.005))
        prod.flush()
        t_sent = time.perf_counter()
        send_rate = n_total / (t_sent - t0)
        # drain
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline:
            with probe.lock:
                done = sum(1 for e in sent_at if e in probe.scored)
            if done >= n_total:
                break
            time.sleep(0.05)
    finally:
        prod.close()
        probe.stop.set()
        probe.join(timeout=10)
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
    lat = [probe.scored[e] - t for e, t in sent_at.items() if e in probe.scored]
    missing = len(sent_at) - len(lat)
    last_scored = max((probe.scored[e] for e in sent_at if e in probe.scored), default=t0)
    consumed_rate = len(lat) / max(1e-9, last_scored - t0)
    firsts: dict[str, tuple[float, dict]] = {}
    for t, rec in probe.alerts:
        if rec.get("status") == "firing" and rec["alert_id"] not in firsts:
            firsts[rec["alert_id"]] = (t, rec)
    alert_lat = [t - sent_at[rec["event_ids"][-1]] for t, rec in firsts.values() if rec["event_ids"][-1] in sent_at]
    return {"rate": rate, "seconds": seconds, "events": len(sent_at), "send_rate": send_rate, "warmup_s": warm_s,
            "scored": len(lat), "missing": missing, "consumed_rate": consumed_rate,
            "sustained": missing == 0 and consumed_rate >= 0.95 * rate,
            "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99), "max": max(lat) if lat else float("nan"),
            "alerts_first_firing": len(firsts), "alert_samples": len(alert_lat),
            "alert_p50": pct(alert_lat, 50), "alert_p99": pct(alert_lat, 99),
            "alert_max": max(alert_lat) if alert_lat else float("nan"), "run_rc": run.returncode}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap-servers", default=None, help="use this broker (default: start one on :29092)")
    ap.add_argument("--rates", default="500,1000,5000", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--seconds", type=float, default=15.0, help="paced phase per rate")
    ap.add_argument("--drain", type=float, default=60.0, help="max seconds to wait for the backlog after the paced phase")
    ap.add_argument("--keep-broker", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    m = C.header("surgewatch produce-to-alert latency through Kafka at fixed input rates")
    bootstrap, started = K.ensure_broker(args.bootstrap_servers)
    print(f"broker  : {bootstrap} ({'started here' if started else 'already running / given'})")
    need = int(max(args.rates) * args.seconds) + 1
    docs = C.mixed_docs(need)
    results = {"machine": m, "command": " ".join(["python", *sys.argv]), "rates": []}
    try:
        print(f"\n   {'rate/s':>7} {'sent/s':>8} {'events':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} "
              f"{'missing':>7} {'consumed/s':>10} {'sustained':>9} | {'alerts':>6} {'alert p50':>9} {'alert max':>9}")
        for rate in args.rates:
            r = one_rate(bootstrap, rate, args.seconds, args.drain, docs)
            results["rates"].append(r)
            print(f"   {rate:>7,} {r['send_rate']:>8,.0f} {r['events']:>7,} {r['p50'] * 1e3:>8.1f} {r['p90'] * 1e3:>8.1f} "
                  f"{r['p99'] * 1e3:>8.1f} {r['max'] * 1e3:>8.1f} {r['missing']:>7,} {r['consumed_rate']:>10,.0f} "
                  f"{'yes' if r['sustained'] else 'NO':>9} | {r['alerts_first_firing']:>6} "
                  f"{r['alert_p50'] * 1e3:>7.1f}ms {r['alert_max'] * 1e3:>7.1f}ms", flush=True)
        for r in results["rates"]:
            if r["rate"] == 1000:
                print(f"\n   p99 produce-to-scored at 1,000/s = {r['p99'] * 1e3:.0f} ms (target <= 1 s: "
                      f"{'MET' if r['p99'] <= 1.0 and r['missing'] == 0 else 'NOT met'})")
    finally:
        if started and not args.keep_broker:
            K.stop_broker()
            print("broker  : stopped")
    return C.finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
