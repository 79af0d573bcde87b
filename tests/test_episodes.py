"""Episode lifecycle: fire once, update on growth, resolve once after quiet."""
from __future__ import annotations

from detectors.base import Finding
from streamer.episodes import EpisodeManager, alert_id_for

H = 3600.0


def f(ts: float, eid: str, ids: list[str] | None = None, sev: str = "warning", key: str = "phone:abc") -> Finding:
    return Finding(detector="agent_surge", key=key, score=7.0, ts=ts, trigger_id=eid,
                   event_ids=ids if ids is not None else [eid], summary="s", severity=sev)


def test_fires_once_then_updates_on_growth_and_resolves_once():
    m = EpisodeManager(quiet=10 * H, regrow=2.0)
    first = m.observe(f(0, "e1", ["e0", "e1"]), "t0")
    assert first["status"] == "firing" and first["event_ids"] == ["e0", "e1"]
    assert first["alert_id"] == alert_id_for("agent_surge", "phone:abc", 0)
    assert m.observe(f(H, "e2"), "t1") is None          # 3 ids < 2 * 2
    upd = m.observe(f(2 * H, "e3"), "t2")                # 4 ids >= 4: re-emit
    assert upd["alert_id"] == first["alert_id"] and upd["status"] == "firing"
    assert upd["event_ids"] == ["e0", "e1", "e2", "e3"]
    assert m.advance(11 * H) == []                       # quiet since 2h: not yet
    res = m.advance(12 * H)
    assert [r["status"] for r in res] == ["resolved"]
    assert res[0]["alert_id"] == first["alert_id"] and res[0]["ends_at"] == "t2"
    assert m.advance(100 * H) == []                      # resolves only once
    again = m.observe(f(101 * H, "e9"), "t9")            # a new episode, a new id
    assert again["status"] == "firing" and again["alert_id"] != first["alert_id"]


def test_severity_rise_reemits_even_without_growth():
    m = EpisodeManager(regrow=100.0)
    m.observe(f(0, "e1"), "t")
    assert m.observe(f(1, "e2", sev="warning"), "t") is None
    up = m.observe(f(2, "e3", sev="critical"), "t")
    assert up is not None and up["severity"] == "critical"


def test_evidence_is_capped_keeping_the_first_trigger():
    m = EpisodeManager(max_event_ids=5, regrow=1.0)
    m.observe(f(0, "e0"), "t")
    last = None
    for i in range(1, 20):
        last = m.observe(f(i, f"e{i}"), "t") or last
    assert last["event_ids"] == ["e0", "e16", "e17", "e18", "e19"]


def test_keys_are_independent():
    m = EpisodeManager()
    a = m.observe(f(0, "a", key="phone:a"), "t")
    b = m.observe(f(0, "b", key="phone:b"), "t")
    assert a["alert_id"] != b["alert_id"]
    assert m.active_by_detector() == {"agent_surge": 2}


def test_episodes_sharing_complaints_are_linked_into_one_campaign():
    m = EpisodeManager()
    a = m.observe(f(0, "e1", ["e0", "e1"], key="phone:a"), "t")
    b = Finding(detector="template_surge", key="template:t", score=8.0, ts=5, trigger_id="e5",
                event_ids=["e1", "e4", "e5"], summary="s")
    rb = m.observe(b, "t")
    assert rb["evidence"]["linked_alerts"] == [a["alert_id"]]
    assert rb["evidence"]["campaign"] == a["alert_id"]       # the earliest episode names the campaign
    c = m.observe(f(9, "e9", ["e9"], key="phone:unrelated"), "t")
    assert c["evidence"]["linked_alerts"] == [] and c["evidence"]["campaign"] == c["alert_id"]
    m.advance(10 * 86400)
    assert m.owner == {} and m.by_id == {}                    # nothing is kept for resolved episodes
