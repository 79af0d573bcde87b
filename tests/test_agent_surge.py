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
    evs = [ev(f"s{i}", 9 + 2 * i, f"C{i}", contacts=[("phone", AGENCY_PHONE, "self")]) for i in range(8)]
    fs = run(det, evs)
    assert fs and fs[0].key == TEST_PSEUDO("phone", AGENCY_PHONE)
    assert fs[0].evidence["roles"] == ["self"]
    assert fs[0].evidence["distinct_complainants"] <= 4
    # the first (pre-promotion) sighting is part of the evidence
    assert fs[0].event_ids[0] == "s0"
    assert det.stats()["promoted_total"] == 1


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
