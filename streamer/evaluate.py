"""Score alerts against a simulator's truth: recall, precision, false alerts, delay.

Rules (stated in ``surgewatch evaluate --help`` too):

* an alert *episode* is one ``alert_id``; its evidence is the union of the
  ``event_ids`` of all its emissions;
* an episode counts for a campaign if at least half of its event ids belong
  to that campaign; otherwise it is a false alert (and, if most of its ids
  belong to a decoy, it is charged to that decoy type);
* shift reports (``category_shift``: "the mix at bank-a moved") describe a
  trend, not a campaign; they are counted apart and are neither true nor
  false campaign alerts;
* a campaign is caught if at least one episode counts for it; its detection
  time is the earliest ``starts_at`` of those episodes; the delay is reported
  in hours after the campaign's first event and in campaign events (how many
  of the campaign's events had arrived by then, the triggering one included).
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

import orjson

__all__ = ["evaluate", "format_report", "load_jsonl", "SHIFT_DETECTORS"]

SHIFT_DETECTORS = frozenset({"category_shift"})


def load_jsonl(path: str) -> list[dict]:
    out = []
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue
    return out


def _ts(s: str) -> float:
    return datetime.fromisoformat(s).timestamp()


def evaluate(events: Iterable[dict], truth: dict, alerts: Iterable[dict]) -> dict:
    """Return the figures as a dict (see module doc for the rules)."""
    ev_ts: dict[str, float] = {}
    for e in events:
        try:
            ev_ts[e["event_id"]] = _ts(e["ts"])
        except (KeyError, TypeError, ValueError):
            continue
    owner: dict[str, tuple[str, str]] = {}
    for group in ("campaigns", "decoys"):
        for c in truth.get(group, []):
            for eid in c["event_ids"]:
                owner[eid] = (group, c["id"])
    episodes: dict[str, dict] = {}
    shifts: set[str] = set()
    for a in alerts:
        if a["detector"] in SHIFT_DETECTORS:
            shifts.add(a["alert_id"])
            continue
        ep = episodes.setdefault(a["alert_id"], {"ids": set(), "starts_at": a["starts_at"], "detector": a["detector"]})
        ep["ids"].update(a.get("event_ids", ()))
    decoy_type = {d["id"]: d["type"] for d in truth.get("decoys", [])}
    hits: dict[str, list[dict]] = defaultdict(list)
    false: list[dict] = []
    for aid, ep in episodes.items():
        votes = Counter(owner.get(i, ("organic", "")) for i in ep["ids"])
        # sorted before ranking, so ties break the same way in every process
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        camp = [(k, n) for k, n in ranked if k[0] == "campaigns"]
        if camp and 2 * camp[0][1] >= len(ep["ids"]):
            hits[camp[0][0][1]].append(ep)
        else:
            (group, cid), _ = ranked[0] if ranked else (("organic", ""), 0)
            false.append({"alert_id": aid, "detector": ep["detector"],
                          "charged_to": decoy_type.get(cid, "decoy") if group == "decoys"
                          else ("mixed" if group == "campaigns" else "organic")})
    per_type: dict[str, dict] = defaultdict(lambda: {"campaigns": 0, "caught": 0})
    delays_h, delays_n, rows = [], [], []
    for c in truth.get("campaigns", []):
        t = per_type[c["type"]]
        t["campaigns"] += 1
        times = sorted(ev_ts[i] for i in c["event_ids"] if i in ev_ts)
        row = {"id": c["id"], "type": c["type"], "events": len(c["event_ids"]), "episodes": len(hits.get(c["id"], []))}
        if c["id"] in hits and times:
            t["caught"] += 1
            det = min(_ts(ep["starts_at"]) for ep in hits[c["id"]])
            row["delay_hours"] = round(max(0.0, det - times[0]) / 3600, 2)
            row["delay_events"] = sum(1 for x in times if x <= det)
            delays_h.append(row["delay_hours"])
            delays_n.append(row["delay_events"])
        rows.append(row)
    span_days = (max(ev_ts.values()) - min(ev_ts.values())) / 86400 if ev_ts else 0.0
    n_ep = len(episodes)
    true_eps = sum(len(v) for v in hits.values())
    n_c = len(truth.get("campaigns", []))
    return {
        "campaigns": n_c,
        "caught": sum(1 for r in rows if "delay_hours" in r),
        "recall": round(sum(1 for r in rows if "delay_hours" in r) / n_c, 4) if n_c else None,
        "recall_by_type": {k: round(v["caught"] / v["campaigns"], 4) for k, v in sorted(per_type.items())},
        "alert_episodes": n_ep,
        "precision": round(true_eps / n_ep, 4) if n_ep else None,
        "false_alerts": len(false),
        "false_alerts_per_day": round(len(false) / span_days, 4) if span_days else None,
        "false_by_cause": dict(Counter(f["charged_to"] for f in false)),
        "false_by_detector": dict(Counter(f["detector"] for f in false)),
        "median_delay_hours": round(statistics.median(delays_h), 2) if delays_h else None,
        "median_delay_events": statistics.median(delays_n) if delays_n else None,
        "shift_reports": len(shifts),
        "days": round(span_days, 2),
        "per_campaign": rows,
    }


def format_report(r: dict) -> str:
    lines = [f"campaigns caught: {r['caught']}/{r['campaigns']}  recall {r['recall']}",
             "recall by type:   " + ", ".join(f"{k} {v}" for k, v in r["recall_by_type"].items()),
             f"alert episodes:   {r['alert_episodes']}  precision {r['precision']}",
             f"false alerts:     {r['false_alerts']} over {r['days']} days = {r['false_alerts_per_day']}/day "
             f"{r['false_by_cause'] or ''}",
             f"median delay:     {r['median_delay_hours']} h, {r['median_delay_events']} campaign events",
             f"shift reports:    {r.get('shift_reports', 0)} (category mix trends, not campaign alerts)",
             ""]
    for row in r["per_campaign"]:
        if "delay_hours" in row:
            lines.append(f"  caught  {row['id']:<18} {row['type']:<20} {row['events']:>4} events  "
                         f"after {row['delay_events']} events / {row['delay_hours']} h  ({row['episodes']} episodes)")
        else:
            lines.append(f"  MISSED  {row['id']:<18} {row['type']:<20} {row['events']:>4} events")
    return "\n".join(lines)
