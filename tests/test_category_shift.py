"""category_shift: reports a sustained move of an institution's complaint mix, and nothing else.

Crafted streams (pure logic, ``Event`` built directly): three institutions with
the simulator's organic mix (collection 30 %) and a day-time hourly profile,
then one change at one institution -- a collection shift 30 % -> 85 %, a slow
ramp, a 3-hour app outage, a uniform volume surge, a fee change.
"""
from __future__ import annotations

import math
import pickle
import random
from collections import Counter, OrderedDict, deque
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from detectors.base import SEVERITIES, Finding
from detectors.category_drift import DriftGate, new_drift, ph_load, ph_state
from detectors.category_shift import CategoryShift, _Inst, _Track
from streamer.events import Event

DAY, HOUR = 86400.0, 3600.0
T0 = datetime(2024, 3, 4, tzinfo=timezone(timedelta(hours=8))).timestamp()  # a Monday, 00:00 +08:00
MIX = (("collection", 0.30), ("interest_fees", 0.18), ("service", 0.24), ("credit_report", 0.10),
       ("hardship_relief", 0.08), ("fraud", 0.05), ("other", 0.05))
HOURLY = (0.05, 0.03, 0.02, 0.02, 0.02, 0.04, 0.10, 0.30, 0.70, 1.00, 1.10, 1.00,
          0.65, 0.70, 0.95, 1.00, 0.90, 0.70, 0.45, 0.40, 0.38, 0.30, 0.18, 0.09)
VOLUME = {"bank-a": 600, "bank-b": 300, "cfc-d": 150}  # complaints per day
SHIFT_DAY = 14  # the changes start on this (local) day, after two weeks of normal


def mix_with(category: str, share: float) -> tuple[tuple[str, float], ...]:
    """The organic mix with ``category`` at ``share`` and the others scaled to fill the rest."""
    rest = [(c, p) for c, p in MIX if c != category]
    tot = sum(p for _, p in rest)
    return ((category, share),) + tuple((c, p / tot * (1.0 - share)) for c, p in rest)


def pick(rng: random.Random, mix) -> str:
    r, acc = rng.random(), 0.0
    for c, p in mix:
        acc += p
        if r < acc:
            return c
    return mix[-1][0]


def mk(eid: str, ts: float, inst: str, cat: str) -> Event:
    return Event(event_id=eid, ts=ts, ts_text="", institution=inst, channel="hotline", category=cat,
                 complainant=f"cust:{eid}", text="客户来电反映问题")


def flow(seed: int, days: int = 21, *, mix_at=None, volume_at=None, volumes=VOLUME) -> list[Event]:
    """Organic complaints at every institution; ``mix_at(inst, ts)`` may return another mix,
    ``volume_at(inst, day)`` another daily volume. Sorted by time, deterministic."""
    rng = random.Random(seed)
    out = []
    for inst, per_day in volumes.items():
        i = 0
        for d in range(days):
            vol = volume_at(inst, d) if volume_at else per_day
            n = max(0.0, rng.gauss(vol, vol ** 0.5))
            for h in range(24):
                for _ in range(int(n * HOURLY[h] / sum(HOURLY) + rng.random())):
                    ts = T0 + d * DAY + (h + rng.random()) * HOUR
                    mix = (mix_at(inst, ts) if mix_at else None) or MIX
                    out.append(mk(f"{inst}-{i:06d}", ts, inst, pick(rng, mix)))
                    i += 1
    return sorted(out, key=lambda e: (e.ts, e.event_id))


def run(det, events) -> list[Finding]:
    return [f for e in events for f in det.update(e)]


def collection_step(share: float = 0.85, inst: str = "bank-a", days: float = 4.0):
    lo, hi = T0 + SHIFT_DAY * DAY, T0 + (SHIFT_DAY + days) * DAY

    def mix_at(i, ts):
        return mix_with("collection", share) if i == inst and lo <= ts < hi else None
    return mix_at


@pytest.fixture(scope="module")
def step_stream():
    return flow(1, days=SHIFT_DAY + 4, mix_at=collection_step())


# ---------------------------------------------------------------- fires
def test_fires_on_collection_shift_30_to_85_within_a_few_buckets(step_stream):
    det = CategoryShift()
    findings = run(det, step_stream)
    assert findings
    assert {f.key for f in findings} == {"category_shift:bank-a:collection"}
    first = findings[0]
    # 6-h buckets, four non-thin elevated ones needed: about a day at a large bank
    assert first.ts - (T0 + SHIFT_DAY * DAY) <= 30 * HOUR
    assert first.severity == "warning"
    ev = first.evidence
    assert ev["institution"] == "bank-a" and ev["category"] == "collection"
    assert ev["share_now"] >= 0.75 and 0.25 <= ev["baseline_share"] <= 0.36
    assert ev["lift_points"] >= 40
    assert ev["buckets"] == 4 and min(ev["events_per_bucket"]) >= 20
    assert "PageHinkley" in ev["drift_detector"]
    assert first.summary.startswith("At bank-a, collection complaints rose to ")
    assert "shift in the mix, not a single campaign" in first.summary and first.summary.endswith(".")
    # evidence ids: a small sample of bank-a collection complaints, the trigger last
    by_id = {e.event_id: e for e in step_stream}
    for f in findings:
        assert 0 < len(f.event_ids) <= 20 and f.event_ids[-1] == f.trigger_id
        assert all(by_id[i].institution == "bank-a" and by_id[i].category == "collection" for i in f.event_ids)
        assert f.score > 0 and f.severity in ("info", "warning")
    # one report per 6-h bucket while the shift lasts, not one per complaint
    assert len(findings) <= 4 * 4 + 1
    assert det.stats()["shifts_total"] == 1


def test_slow_ramp_over_a_week_fires_before_it_completes_info_then_warning():
    lo = T0 + SHIFT_DAY * DAY

    def mix_at(inst, ts):
        if inst != "cfc-d" or ts < lo:
            return None
        return mix_with("collection", min(0.85, 0.30 + 0.55 * (ts - lo) / (7 * DAY)))
    findings = run(CategoryShift(), flow(2, days=SHIFT_DAY + 9, mix_at=mix_at))
    assert findings and {f.key for f in findings} == {"category_shift:cfc-d:collection"}
    assert findings[0].ts < lo + 6 * DAY
    assert findings[-1].severity == "warning" and findings[-1].evidence["share_now"] >= 0.75


def test_sustained_fee_rise_is_reported_as_an_interest_fees_shift():
    lo, hi = T0 + SHIFT_DAY * DAY, T0 + (SHIFT_DAY + 4) * DAY

    def mix_at(inst, ts):
        return mix_with("interest_fees", 0.40) if inst == "bank-b" and lo <= ts < hi else None
    findings = run(CategoryShift(), flow(3, days=SHIFT_DAY + 5, mix_at=mix_at))
    assert findings and {f.key for f in findings} == {"category_shift:bank-b:interest_fees"}
    assert findings[0].severity == "info"  # ~ +22 points: a moderate shift


def test_shift_releases_when_the_mix_returns():
    det = CategoryShift()
    events = flow(4, days=SHIFT_DAY + 10, mix_at=collection_step(days=3))
    findings = run(det, events)
    assert findings
    assert det.stats()["active_shifts"] == 0
    assert max(f.ts for f in findings) < T0 + (SHIFT_DAY + 3) * DAY + 18 * HOUR  # stops within 3 buckets
    assert det.shares()["bank-a"]["collection"] < 0.45


def test_adwin_variant_fires_too_and_stays_silent_on_an_outage(step_stream):
    findings = run(CategoryShift(drift="adwin"), step_stream)
    assert {f.key for f in findings} == {"category_shift:bank-a:collection"}
    assert "ADWIN" in findings[0].evidence["drift_detector"]
    rng = random.Random(9)
    t = T0 + SHIFT_DAY * DAY + 19.5 * HOUR
    outage = [mk(f"out-{i:04d}", t + 2 * HOUR * rng.random() ** 1.5, "cfc-d", "service") for i in range(150)]
    events = sorted(flow(9, days=SHIFT_DAY + 3) + outage, key=lambda e: (e.ts, e.event_id))
    assert run(CategoryShift(drift="adwin"), events) == []


# ---------------------------------------------------------------- silent
@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_steady_organic_mix_with_noise_is_silent(seed):
    det = CategoryShift()
    assert run(det, flow(seed, days=30)) == []
    assert det.stats()["shifts_total"] == 0


@pytest.mark.parametrize("inst,start_h,hours,n", [
    ("bank-a", 9.6, 3.0, 260),   # the simulator's outage: inside one 6-h bucket
    ("cfc-d", 19.5, 2.0, 120),   # straddles a bucket boundary (20:00 +08:00): two elevated buckets
    ("bank-b", 13.0, 3.0, 400),  # straddles 14:00, a large one
])
def test_app_outage_spike_is_not_a_shift(inst, start_h, hours, n):
    rng = random.Random(5)
    base = flow(5, days=SHIFT_DAY + 3)
    t = T0 + SHIFT_DAY * DAY + start_h * HOUR
    outage = [mk(f"out-{i:04d}", t + hours * HOUR * rng.random() ** 1.5, inst, "service") for i in range(n)]
    events = sorted(base + outage, key=lambda e: (e.ts, e.event_id))
    det = CategoryShift()
    assert run(det, events) == []
    assert det.stats()["shifts_total"] == 0


def test_uniform_volume_surge_across_all_categories_is_not_a_shift():
    def volume_at(inst, d):
        surge = inst == "bank-a" and SHIFT_DAY <= d < SHIFT_DAY + 3
        return VOLUME[inst] * (4 if surge else 1)
    events = flow(6, days=SHIFT_DAY + 5, volume_at=volume_at)
    assert run(CategoryShift(), events) == []


def test_thin_institution_never_judged():
    # 20 complaints a day: every 6-h bucket is below min_events, even a total shift says nothing
    lo = T0 + SHIFT_DAY * DAY
    events = flow(7, days=SHIFT_DAY + 5, volumes={"tiny": 20},
                  mix_at=lambda i, ts: mix_with("collection", 0.95) if ts >= lo else None)
    det = CategoryShift()
    assert run(det, events) == []
    assert det.shares() == {}


# ---------------------------------------------------------------- gauges and state
def test_shares_report_smoothed_mix_per_institution(step_stream):
    det = CategoryShift()
    cut = T0 + SHIFT_DAY * DAY
    run(det, [e for e in step_stream if e.ts < cut])
    sh = det.shares()
    assert set(sh) == set(VOLUME)
    for inst, row in sh.items():
        assert set(row) == {c for c, _ in MIX}
        assert sum(row.values()) == pytest.approx(1.0, abs=1e-4)
        assert 0.15 <= row["collection"] <= 0.45, (inst, row)
        assert row["fraud"] < 0.2
    run(det, [e for e in step_stream if e.ts >= cut])
    sh = det.shares()
    assert sh["bank-a"]["collection"] >= 0.75
    assert sh["bank-b"]["collection"] <= 0.45
    orjson.dumps(sh)


def test_pickle_mid_shift_and_redelivery_change_nothing(step_stream):
    cut = next(i for i, e in enumerate(step_stream) if e.ts >= T0 + (SHIFT_DAY + 1) * DAY)
    a = CategoryShift()
    first = run(a, step_stream[:cut])
    b = pickle.loads(pickle.dumps(a))
    assert b.stats() == a.stats() and b.shares() == a.shares()
    rest_a, rest_b = run(a, step_stream[cut:]), run(b, step_stream[cut:])
    assert rest_a and orjson.dumps(rest_a) == orjson.dumps(rest_b)
    doubled = [e for e in step_stream for _ in range(2)]
    again = CategoryShift()
    assert orjson.dumps(run(again, doubled)) == orjson.dumps(first + rest_a)
    assert again.stats()["duplicates_total"] == len(step_stream)


def test_institutions_are_bounded_lru():
    det = CategoryShift(max_keys=3)
    evs = [mk(f"e{i}", T0 + i * 60.0, f"inst-{i % 5}", "collection") for i in range(50)]
    for e in evs:
        det.update(e)
        assert det.stats()["tracked_keys"] <= 3
    st = det.stats()
    assert st["evicted_total"] == 47  # five institutions in rotation: every new sighting evicts one
    assert set(det._insts) == {"inst-2", "inst-3", "inst-4"}


def test_findings_are_well_formed(step_stream):
    det = CategoryShift()
    for e in step_stream:
        for f in det.update(e):
            assert isinstance(f, Finding) and f.detector == "category_shift"
            assert f.ts == e.ts and f.trigger_id == e.event_id and f.severity in SEVERITIES
            assert f.key.count(":") == 2
            blob = orjson.dumps(f).decode()
            assert "客户来电" not in blob and "cust:" not in blob
    st = det.stats()
    assert st["findings_total"] > 0 and st["tracked_keys"] == 3


# ---------------------------------------------------------------- compact state
class _Track0:
    """A bare holder of what ``DriftGate.feed`` reads and writes on a track."""

    def __init__(self) -> None:
        self.drift = None
        self.last_up = None


def test_compact_page_hinkley_detects_exactly_as_rivers_object_on_random_input():
    rng = random.Random(42)
    for trial in range(40):
        gate = DriftGate("page_hinkley", rng.choice([None, 0.5, 2.0]), rng.randint(1, 10), 2,
                         rng.choice([5.0, 15.0, 30.0]))
        river_ph = new_drift("page_hinkley", gate.delta, gate.warmup, 2, gate.threshold)
        tr, level, hits = _Track0(), rng.uniform(0, 60), 0
        for i in range(400):
            if rng.random() < 0.03:  # steps up and down, so river detects and starts afresh many times
                level = rng.uniform(0, 100)
            share = min(1.0, max(0.0, (level + rng.gauss(0, rng.choice([0.5, 5.0, 15.0]))) / 100.0))
            river_ph.update(100.0 * share)
            gate.feed(tr, share, i)
            assert (tr.last_up == i) == river_ph.drift_detected, (trial, i)
            assert tuple(tr.drift) == tuple(ph_state(river_ph)), (trial, i)  # the same numbers, bit for bit
            hits += river_ph.drift_detected
        assert hits or trial % 2  # most trials detect something


def test_page_hinkley_state_kept_is_all_river_carries_between_updates():
    ph = new_drift("page_hinkley", None, 8, 2, 30.0)
    ph.update(3.0)
    config = {"min_instances", "delta", "threshold", "alpha", "mode", "_test_drift"}
    carried = set(vars(ph)) - config
    # _sum_decrease / _max_decrease: river's mode "up" writes but never reads them
    assert carried == {"_x_mean", "_sum_increase", "_min_increase", "_drift_detected", "_sum_decrease", "_max_decrease"}
    assert set(vars(ph._x_mean)) == {"n", "_mean"}
    other = new_drift("page_hinkley", None, 8, 2, 30.0)
    ph_load(other, ph_state(ph))
    for x in (40.0, 90.0, 95.0, 99.0, 99.0):
        ph.update(x)
        other.update(x)
        assert ph_state(other) == ph_state(ph) and other.drift_detected == ph.drift_detected


def test_a_new_institution_keeps_one_track_per_category_seen_until_its_first_judged_bucket():
    det = CategoryShift()
    t = T0 + 3 * HOUR
    det.update(mk("n-1", t, "new", "fraud"))
    inst = det._insts["new"]
    assert list(inst.tracks) == ["fraud"] and inst.tracks["fraud"].ids == ["n-1"] and inst.tracks["fraud"].k == 1
    for i in range(25):  # a non-thin bucket of collection only
        det.update(mk(f"n-{i + 2}", t + i, "new", "collection"))
    assert set(inst.tracks) == {"fraud", "collection"}
    det.update(mk("n-99", t + 6 * HOUR, "new", "service"))  # closes the bucket: every category from now on
    assert list(inst.tracks) == sorted(c for c, _ in MIX)
    assert inst.win == ((inst.cur - 1, (inst.cur - 1) * det.bucket, 26),)
    assert det.shares()["new"] == {**{c: 0.0 for c, _ in MIX}, "fraud": round(1 / 26, 6), "collection": round(25 / 26, 6)}
    assert inst.tracks["service"].k == 1 and inst.tracks["other"].ids == []


def test_a_category_first_seen_after_weeks_is_judged_against_its_zero_baseline():
    lo = T0 + SHIFT_DAY * DAY
    no_fraud = tuple((c, p / 0.95) for c, p in MIX if c != "fraud")

    def mix_at(inst, ts):
        if inst != "bank-b":
            return None
        return mix_with("fraud", 0.45) if ts >= lo else no_fraud
    det = CategoryShift()
    events = flow(8, days=SHIFT_DAY + 3, mix_at=mix_at)
    before = [e for e in events if e.ts < lo]
    assert not any(e.institution == "bank-b" and e.category == "fraud" for e in before)
    run(det, before)
    assert det.shares()["bank-b"]["fraud"] == 0.0  # the track was made at bank-b's first judged bucket
    tr = det._insts["bank-b"].tracks["fraud"]
    per_bucket = Counter(math.floor(e.ts / det.bucket) for e in before if e.institution == "bank-b")
    closed = [n for b, n in per_bucket.items() if b < det._insts["bank-b"].cur]
    assert tr.base == 0.0 and tr.n_base == sum(n >= det.min_events for n in closed) > 30  # every judged bucket
    findings = run(det, [e for e in events if e.ts >= lo])
    assert findings and {f.key for f in findings} == {"category_shift:bank-b:fraud"}
    assert findings[0].evidence["baseline_share"] < 0.05 and findings[0].severity == "warning"


class _Old:
    """Pickles as ``cls`` with ``state`` -- how a checkpoint of the older layout reads to pickle."""

    def __init__(self, cls: type, state: dict) -> None:
        self.cls, self.state = cls, state

    def __reduce__(self):
        return object.__new__, (self.cls,), self.state  # made bare, then __setstate__(state) as a checkpoint's are


def _as_old_layout(det: CategoryShift) -> _Old:
    """``det`` as checkpoints before the compact layout held it: every category's track from the
    start, a deque of (index, start, n, k) rows and a deque of ids per track, river's PageHinkley
    object, a per-bucket counts dict per institution, one OrderedDict of recent ids."""
    insts = OrderedDict()
    for name, inst in det._insts.items():
        tracks, counts = {}, {}
        for cat in det.categories:
            tr = inst.tracks.get(cat) or _Track()
            ph = new_drift(det.drift_kind, det.drift_delta, det.warmup, det.drift_min_window, det.drift_threshold)
            ph_load(ph, tr.drift)
            state = {k: getattr(tr, k) for k in _Track.__slots__ if k not in ("ks", "k", "ids", "drift")}
            rows = [(*b, k) for b, k in zip(inst.win[len(inst.win) - len(tr.ks):], tr.ks)]
            tracks[cat] = _Old(_Track, {**state, "drift": ph, "window": deque(rows),
                                        "ids": deque(tr.ids, maxlen=det.max_event_ids)})
            if tr.k:
                counts[cat] = tr.k
        insts[name] = _Old(_Inst, {"cur": inst.cur, "n": inst.n, "counts": counts, "tracks": tracks})
    state = {k: v for k, v in vars(det).items() if k not in ("_gate", "_seen", "_seen_order", "_insts")}
    return _Old(CategoryShift, {**state, "_insts": insts, "_seen": OrderedDict.fromkeys(det._seen_order)})


def _just_after_a_close(events: list[Event], since: float) -> int:
    """The cut just after the first event that closed a bank-a bucket after ``since`` if it was not a
    collection one: the open bucket's first finding is still to come, from the restored window."""
    last = None  # bucket of bank-a's previous event
    for i, e in enumerate(events):
        if e.institution != "bank-a":
            continue
        bucket = math.floor(e.ts / (6 * HOUR))
        if e.ts >= since and last is not None and bucket > last and e.category != "collection":
            return i + 1
        last = bucket
    raise AssertionError("no such cut")


@pytest.mark.parametrize("days_in", [0.25, 1.0, 2.5, "close"])  # before, at, well into the shift, just after a close
def test_old_checkpoint_layout_loads_and_continues_identically(step_stream, days_in):
    if days_in == "close":
        cut = _just_after_a_close(step_stream, T0 + (SHIFT_DAY + 2) * DAY)
    else:
        cut = next(i for i, e in enumerate(step_stream) if e.ts >= T0 + (SHIFT_DAY + days_in) * DAY)
    det = CategoryShift()
    run(det, step_stream[:cut])
    old = pickle.loads(pickle.dumps(_as_old_layout(det)))
    assert isinstance(old, CategoryShift) and old.stats() == det.stats() and old.shares() == det.shares()
    assert list(old._seen) == list(det._seen) and old._seen_order == det._seen_order
    rest = run(det, step_stream[cut:])
    assert rest and orjson.dumps(run(old, step_stream[cut:])) == orjson.dumps(rest)
    assert old.stats() == det.stats()


def test_recent_ids_are_bounded_and_pickled_once():
    det = CategoryShift(dedupe=3)
    for i in range(5):
        det.update(mk(f"d-{i}", T0 + i, "bank-a", "collection"))
    assert list(det._seen) == list(det._seen_order) == ["d-2", "d-3", "d-4"]
    assert "_seen" not in det.__getstate__() and "_gate" not in det.__getstate__()
    back = pickle.loads(pickle.dumps(det))
    assert back._seen == det._seen and back.update(mk("d-4", T0 + 9, "bank-a", "collection")) == []
    assert back.stats()["duplicates_total"] == 1
    assert back.update(mk("d-1", T0 + 9, "bank-a", "collection")) == [] and back.stats()["duplicates_total"] == 1
    assert list(back._seen_order) == ["d-3", "d-4", "d-1"]
