"""The core pipeline: dead letters, de-duplication, lateness, isolation, metrics."""
from __future__ import annotations

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from detectors.base import Finding
from streamer.events import Event
from streamer.metrics import PipelineCollector
from streamer.pipeline import Pipeline
from streamer.testing import TEST_PSEUDO, MemorySink, raw_event


class CountingDetector:
    """Fires a finding for the key 'k' on every third event it sees."""

    name = "counting"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def update(self, event: Event) -> list[Finding]:
        self.seen.append(event.event_id)
        if len(self.seen) % 3:
            return []
        return [Finding(self.name, "k:1", 9.0, event.ts, event.event_id, self.seen[-3:], "three more")]

    def stats(self) -> dict[str, float]:
        return {"tracked_keys": 1}


class ExplodingDetector:
    name = "exploding"

    def update(self, event):
        raise RuntimeError("boom")

    def stats(self):
        return {}


def make(detectors=None):
    alerts, dlq = MemorySink(), MemorySink()
    p = Pipeline(detectors or [CountingDetector()], TEST_PSEUDO, alert_sinks=[alerts], dead_letter_sinks=[dlq],
                 max_lateness=10 * 3600)
    return p, alerts, dlq


def dumps(d) -> bytes:
    return orjson.dumps(d)


def test_invalid_messages_are_dead_lettered_with_the_field_and_the_stream_goes_on():
    p, alerts, dlq = make()
    good = [raw_event(ts=i) for i in range(3)]
    p.process(dumps(good[0]), {"line": 1})
    p.process(b"{broken", {"line": 2})
    bad = raw_event(ts=1, channel="fax", contacts=[("phone", "13912345678", "self")], text="秘密内容")
    p.process(dumps(bad), {"line": 3})
    p.process(dumps(good[1]), {"line": 4})
    p.process(dumps(good[2]), {"line": 5})
    assert [r["field"] for r in dlq.records] == ["$", "channel"]
    assert dlq.records[1]["origin"] == {"line": 3} and "fax" in dlq.records[1]["reason"]
    # the dead letter keeps the document, but not the raw phone, id or text
    blob = orjson.dumps(dlq.records).decode()
    assert "13912345678" not in blob and "秘密内容" not in blob and bad["complainant"]["id"] not in blob
    assert dlq.records[1]["payload"]["event_id"] == bad["event_id"]
    assert len(alerts.records) == 1  # the three good events still reached the detector
    assert p.stats.dead_letters == {"invalid": 2}


def test_redelivered_event_is_not_counted_twice():
    det = CountingDetector()
    p, _, _ = make([det])
    ev = dumps(raw_event(ts=0))
    for _ in range(3):
        p.process(ev)
    assert det.seen == [orjson.loads(ev)["event_id"]]
    assert p.stats.events[("duplicate", "hotline", "service")] == 2


def test_dedup_memory_is_bounded():
    p, _, _ = make()
    p.dedup_size = 10
    for i in range(50):
        p.process(dumps(raw_event(ts=i / 100)))
    assert len(p.seen) == 10


def test_late_events_beyond_the_allowed_lateness_are_dead_lettered():
    det = CountingDetector()
    p, _, dlq = make([det])
    p.process(dumps(raw_event(ts=100)))
    p.process(dumps(raw_event(ts=95)))     # 5 h late: processed
    late = raw_event(ts=80, contacts=[("phone", "13912345678", "self")])
    p.process(dumps(late))                 # 20 h late: dead letter
    assert len(det.seen) == 2
    assert dlq.records[0]["error"] == "late" and dlq.records[0]["field"] == "ts"
    # the letter names the event and carries its redacted document (decoded again: the pipeline
    # does not keep a valid event's document), in process and in process_batch alike
    assert dlq.records[0]["event_id"] == late["event_id"]
    assert dlq.records[0]["payload"]["contacts"][0]["value"] == TEST_PSEUDO("phone", "13912345678")
    p.process_batch([(dumps(late), {"line": 9})])
    assert dlq.records[1] == {**dlq.records[0], "origin": {"line": 9}}


def test_a_failing_detector_is_isolated_and_counted():
    good = CountingDetector()
    p, alerts, _ = make([ExplodingDetector(), good])
    for i in range(3):
        p.process(dumps(raw_event(ts=i)))
    assert len(good.seen) == 3 and len(alerts.records) == 1
    assert p.stats.detector_errors == {"exploding": 3}


def test_flush_reaches_every_sink():
    p, alerts, dlq = make()
    p.flush()
    assert alerts.flushes == dlq.flushes == 1


def test_metrics_collector_exposes_live_state_on_its_own_registry():
    p, _, _ = make()
    for i in range(6):
        p.process(dumps(raw_event(ts=i, channel="app", category="collection")))
    p.process(b"nope")
    reg = CollectorRegistry()
    reg.register(PipelineCollector(p, clock=lambda: p.stats.watermark + 60))
    text = generate_latest(reg).decode()
    assert 'surgewatch_events_total{category="collection",channel="app",result="ok"} 6.0' in text
    assert 'surgewatch_dead_letters_total{error="invalid"} 1.0' in text
    assert 'surgewatch_alerts_total{detector="counting",severity="warning",status="firing"} 2.0' in text
    assert 'surgewatch_active_episodes{detector="counting"} 1.0' in text
    assert "surgewatch_event_time_lag_seconds 60.0" in text
    assert 'surgewatch_processing_seconds_count 6.0' in text


def test_every_event_gets_a_triage_risk_with_reasons():
    scored = MemorySink()
    p = Pipeline([CountingDetector()], TEST_PSEUDO, scored_sinks=[scored])
    for i in range(3):
        p.process(dumps(raw_event(ts=i)))
    risks = [r["risk"] for r in scored.records]
    assert risks[:2] == [0.0, 0.0] and 0.5 < risks[2] <= 1.0
    assert scored.records[2]["reasons"] == [{"detector": "counting", "key": "k:1", "score": 9.0}]


def test_risk_combines_agreeing_detectors():
    from streamer.pipeline import risk_from

    one = risk_from([{"score": 6.0}])
    two = risk_from([{"score": 6.0}, {"score": 6.0}])
    assert 0 < one < two < 1 and risk_from([{"score": 100.0}]) == 1.0 and risk_from([]) == 0.0


def test_top_k_surges_are_the_only_per_key_series():
    from streamer import metrics

    p, _, _ = make()
    for k in range(metrics.TOP_K + 5):
        p.episodes.observe(Finding("counting", f"k:{k}", float(k), 0.0, f"x{k}", [f"x{k}"], "s"), "t")
    reg = CollectorRegistry()
    reg.register(PipelineCollector(p))
    text = generate_latest(reg).decode()
    lines = [x for x in text.splitlines() if x.startswith("surgewatch_top_surge_score{")]
    assert len(lines) == metrics.TOP_K
    assert 'rank="1"' in lines[0] and f'key="k:{metrics.TOP_K + 4}"' in lines[0]


def test_latency_lands_in_the_first_bucket_at_or_above_it():
    from streamer.pipeline import LATENCY_BUCKETS, PipelineStats

    st = PipelineStats()
    probes = [0.0, *LATENCY_BUCKETS, *(b * 1.0001 for b in LATENCY_BUCKETS), 5.0]
    for x in probes:
        st.observe_latency(x)
    want = [0] * (len(LATENCY_BUCKETS) + 1)
    for x in probes:  # the definition, by linear scan: a bound is inclusive (Prometheus "le")
        want[next((i for i, b in enumerate(LATENCY_BUCKETS) if x <= b), len(LATENCY_BUCKETS))] += 1
    assert st.latency_counts == want
    assert st.latency_counts[0] == 2 and st.latency_counts[-1] == 2


def test_replacing_the_detectors_re_resolves_what_each_event_calls():
    first, second = CountingDetector(), CountingDetector()
    p, _, _ = make([first])
    p.process(dumps(raw_event(ts=0)))
    p.detectors = [second]  # as a checkpoint restore does
    p.process(dumps(raw_event(ts=1)))
    assert len(first.seen) == 1 and len(second.seen) == 1
    assert p.detectors == (second,)


# -- process_batch: the same outputs as process, one message at a time -----------------------
class PreparingDetector(CountingDetector):
    """A CountingDetector with the batch hook; logs every call in order."""

    name = "preparing"

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, object]] = []

    def prepare(self, events) -> None:
        self.log.append(("prepare", [e.event_id for e in events]))

    def update(self, event: Event) -> list[Finding]:
        self.log.append(("update", event.event_id))
        return super().update(event)


def messy_stream() -> list[tuple[bytes, dict]]:
    """Valid events with findings, invalid lines, re-deliveries and late events, interleaved."""
    docs = [raw_event(ts=i * 0.5, category=("service", "collection")[i % 2]) for i in range(40)]
    items: list[tuple[bytes, dict]] = []
    for i, d in enumerate(docs):
        items.append((dumps(d), {"line": len(items) + 1}))
        if i % 7 == 3:
            items.append((b"{broken", {"line": len(items) + 1}))
        if i % 5 == 4:
            items.append((dumps(docs[i - 2]), {"line": len(items) + 1}))  # a re-delivery
        if i % 9 == 8:  # 12 h behind the watermark: late (max lateness 10 h)
            items.append((dumps(raw_event(ts=i * 0.5 - 12)), {"line": len(items) + 1}))
        if i % 11 == 10:
            items.append((dumps(raw_event(ts=i * 0.5, channel="fax")), {"line": len(items) + 1}))
    # an episode that resolves: a key gone quiet for longer than the episodes' quiet time
    items.append((dumps(raw_event(ts=40 + 24 * 4)), {"line": len(items) + 1}))
    return items


def outputs(p, sinks) -> dict:
    st = p.stats
    return {"sinks": [s.records for s in sinks], "events": st.events, "dead": st.dead_letters,
            "alerts": st.alerts, "findings": st.findings, "errors": st.detector_errors,
            "watermark": st.watermark, "last": st.last_event_ts, "observed": sum(st.latency_counts),
            "seen": list(p.seen)}


def run_stream(items, batch: int | None):
    alerts, dlq, scored = MemorySink(), MemorySink(), MemorySink()
    det = PreparingDetector()
    p = Pipeline([ExplodingDetector(), det, CountingDetector()], TEST_PSEUDO, alert_sinks=[alerts],
                 dead_letter_sinks=[dlq], scored_sinks=[scored], max_lateness=10 * 3600)
    if batch is None:
        reached = sum(p.process(raw, origin) is not None for raw, origin in items)
    else:
        reached = sum(p.process_batch(items[i:i + batch]) for i in range(0, len(items), batch))
    return outputs(p, (alerts, dlq, scored)), reached, det


def test_process_batch_gives_the_outputs_of_process_one_by_one():
    items = messy_stream()
    want, reached, _ = run_stream(items, None)
    # the stream exercises every path, or the comparison proves little
    assert want["dead"]["invalid"] >= 5 and want["dead"]["late"] >= 3
    assert sum(n for (r, _, _), n in want["events"].items() if r == "duplicate") >= 6
    assert {r["status"] for r in want["sinks"][0]} == {"firing", "resolved"}
    assert want["observed"] == reached == len(want["sinks"][2])
    for batch in (1, 4, 13, 1000):
        got, got_reached, _ = run_stream(items, batch)
        assert got == want and got_reached == reached, batch


def test_prepare_sees_each_batch_s_valid_events_before_their_updates():
    items = messy_stream()
    _, _, one_by_one = run_stream(items, None)
    accepted = [eid for what, eid in one_by_one.log if what == "update"]
    assert all(what == "update" for what, _ in one_by_one.log)  # process() never calls prepare
    _, _, det = run_stream(items, 13)
    assert det.log[0][0] == "prepare"
    prepares = [(i, ids) for i, (what, ids) in enumerate(det.log) if what == "prepare"]
    assert len(prepares) == -(-len(items) // 13)  # once per batch (every batch has a valid event)
    updates_seen: list[str] = []
    for n, (i, ids) in enumerate(prepares):
        chunk = items[n * 13:(n + 1) * 13]
        # every parsable, contract-valid message of the chunk, duplicates and late ones included
        valid = [orjson.loads(raw)["event_id"] for raw, _ in chunk
                 if raw != b"{broken" and orjson.loads(raw)["channel"] != "fax"]
        assert ids == valid
        end = prepares[n + 1][0] if n + 1 < len(prepares) else len(det.log)
        updates = [eid for _, eid in det.log[i + 1:end]]
        # what follows the prepare, up to the next one, is updates of this batch's events only
        assert updates and set(updates) <= set(ids)
        updates_seen += updates
    assert updates_seen == accepted  # in the order process() gives them
    assert len(accepted) < sum(len(ids) for _, ids in prepares)  # prepare saw dropped events too


def test_a_failing_prepare_is_isolated_and_counted():
    class BadPrepare(CountingDetector):
        name = "bad_prepare"

        def prepare(self, events):
            raise ValueError("no")

    det = BadPrepare()
    p, alerts, _ = make([det])
    p.process_batch([(dumps(raw_event(ts=i)), None) for i in range(3)])
    assert len(det.seen) == 3 and len(alerts.records) == 1
    assert p.stats.detector_errors == {"bad_prepare": 1}


def test_batch_latency_counts_every_accepted_event_at_the_batch_mean():
    p, _, _ = make()
    n = p.process_batch([(dumps(raw_event(ts=i)), None) for i in range(5)] + [(b"nope", None)])
    st = p.stats
    assert n == 5 and sum(st.latency_counts) == 5 and st.latency_sum > 0
    assert max(st.latency_counts) == 5  # all in one bucket: the mean's


def test_replay_in_chunks_matches_line_by_line(tmp_path):
    from streamer.replay import replay_file

    items = messy_stream()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(raw for raw, _ in items[:30]) + b"\n\n" + b"\n".join(raw for raw, _ in items[30:]) + b"\n")
    runs = []
    for batch in (1, 7):
        alerts, dlq, scored = MemorySink(), MemorySink(), MemorySink()
        p = Pipeline([CountingDetector()], TEST_PSEUDO, alert_sinks=[alerts], dead_letter_sinks=[dlq],
                     scored_sinks=[scored], max_lateness=10 * 3600)
        calls: list[int] = []
        n = replay_file(str(path), p, flush_every=10, on_event=calls.append, batch=batch)
        assert n == len(items) and calls == list(range(1, n + 1))
        assert alerts.flushes == n // 10 + 1  # every 10 messages, and at the end
        runs.append(outputs(p, (alerts, dlq, scored)))
    assert runs[0] == runs[1]
    lines = path.read_bytes().split(b"\n")
    dead = runs[0]["sinks"][1]
    assert any(r["origin"]["line"] > 31 for r in dead)  # past the blank line 31, which still counts
    for r in dead:  # each dead letter names the file line of its message
        assert r["origin"]["file"] == "events.jsonl"
        line = lines[r["origin"]["line"] - 1]
        assert line == b"{broken" or orjson.loads(line)["event_id"] == r["payload"]["event_id"]


def test_episodes_skip_the_quiet_scan_only_when_nothing_can_resolve():
    """``advance`` keeps a lower bound of the open episodes' last finding; random findings
    and watermark moves resolve exactly what a scan on every move resolves."""
    import pickle
    import random

    from streamer.episodes import EpisodeManager

    rng = random.Random(5)
    fast, full = EpisodeManager(quiet=10.0), EpisodeManager(quiet=10.0)
    out_fast, out_full = [], []
    t = 0.0
    for i in range(3000):
        t += rng.expovariate(1.0)
        if rng.random() < 0.3:
            f = Finding("d", f"k:{rng.randrange(40)}", 6.0, t - rng.uniform(0, 5), f"e{i}", [f"e{i}"], "s")
            out_fast.append(fast.observe(f, "t"))
            out_full.append(full.observe(f, "t"))
        if i == 1500:  # a checkpoint of the old layout (no bound): loads, scans, carries on
            fast = pickle.loads(pickle.dumps(fast))
            del fast.__dict__["_earliest"]
        full._earliest = float("-inf")  # forces the scan
        out_fast += fast.advance(t)
        out_full += full.advance(t)
    assert sum(r is not None and r["status"] == "resolved" for r in out_full) > 50
    assert out_fast == out_full
