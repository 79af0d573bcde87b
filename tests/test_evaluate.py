"""The evaluation rules on a hand-made truth, alert by alert."""
from __future__ import annotations

from streamer.evaluate import evaluate
from streamer.testing import iso


def ev(eid: str, h: float) -> dict:
    return {"event_id": eid, "ts": iso(h)}


EVENTS = [ev(f"c{i}", i) for i in range(10)] + [ev(f"o{i}", i + 0.5) for i in range(48)] + [ev("d1", 3), ev("d2", 4)]
TRUTH = {"campaigns": [{"id": "camp", "type": "agency_letters", "event_ids": [f"c{i}" for i in range(10)]},
                       {"id": "missed", "type": "covert_template", "event_ids": ["o40", "o41"]}],
         "decoys": [{"id": "dec", "type": "app_outage", "event_ids": ["d1", "d2"]}]}


def alert(aid: str, ids: list[str], h: float, status: str = "firing") -> dict:
    return {"alert_id": aid, "detector": "x", "status": status, "starts_at": iso(h), "event_ids": ids}


def test_rules():
    alerts = [
        alert("a1", ["c0", "c1", "c2"], 2),                 # counts for camp, detected at the 3rd event
        alert("a1", ["c0", "c1", "c2", "c3", "o1"], 2),     # an update: union of ids, same episode
        alert("a2", ["c5", "o1", "o2"], 5),                 # 1/3 campaign: false (organic)
        alert("a3", ["d1", "d2"], 4),                       # a decoy: false, charged to app_outage
        alert("a4", ["c6", "o3"], 6),                       # exactly half: counts for camp
    ]
    r = evaluate(EVENTS, TRUTH, alerts)
    assert r["alert_episodes"] == 4 and r["false_alerts"] == 2
    assert r["precision"] == 0.5
    assert r["recall"] == 0.5 and r["recall_by_type"] == {"agency_letters": 1.0, "covert_template": 0.0}
    assert r["false_by_cause"] == {"organic": 1, "app_outage": 1}
    row = r["per_campaign"][0]
    assert row["delay_events"] == 3 and row["delay_hours"] == 2.0 and row["episodes"] == 2
    assert r["days"] == round(47.5 / 24, 2)


def test_shift_reports_are_counted_apart():
    shift = dict(alert("s1", ["o1", "o2", "o3"], 3), detector="category_shift")
    r = evaluate(EVENTS, TRUTH, [alert("a1", ["c0", "c1"], 2), shift])
    assert r["shift_reports"] == 1 and r["alert_episodes"] == 1 and r["false_alerts"] == 0
