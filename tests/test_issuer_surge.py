"""issuer_surge: fires early on forged-certificate waves (earlier with implausible
seals or reused scans), stays silent on a big hospital's steady genuine
certificates and on genuine certificates scattered over many issuers."""
from __future__ import annotations

import copy
import hashlib
import math
import pickle
import random
from collections import deque

import orjson

from detectors.base import Finding
from detectors.issuer_state import _Issuer, cert_counts, sha_key
from detectors.issuer_surge import IssuerSurge, issuer_key, normalise_issuer, seal_reasons
from streamer.testing import make_event

DAY_H = 24.0
WAVE_START_H = 7 * DAY_H + 9.5  # the second Monday, 09:30, well after the detector's warm-up

COUNTY = "某县人民医院"
BIG = "某医科大学附属医院"


def sha(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


def cert(eid: str, hours: float, cust: str, issuer: str, seal: str | None, age: int | None, *,
         kind: str = "medical_certificate", file_sha: str | None = None, inst: str = "bank-a"):
    return make_event(event_id=eid, ts=hours, complainant=cust, institution=inst, age=age, channel="letter",
                      category="hardship_relief", text="本人身患重病，无力还款，申请停息挂账。",
                      attachments=[{"kind": kind, "issuer": issuer, "seal_text": seal,
                                    "sha256": file_sha or sha(eid)}])


def genuine_flow(rng: random.Random, days: int, per_day: float, issuers: list[str], *, weights=None,
                 prefix: str = "g", age=(52.0, 15.0)) -> list:
    """Genuine certificates: working-hours arrivals, fewer at weekends, ages of the sick, own scans."""
    out, n = [], 0
    for d in range(days):
        mean = per_day * (0.5 if d % 7 >= 5 else 1.0)
        for _ in range(max(0, round(rng.gauss(mean, math.sqrt(mean))))):
            iss = rng.choices(issuers, weights=weights)[0]
            a = int(min(88, max(19, rng.gauss(*age))))
            out.append(cert(f"{prefix}-{n:06d}", d * DAY_H + rng.uniform(8.5, 19.5), f"{prefix}-C{n:06d}", iss,
                            iss + "诊断证明专用章", a, inst=rng.choice(("bank-a", "bank-b", "cfc-d")),
                            file_sha=f"{rng.getrandbits(256):064x}"))
            n += 1
    return sorted(out, key=lambda e: (e.ts, e.event_id))


def many_issuers(n: int) -> list[str]:
    return [f"某{a}{b}县人民医院" for a in "东南西北中上下前后左" for b in "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"][:n]


def wave(n: int, *, issuer: str = COUNTY, seal: str | None = None, kind: str = "medical_certificate",
         ages=None, per_day: float = 5.0, start_h: float = WAVE_START_H, prefix: str = "fw", file_sha=None) -> list:
    """A forged wave: one issuer, young complainants, several institutions, office hours."""
    seal = seal if seal is not None else issuer + "诊断证明专用章"
    ages = ages or [23, 31, 27, 34, 25, 29, 22, 33, 26, 30] * 4
    insts = ("bank-a", "bank-b", "cfc-d", "cfc-e")
    out = []
    for i in range(n):
        day, slot = divmod(i, int(per_day))
        h = start_h + day * DAY_H + slot * (8.0 / per_day)
        out.append(cert(f"{prefix}-{i:04d}", h, f"{prefix}-C{i:04d}", issuer, seal, ages[i], kind=kind,
                        inst=insts[i % 4], file_sha=file_sha(i) if file_sha else None))
    return out


def merge(*streams):
    return sorted((e for s in streams for e in s), key=lambda e: (e.ts, e.event_id))


def run(det, events) -> list[Finding]:
    return [f for e in events for f in det.update(e)]


def first_hit(det, events, prefix: str) -> int | None:
    """Index (1-based) of the wave event whose update first produced a finding."""
    k = 0
    for e in events:
        fs = det.update(e)
        if e.event_id.startswith(prefix):
            k += 1
            if fs:
                return k
    return None


def background(seed: int = 3, days: int = 21) -> list:
    return genuine_flow(random.Random(seed), days, 10.0, many_issuers(200))


# ---------------------------------------------------------------- seal rules


def test_seal_rules():
    assert seal_reasons("medical_certificate", "某市中心医院", "某市中心医院门诊专用章") == ["wrong_seal_type"]
    assert seal_reasons("medical_certificate", "某市中心医院", "某市中心医院财务专用章") == ["wrong_seal_type"]
    assert seal_reasons("medical_certificate", "某市第一人民医院", "某市中心医院诊断证明专用章") == ["seal_issuer_mismatch"]
    assert seal_reasons("hardship_certificate", "某某村某某街道", "某某村某某街道公章") == ["admin_order_reversed"]
    assert "admin_order_reversed" in seal_reasons("hardship_certificate", "某某街道", "某某村某某街道公章")
    assert "issuer_kind_mismatch" in seal_reasons("medical_certificate", "某某村村民委员会", "某某村村民委员会公章")
    # plausible: matching seal, a seal dropping the higher-level prefix, proper order, look-alike words
    assert seal_reasons("medical_certificate", "某县人民医院", "某县人民医院诊断证明专用章") == []
    assert seal_reasons("hardship_certificate", "某镇某村村民委员会", "某村村民委员会公章") == []
    assert seal_reasons("hardship_certificate", "某市某区某街道某社区居民委员会", "某社区居民委员会公章") == []
    assert seal_reasons("medical_certificate", "镇江市第一人民医院", "镇江市第一人民医院诊断证明专用章") == []
    assert seal_reasons("medical_certificate", "某区社区卫生服务中心", "某区社区卫生服务中心公章") == []
    assert seal_reasons("hardship_certificate", "某县某某村镇银行", None) == []
    assert seal_reasons("medical_certificate", COUNTY, None) == []


def test_issuer_normalisation_and_key():
    assert normalise_issuer(" 某县 人民医院。") == normalise_issuer("某县人民医院") == "某县人民医院"
    assert normalise_issuer("ＡＢＣ医院") == "abc医院"  # NFKC full-width, case-folded
    k = issuer_key("某县人民医院", "medical")
    assert k.startswith("issuer:") and k.endswith(":medical") and len(k.split(":")[1]) == 16
    assert "某县" not in k


# ---------------------------------------------------------------- fires


def test_fires_early_on_a_forged_wave():
    forged = wave(20)
    det = IssuerSurge()
    events = merge(background(), forged)
    findings = run(det, events)
    assert findings
    assert all(eid.startswith("fw-") for f in findings for eid in f.event_ids)
    det2 = IssuerSurge()
    assert first_hit(det2, events, "fw-") == 3  # the 3rd young complainant within hours
    f = findings[0]
    assert f.key == issuer_key(normalise_issuer(COUNTY), "medical")
    assert f.trigger_id == "fw-0002" and f.event_ids == ["fw-0000", "fw-0001", "fw-0002"]
    ev = f.evidence
    assert ev["issuer"] == COUNTY and ev["issuer_class"] == "medical"
    assert ev["certificate_kinds"] == {"medical_certificate": 3}
    assert ev["distinct_complainants"] == 3 and ev["institutions"] == 3
    assert ev["young_share"] == 1.0 and ev["reused_sha256"] == 0 and ev["implausible_seals"] == 0
    assert ev["seal_reasons"] == {} and ev["seal_types"] == {"诊断证明专用章": 3}
    assert 0 < ev["p_value"] < 1e-5 and ev["baseline_per_30d"] < 0.5
    assert f.severity in ("warning", "critical") and f.summary.endswith(".") and COUNTY in f.summary
    blob = orjson.dumps(findings).decode()
    assert "fw-C" not in blob and "无力还款" not in blob  # no complainant ids, no text


def test_implausible_seals_fire_earlier():
    events_ok = merge(background(), wave(12))
    events_bad = merge(background(), wave(12, seal=COUNTY + "门诊专用章"))
    plain = first_hit(IssuerSurge(), events_ok, "fw-")
    bad = first_hit(IssuerSurge(), events_bad, "fw-")
    assert bad == 2 and plain == 3
    f = run(IssuerSurge(), events_bad)[0]
    assert f.evidence["seal_reasons"] == {"wrong_seal_type": 2} and f.evidence["implausible_seals"] == 2
    assert "wrong seal type" in f.summary
    # a seal naming another hospital
    other = first_hit(IssuerSurge(), merge(background(), wave(12, seal="某市中心医院诊断证明专用章")), "fw-")
    assert other == 2
    # a village that "contains" a street office: hardship certificates with a reversed administrative order
    village = "某某村某某街道"
    rev = first_hit(IssuerSurge(), merge(background(), wave(12, issuer=village, seal=village + "公章",
                                                            kind="hardship_certificate")), "fw-")
    ok = first_hit(IssuerSurge(), merge(background(), wave(12, issuer="某镇某村村民委员会", seal="某村村民委员会公章",
                                                           kind="hardship_certificate")), "fw-")
    assert rev == 2 and ok is not None and rev < ok


def test_reused_scans_fire_on_older_complainants():
    older = [58, 61, 55, 63, 57, 60] * 3
    own = first_hit(IssuerSurge(), merge(background(), wave(12, ages=older)), "fw-")
    reused = first_hit(IssuerSurge(), merge(background(), wave(12, ages=older, file_sha=lambda i: sha(f"scan{i % 2}"))), "fw-")
    assert reused is not None and (own is None or reused < own)
    assert reused <= 3


def test_three_elderly_patients_in_a_day_do_not_fire():
    assert run(IssuerSurge(), merge(background(days=10), wave(3, ages=[66, 71, 59]))) == []
    # ... while three young "critically ill" complainants in a morning do
    assert run(IssuerSurge(), merge(background(days=10), wave(3)))


def test_warmup_only_learns():
    det = IssuerSurge()
    early = wave(10, start_h=9.5)  # a wave in the detector's first days is learned, not reported
    assert run(det, early) == []


# ---------------------------------------------------------------- stays silent


def test_silent_on_big_hospital_at_a_steady_rate():
    rng = random.Random(11)
    big = genuine_flow(rng, 60, 4.0, [BIG], prefix="big", age=(48.0, 15.0))
    rest = genuine_flow(rng, 60, 8.0, many_issuers(200), prefix="sc")
    det = IssuerSurge()
    assert run(det, merge(big, rest)) == []
    assert len(big) > 150


def test_silent_on_scattered_genuine_certificates():
    for seed in range(3):
        rng = random.Random(seed)
        iss = many_issuers(200)
        uniform = genuine_flow(rng, 60, 12.0, iss, prefix="u")
        zipf = genuine_flow(rng, 60, 12.0, iss, weights=[1 / (i + 1) for i in range(len(iss))], prefix="z")
        assert run(IssuerSurge(), uniform) == []
        assert run(IssuerSurge(), zipf) == []


def test_a_wave_is_still_caught_inside_a_busy_genuine_flow():
    rng = random.Random(5)
    iss = many_issuers(200)
    flow = merge(genuine_flow(rng, 21, 4.0, [BIG], prefix="big"),
                 genuine_flow(rng, 21, 12.0, iss, weights=[1 / (i + 1) for i in range(len(iss))], prefix="z"),
                 wave(15))
    det = IssuerSurge()
    k = first_hit(det, flow, "fw-")
    assert k is not None and k <= 4


# ---------------------------------------------------------------- contract-style properties


def test_deterministic_pickles_and_ignores_redelivery():
    events = merge(background(), wave(20), wave(8, issuer="某市中心医院", seal="某市中心医院门诊专用章", prefix="fx",
                                              start_h=WAVE_START_H + 50))
    a = orjson.dumps(run(IssuerSurge(), events), option=orjson.OPT_SORT_KEYS)
    assert a == orjson.dumps(run(IssuerSurge(), events), option=orjson.OPT_SORT_KEYS)
    assert orjson.dumps(run(IssuerSurge(), [e for e in events for _ in range(2)]), option=orjson.OPT_SORT_KEYS) == a
    det = IssuerSurge()
    cut = next(i for i, e in enumerate(events) if e.event_id == "fw-0004")
    first = run(det, events[:cut])
    restored = pickle.loads(pickle.dumps(det))
    assert restored.stats() == det.stats()
    rest_a, rest_b = run(det, events[cut:]), run(restored, events[cut:])
    assert rest_a and orjson.dumps(rest_a) == orjson.dumps(rest_b)
    assert orjson.dumps(first + rest_a, option=orjson.OPT_SORT_KEYS) == a


def test_state_is_bounded_with_certificates():
    det = IssuerSurge(max_keys=100)
    rng = random.Random(1)
    for i, e in enumerate(genuine_flow(rng, 40, 60.0, [f"某县第{i}医院" for i in range(5000)], prefix="b")):
        det.update(e)
        assert det.stats()["tracked_keys"] <= 100
    st = det.stats()
    assert st["evicted_total"] > 0 and set(st) >= {"tracked_keys", "evicted_total"}
    assert len(pickle.dumps(det)) < 2_000_000


def test_person_name_in_issuer_is_never_echoed():
    forged = wave(8, issuer="欧阳娜娜", seal="欧阳娜娜印章")
    fs = run(IssuerSurge(), merge(background(), forged))
    assert fs
    blob = orjson.dumps(fs).decode()
    assert "欧阳娜娜" not in blob and fs[0].evidence["issuer"] is None
    assert "one issuer" in fs[0].summary


# ---------------------------------------------------------------- compact per-key state


def _as_old_layout(det: IssuerSurge, a: _Issuer) -> dict:
    """``a``'s state as checkpoints before the compact layout held it: dicts, a deque of
    event ids, a rate model from the founding event on, separate kind / seal-type tallies."""
    kinds, seal_types = cert_counts(a.certs)
    shas = a.shas or []
    return {
        "cls": a.cls, "display": a.display,
        "members": {m: list(r) for m, r in zip(a.member_ids(), a.member_recs())},
        "insts": dict(zip(a.insts[0::2], a.insts[1::2])),
        "events": deque(a.event_ids(), maxlen=det.max_event_ids),
        "rate": copy.deepcopy(a.rate_model(det.bucket, det.max_recent)),
        "kinds": kinds, "seal_types": seal_types, "reasons": dict(a.reasons or {}),
        "shas": {(k.hex() if isinstance(k, bytes) else k): who for k, who in zip(shas[0::2], shas[1::2])},
        "reused": a.reused, "first_ts": a.first_ts, "last_ts": a.last_ts, "n_events": a.n_events,
        "fired": a.fired, "w_first": 1.0,
    }


def test_old_checkpoint_layout_loads_and_continues_identically():
    events = merge(background(), wave(20, file_sha=lambda i: sha(f"scan {i // 3}")),
                   wave(8, issuer="某市中心医院", seal="某市中心医院门诊专用章", prefix="fx", start_h=WAVE_START_H + 1))
    cut = next(i for i, e in enumerate(events) if e.event_id == "fw-0008")
    det = IssuerSurge()
    run(det, events[:cut])
    old = pickle.loads(pickle.dumps(det))
    for k, a in old._keys.items():
        b = _Issuer.__new__(_Issuer)
        b.__setstate__(_as_old_layout(old, a))
        old._keys[k] = b
    assert any(a.reasons for a in old._keys.values()) and any(a.reused for a in old._keys.values())
    rest = run(det, events[cut:])
    assert rest and orjson.dumps(run(old, events[cut:])) == orjson.dumps(rest)


def test_a_key_seen_once_is_compact_and_expands_with_its_second_event():
    det = IssuerSurge(max_event_ids=2)
    e1 = cert("e-1", 1.0, "c1", COUNTY, COUNTY + "诊断证明专用章", 30)
    e2 = cert("e-2", 2.0, "c2", COUNTY, COUNTY + "门诊专用章", 60, inst="bank-b")
    e3 = cert("e-3", 3.0, "c1", COUNTY, COUNTY + "门诊专用章", 30)
    det.update(e1)
    (a,) = det._keys.values()
    assert a.members == (e1.complainant, e1.ts, e1.ts, 1, 0) and a.events == "e-1" and a.rate is None
    assert a.has_event("e-1") and not a.has_event("e-") and a.event_ids() == ["e-1"]
    assert cert_counts(a.certs) == ({"medical_certificate": 1}, {"诊断证明专用章": 1})
    det.update(e2)
    det.update(e3)
    assert a.members == {e1.complainant: [e1.ts, e3.ts, 1, 1], e2.complainant: [e2.ts, e2.ts, 0, 1]}
    assert a.event_ids() == ["e-2", "e-3"] and not a.has_event("e-1")
    assert cert_counts(a.certs) == ({"medical_certificate": 3}, {"诊断证明专用章": 1, "门诊专用章": 2})
    assert a.rate.recent[0::2] == [e1.ts, e2.ts]  # the founder's zero, then the second complainant
    assert a.rate.recent[1] == 0.0 and a.rate.recent[3] > 0.0
    assert dict(zip(a.insts[0::2], a.insts[1::2])) == {e1.institution: e3.ts, e2.institution: e2.ts}


def test_scan_hashes_are_kept_one_to_one():
    h = sha("x")
    assert sha_key(f"  {h.upper()} ") == bytes.fromhex(h)
    spaced = h[:30] + "  " + h[32:]  # 64 characters, 62 hex digits
    assert sha_key(spaced) == spaced and sha_key("not-a-hash") == "not-a-hash"
    det = IssuerSurge()
    first = cert("s-1", 1.0, "c1", COUNTY, COUNTY + "诊断证明专用章", 30, file_sha=h)
    det.update(first)
    det.update(cert("s-2", 2.0, "c2", COUNTY, COUNTY + "诊断证明专用章", 30, file_sha=h))  # the contract admits lower-case hex only
    (a,) = det._keys.values()
    assert a.reused == 1 and a.shas == [bytes.fromhex(h), first.complainant]
