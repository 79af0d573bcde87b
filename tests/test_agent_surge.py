"""agent_surge: fires on agencies early, stays silent on households, relatives and lawyers."""
from __future__ import annotations

import random

from detector_streams import agency_stream, ev, merge, organic_stream

from detectors import AgentSurge
from streamer.testing import TEST_PSEUDO

AGENCY_PHONE = "17300000001"


def run(det, events):
    return [f for e in events for f in det.update(e)]


def test_agency_phone_fires_by_the_fourth_complainant():
    evs = [
        ev(f"a{i}", 9 + 3 * i, f"C{i}", inst=("bank-a", "bank-b", "cfc-d")[i % 3],
           contacts=[("phone", AGENCY_PHONE, "representative")])
        for i in range(8)
    ]
    det = AgentSurge()
    per_event = [det.update(e) for e in evs]
    first = next(i for i, fs in enumerate(per_event) if fs)
    assert first <= 3  # the 3rd or 4th complainant
    f = per_event[first][0]
    assert f.key == TEST_PSEUDO("phone", AGENCY_PHONE)
    assert f.key.startswith("phone:")
    assert f.trigger_id == evs[first].event_id
    assert f.event_ids == [e.event_id for e in evs[: first + 1]]
    assert f.evidence["distinct_complainants"] == first + 1
    assert f.evidence["institutions"] == min(3, first + 1)
    assert f.evidence["kind"] == "phone" and f.evidence["roles"] == ["representative"]
    assert 0 < f.evidence["p_value"] < 1e-5
    assert f.severity in ("warning", "critical")
    assert "complainants" in f.summary and AGENCY_PHONE not in f.summary
    # it keeps firing while the agency acts for more people, with a growing score
    later = [fs[0] for fs in per_event[first + 1:] if fs]
    assert len(later) == len(evs) - first - 1
    assert later[-1].score > f.score


def test_two_complainants_never_fire_however_fast():
    det = AgentSurge()
    evs = [ev(f"x{i}", 0.01 * i, f"C{i % 2}", contacts=[("phone", AGENCY_PHONE, "representative")]) for i in range(20)]
    assert run(det, evs) == []


def test_repeat_complaints_by_the_same_people_add_no_finding():
    det = AgentSurge()
    evs = [ev(f"a{i}", i, f"C{i}", contacts=[("phone", AGENCY_PHONE, "representative")]) for i in range(6)]
    assert run(det, evs)
    again = [ev(f"r{i}", 10 + i, f"C{i}", contacts=[("phone", AGENCY_PHONE, "representative")]) for i in range(6)]
    assert run(det, again) == []


def test_agency_phone_labelled_self_is_caught_once_shared():
    det = AgentSurge()
    evs = [ev(f"s{i}", 9 + 2 * i, f"C{i}", inst=("bank-a", "bank-b", "cfc-d")[i % 3],
              contacts=[("phone", AGENCY_PHONE, "self")]) for i in range(8)]
    fs = run(det, evs)
    assert fs and fs[0].key == TEST_PSEUDO("phone", AGENCY_PHONE)
    assert fs[0].evidence["roles"] == ["self"]
    assert fs[0].evidence["distinct_complainants"] <= 4
    # the first (pre-promotion) sighting is part of the evidence
    assert fs[0].event_ids[0] == "s0"
    assert det.stats()["promoted_total"] == 1


def _scores(events) -> list[float]:
    """The phone key's score at each event (its finding's, or its sub-threshold surprise's)."""
    det, out = AgentSurge(), []
    for e in events:
        fs = det.update(e)
        out.append(fs[0].score if fs else max((x.score for x in det.surprises()), default=0.0))
    return out


def test_agency_confined_to_one_institution_scores_lower_than_one_spread_over_banks():
    # a key seen at a single institution might be the institution's own contact:
    # it is judged against confined_factor x the prior, and fires no earlier
    evs = [ev(f"s{i}", 9 + 2 * i, f"C{i}", contacts=[("phone", AGENCY_PHONE, "self")]) for i in range(8)]
    fs = run(AgentSurge(), evs)
    assert fs[0].evidence["distinct_complainants"] == 4
    assert fs[0].evidence["confined"] is True and fs[0].evidence["prior_factor"] == 3.0
    spread = [ev(e.event_id, 9 + 2 * i, f"C{i}", inst=("bank-a", "bank-b")[i % 2],
                 contacts=[("phone", AGENCY_PHONE, "self")]) for i, e in enumerate(evs)]
    assert run(AgentSurge(), spread)[0].evidence["distinct_complainants"] == 4
    # at every count from the 3rd complainant on, spreading over banks is worth at least log10 3
    for confined, spread_score in list(zip(_scores(evs), _scores(spread)))[2:]:
        assert spread_score - confined >= 0.47


def test_earlier_self_sighting_founds_a_key_first_given_in_another_role():
    det = AgentSurge()
    run(det, [ev("s0", 9, "C0", contacts=[("phone", AGENCY_PHONE, "self")]),
              ev("s1", 10, "C1", inst="bank-b", contacts=[("phone", AGENCY_PHONE, "representative")])])
    a = det._keys[TEST_PSEUDO("phone", AGENCY_PHONE)]
    assert len(a.members) == 2 and list(a.events) == ["s0", "s1"]
    assert det.stats()["self_contacts"] == 0 and det.stats()["promoted_total"] == 1


_CALL = "自称客户配偶来电，要求停息挂账、减免罚息。"


def impersonation_calls(n: int, *, start_h: float = 24 * 3 + 9, every_h: float = 1.5, prefix: str = "call"):
    """One phone calling hotlines for ``n`` debtors, given as representative or (caller ID) self."""
    insts = ("bank-a", "bank-b", "cfc-d", "cfc-e")
    return [ev(f"{prefix}-{i:03d}", start_h + every_h * i, f"{prefix}-D{i}", inst=insts[i % 4], channel="hotline",
               category=("collection", "hardship_relief")[i % 2], text=_CALL,
               contacts=[("phone", AGENCY_PHONE, ("self", "representative", "self")[i % 3])])
            for i in range(n)]


def test_hotline_impersonation_calls_fire_by_the_fourth_debtor():
    rng = random.Random(5)
    calls = impersonation_calls(20)
    det = AgentSurge()
    fs = []
    first = None
    for e in merge(organic_stream(rng, 1500), calls):
        got = det.update(e)
        if got and first is None:
            first = got[0]
        fs += got
    assert first is not None and first.key == TEST_PSEUDO("phone", AGENCY_PHONE)
    assert first.evidence["distinct_complainants"] == 4
    assert first.evidence["channels"] == ["hotline"] and first.evidence["institutions"] == 4
    assert sorted(first.evidence["roles"]) == ["representative", "self"]
    assert {f.key for f in fs} == {first.key}
    assert all(eid.startswith("call-") for f in fs for eid in f.event_ids)
    assert max(f.evidence["distinct_complainants"] for f in fs) == 20


def test_branch_landline_for_elderly_customers_stays_silent():
    rng = random.Random(3)
    det = AgentSurge()
    evs = []
    for day in range(14):
        for k in range(rng.choice((0, 1, 2, 2, 3, 4))):
            i = len(evs)
            evs.append(ev(f"bl{i}", 24 * day + 9 + 2 * k, f"elder{i}", inst="bank-b", channel="branch",
                          category=rng.choice(("service", "interest_fees", "fraud", "other", "collection")),
                          contacts=[("phone", "0731-84561234", rng.choice(("self", "unknown")))]))
    assert len(evs) > 20
    assert run(det, evs) == []
    assert det.stats()["own_line_total"] == 1


def test_counter_line_seen_at_another_institution_is_judged():
    # branch-only at one institution is the institution's line; the same
    # contact turning up at other institutions' counters is not
    evs = [ev(f"b{i}", 9 + 2 * i, f"C{i}", inst=("bank-a", "bank-b", "bank-c")[i % 3] if i >= 4 else "bank-a",
              channel="branch", contacts=[("phone", AGENCY_PHONE, "unknown")]) for i in range(10)]
    fs = run(AgentSurge(), evs)
    assert fs and fs[0].trigger_id == "b4" and fs[0].evidence["distinct_complainants"] == 5


def test_scam_number_reported_by_fraud_victims_stays_silent():
    scam = "17099990000"
    det = AgentSurge()
    evs = [ev(f"sc{i}", 24 * 2 + 0.7 * i, f"victim{i}", inst=("bank-a", "bank-b", "bank-c", "cfc-d")[i % 4],
              channel=("hotline", "app")[i % 2], category="fraud",
              contacts=[("phone", f"139{i:08d}", "self"), ("phone", scam, "unknown")]) for i in range(30)]
    assert run(det, evs) == []
    assert det.stats()["third_party_total"] == 30
    assert TEST_PSEUDO("phone", scam) not in det._keys
    # the exemption is for reported third parties only: the same number acting
    # for debtors in collection complaints is judged as usual
    acting = [ev(f"ac{i}", 24 * 4 + i, f"debtor{i}", inst=("bank-a", "bank-b")[i % 2],
                 contacts=[("phone", scam, "unknown")]) for i in range(6)]
    assert run(det, acting)


def test_legal_aid_clinic_with_a_few_clients_a_month_stays_silent():
    clinic = [("phone", "02188886666", "representative"), ("representative", "赵律师", "representative"),
              ("organization", "某区法律援助中心", "representative")]
    insts = ("bank-a", "cfc-d", "bank-c", "bank-b")
    for span_h, n in ((24 * 28, 4), (24 * 7, 4), (48, 3)):
        evs = [ev(f"la{i}", span_h * i / (n - 1), f"client{i}", inst=insts[i % 4], contacts=clinic) for i in range(n)]
        assert run(AgentSurge(), evs) == [], (span_h, n)


def _first_summary(kind: str, value: str, role: str, insts=("bank-a", "bank-b", "cfc-d")) -> str:
    evs = [ev(f"x{i}", 9 + i, f"C{i}", inst=insts[i % len(insts)], contacts=[(kind, value, role)]) for i in range(12)]
    return run(AgentSurge(), evs)[0].summary


def test_summaries_name_the_kind_and_role_in_plain_english():
    assert _first_summary("phone", AGENCY_PHONE, "representative") == (
        "A phone given as a representative's contact acted for 4 complainants at 3 institutions in 3 hours; "
        "a phone normally acts for 1 complainant plus 0.11 more per 30 days (p=1e-07).")
    assert _first_summary("representative", "刘某", "representative") == (
        "A representative's name acted for 4 complainants at 3 institutions in 3 hours; "
        "a representative's name normally acts for 1 complainant plus 0.31 more per 30 days (p=3e-06).")
    s = _first_summary("address", "上海市徐汇区某路1号", "self", insts=("bank-a",))
    assert s == ("An address given as a complainant's own contact acted for 6 complainants at 1 institution in "
                 "5 hours; an address seen at a single institution normally acts for 1 complainant plus 1.5 more "
                 "per 30 days (p=2e-06).")
    s = _first_summary("organization", "某某信息咨询有限公司", "representative")
    assert s.startswith("An organisation named as representative acted for ")
    s = _first_summary("email", "agent@x.cn", "unknown")
    assert s.startswith("An e-mail address given with no stated role acted for ")
    for s in (_first_summary("phone", AGENCY_PHONE, "representative"), _first_summary("address", "某路1号", "unknown")):
        assert "representative representative" not in s and " a address" not in s
        assert AGENCY_PHONE not in s and "某路1号" not in s


def test_couple_sharing_an_address_and_a_phone_stays_silent():
    det = AgentSurge()
    evs = []
    for i in range(6):
        for who in ("wife", "husband"):
            evs.append(ev(f"{who}{i}", 24 * i + (who == "wife"), who, inst=("bank-a", "cfc-d")[i % 2],
                          contacts=[("phone", "13912345678", "self"), ("address", "上海市徐汇区某路1号", "self")]))
    assert run(det, merge(evs)) == []
    assert det.stats()["tracked_keys"] == 2  # both shared contacts were promoted, and judged


def test_family_representative_for_one_customer_stays_silent():
    det = AgentSurge()
    evs = [ev(f"f{i}", 5 * i, "grandma", inst=("bank-a", "bank-b", "bank-c", "cfc-d")[i % 4],
              contacts=[("phone", "13700000000", "representative"), ("representative", "王小明", "representative")])
           for i in range(10)]
    assert run(det, evs) == []


def test_lawyer_with_two_clients_stays_silent():
    det = AgentSurge()
    contacts = [("phone", "02188888888", "representative"), ("representative", "李律师", "representative"),
                ("organization", "正诚律师事务所", "representative")]
    evs = [ev(f"l{i}", 24 * i, f"client{i % 2}", inst=("bank-a", "cfc-e")[i % 2], contacts=contacts)
           for i in range(6)]
    assert run(det, evs) == []


def test_law_firm_with_a_few_clients_a_month_stays_silent_but_a_rush_fires():
    det = AgentSurge()
    firm = [("organization", "正诚律师事务所", "representative")]
    evs = [ev(f"l{i}", 24 * 9 * i, f"client{i}", contacts=firm) for i in range(4)]  # 4 clients in a month
    assert run(det, evs) == []
    rush = [ev(f"r{i}", 24 * 40 + 0.5 * i, f"rush{i}", contacts=firm) for i in range(12)]
    assert run(det, rush)


def test_organic_flow_with_an_agency_flags_only_the_agency():
    rng = random.Random(11)
    evs = merge(organic_stream(rng, 1500), agency_stream(rng, 10, start_h=24 * 2))
    fs = run(AgentSurge(), evs)
    keys = {f.key for f in fs}
    assert keys == {TEST_PSEUDO("phone", "17300000001"), TEST_PSEUDO("representative", "刘某")}
    assert all(eid.startswith("ag-") for f in fs for eid in f.event_ids)


def test_state_is_bounded_by_the_key_cap_and_ttl():
    det = AgentSurge(max_keys=100, max_self=300)
    for i in range(2000):
        det.update(ev(f"e{i}", i * 0.01, f"C{i}", contacts=[("phone", f"1360000{i:04d}", "representative"),
                                                             ("phone", f"1350000{i:04d}", "self")]))
        assert det.stats()["tracked_keys"] <= 100
        assert det.stats()["self_contacts"] <= 300
    assert det.stats()["evicted_total"] == 1900
    # 60 days later everything is cold and goes with the next event
    det.update(ev("late", 24 * 60, "late", contacts=[]))
    assert det.stats()["tracked_keys"] < 100


def test_members_are_forgotten_outside_the_window():
    det = AgentSurge()
    phone = [("phone", AGENCY_PHONE, "representative")]
    # one new client every 20 days: never 3 within the 30-day window at once... except overlap of 2
    evs = [ev(f"w{i}", 24 * 20 * i, f"C{i}", contacts=phone) for i in range(6)]
    assert run(det, evs) == []
    assert len(det._keys[TEST_PSEUDO("phone", AGENCY_PHONE)].members) == 2


def test_hard_profile_agencies_and_hotline_impersonators_caught_decoys_silent():
    from collections import Counter

    from streamer.contract import to_event, validate
    from streamer.simulate import simulate

    docs, truth = simulate("hard", 1)
    owner = {i: (g["type"], g["id"]) for grp in ("campaigns", "decoys") for g in truth[grp] for i in g["event_ids"]}
    calls = next(g for g in truth["campaigns"] if g["type"] == "impersonation_calls")
    det = AgentSurge()
    first: dict[str, int] = {}  # campaign id -> its events seen when first flagged
    seen = Counter()
    for doc in docs:
        e = to_event(validate(doc), TEST_PSEUDO)
        if e.event_id in owner:
            seen[owner[e.event_id][1]] += 1
        for f in det.update(e):
            (kind, gid), _ = Counter(owner.get(i, ("organic", "")) for i in f.event_ids).most_common(1)[0]
            assert kind in ("agency_letters", "impersonation_calls"), (kind, gid, f.summary)
            first.setdefault(gid, seen[gid])
    assert set(first) == {"agency-slow", calls["id"]}
    assert first[calls["id"]] <= 5
    st = det.stats()
    assert st["own_line_total"] >= 1 and st["third_party_total"] >= 20


def test_version_1_checkpoint_state_restores():
    # v1 pickles have no channels / own-line flags / v2 counters and 4-tuples for self sightings
    det = AgentSurge()
    run(det, [ev(f"a{i}", i, f"C{i}", inst=("bank-a", "bank-b")[i % 2], contacts=[("phone", AGENCY_PHONE, "representative"),
                                                                                   ("phone", f"1390000{i:04d}", "self")])
              for i in range(3)])
    state = dict(det.__dict__)
    for k in ("max_channels", "confined_factor", "counter_channels", "third_party_categories",
              "third_party_total", "own_line_total"):
        del state[k]
    state["_self_seen"] = {k: v[:4] for k, v in det._self_seen.items()}
    old = AgentSurge.__new__(AgentSurge)
    old.__setstate__(state)
    for a in old._keys.values():
        a.__setstate__({k: getattr(a, k) for k in a.__slots__ if k not in ("chans", "own_line")})
    more = [ev(f"b{i}", 5 + i, f"D{i}", inst="cfc-d", contacts=[("phone", AGENCY_PHONE, "representative")]) for i in range(3)]
    assert run(old, more) and old.stats()["own_line_total"] == 0


def test_windows_clipped_to_a_young_keys_age_are_one_test():
    import math

    from detectors.agent_surge import _one_test_per_window
    from detectors.rates import Surprise as Score

    day = 86400.0
    scales = (day, 7 * day, 30 * day)
    raws = (4.3, 4.6, 4.6)
    s = Score(4.6 - math.log10(3), 10 ** -(4.6 - math.log10(3)), 7 * day, 2.0, 0.004, 0.004, 0.01, raws)
    # younger than a day: the three windows hold the same arrivals against the same expectation
    young = _one_test_per_window(s, scales, 6 * 3600.0, day)
    assert young.score == 4.6 and young.p_value == 10 ** -4.6
    assert (young.window, young.observed, young.per_scale) == (s.window, s.observed, raws)
    # three days old: the 1-day window differs, the 7- and 30-day ones are one test
    assert _one_test_per_window(s, scales, 3 * day, day).score == 4.6 - math.log10(2)
    # older than the longest window: three tests, as RateModel.score corrected them
    assert _one_test_per_window(s, scales, 40 * day, day) is s


def test_agency_phone_at_its_third_complainant_within_hours_is_judged_as_one_window():
    evs = [ev(f"a{i}", 9 + 2 * i, f"C{i}", inst=("bank-a", "bank-b")[i % 2],
              contacts=[("phone", AGENCY_PHONE, "representative")]) for i in range(3)]
    det = AgentSurge()
    for e in evs:
        det.update(e)
    (s,) = det.surprises()  # sub-threshold at 3 complainants, reported for corroboration
    a = next(iter(det._keys.values()))
    raw = a.rate.score(evs[-1].ts, det.scales, baseline=det._prior("phone").get(), given=1.0,
                       r_min=det._prior("phone").r_min, since=a.first_ts)
    assert s.score == round(max(raw.per_scale), 3) > raw.score
