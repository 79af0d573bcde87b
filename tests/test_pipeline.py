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
    p.process(dumps(raw_event(ts=80)))     # 20 h late: dead letter
    assert len(det.seen) == 2
    assert dlq.records[0]["error"] == "late" and dlq.records[0]["field"] == "ts"


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
