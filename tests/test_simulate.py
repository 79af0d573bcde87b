"""Tests for the scenario simulator (streamer.simulate).

Fast by design: one cached ``small`` run is shared; only determinism runs the
generator more than once.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from streamer.simulate import PROFILES, simulate, write_scenario

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract"
SCHEMA = CONTRACT / "complaint-event.v1.schema.json"


@lru_cache(maxsize=None)
def _run(profile: str = "small", seed: int = 7) -> tuple[list[dict], dict]:
    return simulate(profile, seed)


def _bytes(tmp_path: Path, name: str, profile: str, seed: int) -> tuple[bytes, bytes]:
    events, truth = simulate(profile, seed)
    out = write_scenario(tmp_path / name, events, truth)
    return (out / "events.jsonl").read_bytes(), (out / "truth.json").read_bytes()


def test_profiles_exist() -> None:
    assert {"small", "default"} <= set(PROFILES)


def test_deterministic_same_seed(tmp_path: Path) -> None:
    a = _bytes(tmp_path, "a", "small", 7)
    b = _bytes(tmp_path, "b", "small", 7)
    assert a == b


def test_different_seed_differs(tmp_path: Path) -> None:
    a = _bytes(tmp_path, "a", "small", 7)
    c = _bytes(tmp_path, "c", "small", 8)
    assert a[0] != c[0]


def test_jsonl_is_utf8_unescaped(tmp_path: Path) -> None:
    events, truth = _run()
    out = write_scenario(tmp_path / "s", events, truth)
    raw = (out / "events.jsonl").read_bytes()
    assert "催收".encode() in raw and b"\\u" not in raw
    lines = raw.decode("utf-8").splitlines()
    assert len(lines) == len(events)
    assert json.loads(lines[0]) == events[0]
    assert json.loads((out / "truth.json").read_text("utf-8"))["n_events"] == len(events)


def test_small_size() -> None:
    events, truth = _run()
    assert 3000 <= len(events) <= 5000
    assert truth["n_events"] == len(events)


def test_events_validate_against_schema() -> None:
    if not SCHEMA.exists():
        pytest.skip(f"shared contract not found at {SCHEMA} (expected repo next to ../shared)")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    events, _ = _run()
    errors = [(e["event_id"], err.message) for e in events for err in validator.iter_errors(e)]
    assert not errors, errors[:5]


def test_sorted_unique_and_offset() -> None:
    events, _ = _run()
    ts = [e["ts"] for e in events]
    assert ts == sorted(ts)
    assert all(t.endswith("+08:00") for t in ts)
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))


def test_repeat_of_points_backwards() -> None:
    events, _ = _run()
    seen: set[str] = set()
    n = 0
    for e in events:
        if "repeat_of" in e:
            assert e["repeat_of"] in seen
            n += 1
        seen.add(e["event_id"])
    assert n > 0


def test_truth_ids_exist_and_disjoint() -> None:
    events, truth = _run()
    ids = {e["event_id"] for e in events}
    seen: set[str] = set()
    assert truth["campaigns"] and truth["decoys"]
    for group in truth["campaigns"]:
        g = set(group["event_ids"])
        assert g and g <= ids
        assert not g & seen, f"{group['id']} overlaps another campaign"
        seen |= g
    for group in truth["decoys"]:
        g = set(group["event_ids"])
        assert g <= ids
        assert not g & seen, f"decoy {group['id']} overlaps a campaign"
    types = {g["type"] for g in truth["campaigns"]}
    assert {"agency_letters", "covert_template"} <= types
    assert {"app_outage", "generic_hotline", "shared_address"} <= {g["type"] for g in truth["decoys"]}


def test_collection_share_of_organic() -> None:
    events, truth = _run()
    labelled = {i for g in (*truth["campaigns"], *truth["decoys"]) for i in g["event_ids"]}
    organic = [e for e in events if e["event_id"] not in labelled]
    share = sum(e["category"] == "collection" for e in organic) / len(organic)
    assert 0.25 <= share <= 0.35, share


def test_campaign_shape() -> None:
    events, truth = _run()
    by_id = {e["event_id"]: e for e in events}
    for group in truth["campaigns"]:
        evs = [by_id[i] for i in group["event_ids"]]
        assert len({e["institution"] for e in evs}) >= 2, group["id"]
        if group["type"] == "agency_letters":
            assert 20 <= len({e["complainant"]["id"] for e in evs}) <= 60
            phones = [c["value"] for e in evs for c in e.get("contacts", []) if c["kind"] == "phone"]
            shared = {p for p in phones if phones.count(p) >= 5}
            assert 1 <= len(shared) <= 3
        if group["type"] == "covert_template":
            phones = [c["value"] for e in evs for c in e.get("contacts", []) if c["kind"] == "phone"]
            assert len(phones) == len(set(phones)), "covert campaign must not share contacts"


def test_every_profile_generator_is_registered() -> None:
    from streamer.simulate.core import ALL_CAMPAIGNS, ALL_DECOYS

    for prof in PROFILES.values():
        assert all(s.kind in ALL_CAMPAIGNS for s in prof.campaigns), prof.name
        assert all(s.kind in ALL_DECOYS for s in prof.decoys), prof.name


@pytest.mark.parametrize("profile", ["default", "hard"])
def test_larger_profiles(profile: str) -> None:
    if profile not in PROFILES:
        pytest.skip(f"profile {profile!r} not defined")
    events, truth = _run(profile, 7)
    assert 10 <= PROFILES[profile].days <= 14
    assert 15_000 <= len(events) <= 25_000
    ids = {e["event_id"] for e in events}
    assert len(ids) == len(events)
    seen: set[str] = set()
    for group in truth["campaigns"]:
        g = set(group["event_ids"])
        assert g and g <= ids and not g & seen, group["id"]
        seen |= g
        assert len(group["institutions"]) >= 2, group["id"]
    for group in truth["decoys"]:
        assert set(group["event_ids"]) <= ids and not set(group["event_ids"]) & seen, group["id"]


def test_hard_impersonation_calls_campaign() -> None:
    events, truth = _run("hard", 7)
    by_id = {e["event_id"]: e for e in events}
    group = next(g for g in truth["campaigns"] if g["type"] == "impersonation_calls")
    evs = [by_id[i] for i in group["event_ids"]]
    phone = group["shared_contacts"]["phones"][0]
    assert all(e["channel"] == "hotline" and e["category"] in ("collection", "hardship_relief") for e in evs)
    assert 15 <= len({e["complainant"]["id"] for e in evs}) <= 30
    assert len({e["institution"] for e in evs}) >= 2
    roles = [c["role"] for e in evs for c in e["contacts"] if c["value"] == phone]
    assert len(roles) == len(evs) and {"self", "representative"} == set(roles)  # on every call, both labels
    assert len({e.get("text") for e in evs}) > len(evs) // 2  # short, varied summaries
    assert all(len(e["text"]) < 120 for e in evs if "text" in e)


def test_hard_profile_is_deterministic() -> None:
    assert simulate("hard", 7) == _run("hard", 7)


# -- held-out profile ----------------------------------------------------------------------------
HOLDOUT_CAMPAIGN_TYPES = {"drip_agency", "burst_agency", "multichannel_agency", "english_agency", "repair_paraphrase"}
HOLDOUT_SURGES = {"login_outage", "fee_change_wave", "branch_closure", "self_help_template"}


def _holdout_groups(seed: int = 7) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    events, truth = _run("holdout", seed)
    by_id = {e["event_id"]: e for e in events}
    groups = {g["id"]: g for g in (*truth["campaigns"], *truth["decoys"])}
    return groups, {gid: [by_id[i] for i in g["event_ids"]] for gid, g in groups.items()}


def test_holdout_is_deterministic_by_seed() -> None:
    assert simulate("holdout", 7) == _run("holdout", 7)
    other, _ = _run("holdout", 8)
    assert [e.get("text") for e in other[:500]] != [e.get("text") for e in _run("holdout", 7)[0][:500]]


def test_holdout_labels_what_it_plants() -> None:
    events, truth = _run("holdout", 7)
    assert PROFILES["holdout"].days == 21
    assert {g["type"] for g in truth["campaigns"]} == HOLDOUT_CAMPAIGN_TYPES
    ids, seen = {e["event_id"] for e in events}, set()
    for g in truth["campaigns"]:  # same truth shape as the other profiles, so evaluate scores it
        assert {"id", "type", "event_ids", "start", "end", "institutions", "n_complainants"} <= set(g)
        s = set(g["event_ids"])
        assert s and s <= ids and not s & seen, g["id"]
        seen |= s
    for g in truth["decoys"]:
        assert not set(g["event_ids"]) & seen, g["id"]


def test_holdout_campaign_shapes() -> None:
    groups, evs = _holdout_groups()
    day = lambda e: e["ts"][:10]  # noqa: E731
    drip = evs["drip-1"]
    per_day = [sum(day(e) == d for e in drip) for d in {day(e) for e in drip}]
    assert len(per_day) >= 15 and max(per_day) <= 8, per_day  # slow: a few a day over ~three weeks
    agency = set(groups["drip-1"]["shared_contacts"]["phones"])
    used = [c["value"] for e in drip for c in e.get("contacts", []) if c["value"] in agency]
    assert len(used) == len(drip) and len(set(used)) >= 4  # one agency number on each, rotating among several
    assert max(used.count(p) for p in set(used)) < 0.5 * len(used)
    assert {"letter", "hotline", "regulator"} <= {e["channel"] for e in drip}
    assert len({day(e) for e in evs["burst-1"]}) == 1 and len(evs["burst-1"]) == 20
    assert {"letter", "hotline", "regulator"} <= {e["channel"] for e in evs["multi-1"]}
    assert any("repeat_of" in e for e in evs["multi-1"])
    assert all(sum(ch.isascii() for ch in e["text"]) > 0.8 * len(e["text"]) for e in evs["english-1"])
    phones = [c["value"] for e in evs["repair-1"] for c in e.get("contacts", []) if c["kind"] == "phone"]
    assert len(phones) == len(set(phones))  # only the text links them


def test_holdout_contains_the_genuine_surges() -> None:
    groups, evs = _holdout_groups()
    assert HOLDOUT_SURGES <= {g["type"] for g in groups.values()}
    from datetime import datetime
    out = evs["outage-login"]
    span_h = (datetime.fromisoformat(out[-1]["ts"]) - datetime.fromisoformat(out[0]["ts"])).total_seconds() / 3600
    texts = sorted(len(e["text"]) for e in out if e["channel"] != "hotline" and "text" in e)
    assert len({e["complainant"]["id"] for e in out}) >= 150 and span_h <= 3 and texts[len(texts) // 2] <= 20
    assert len({e["complainant"]["id"] for e in evs["fee-wave"]}) >= 150
    branch = groups["branch-close"]["branch"]
    assert sum(branch in e.get("text", "") for e in evs["branch-close"]) >= 0.8 * len(evs["branch-close"])
    per_day = {e["ts"][:10] for e in evs["selfhelp-1"]}
    assert len(per_day) >= 15  # steady over the window, not a burst


def test_holdout_wording_is_not_the_tuned_templates() -> None:
    """No literal run of 8+ characters from the tuned campaign / outage / call templates reappears."""
    import re

    from streamer.simulate import campaigns, decoys, grammar, hard

    markups = [s.markup for t in campaigns.TEMPLATES.values() for s in t] + [s.markup for s in campaigns.COVERT]
    markups += [hard._CALL_TEXT, hard._PRODUCT_TEXT, *decoys._OUTAGE_APP, *decoys._OUTAGE_HOTLINE]
    frags = {f for m in markups for f in re.split(r"\[\[|\]\]|\||\{[a-z_0-9]+\}", m) if len(f) >= 8}
    frags |= {f for f in grammar.FILLERS if len(f) >= 4}
    assert len(frags) > 20
    groups, evs = _holdout_groups()
    texts = [e["text"] for gid, es in evs.items() if not gid.startswith(("organic-", "generic-", "couple-", "legal-"))
             for e in es if "text" in e]
    hits = {f for f in frags for t in texts if f in t}
    assert not hits, sorted(hits)[:5]


def test_holdout_events_validate_against_schema() -> None:
    if not SCHEMA.exists():
        pytest.skip(f"shared contract not found at {SCHEMA}")
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text("utf-8")),
                                                format_checker=jsonschema.FormatChecker())
    events, _ = _run("holdout", 7)
    errors = [(e["event_id"], err.message) for e in events for err in validator.iter_errors(e)]
    assert not errors, errors[:5]
