"""fanout_findings: the alert text and evidence of ``complainant_fanout``.

Split out of ``complainant_fanout`` so what an operator reads (summary,
``event_ids``, evidence) is built in one module with one job, apart from the
statistics that decide whether to say anything.

Findings: key ``fanout:institutions`` or ``repeat:filings`` -- one key per
pattern, so the episode manager makes *one* alert per surge episode
("8 complainants each complained to 4+ institutions within 48 h ...").
``event_ids`` are the filings of the complainants in the scored window (the
most recent ``max_event_ids``), nothing else -- evidence stays focused on the
campaign. ``evidence`` lists the complainants (pseudonyms), their institution
count or filing count and whether they used the regulator channel; never text.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.base import Finding, severity_for
from detectors.fanout_state import _CH, _ID, _INST, _REP, _TS, REGULATOR, metric
from detectors.fanout_tiers import HOUR, Tier, _Surge
from detectors.fmt import DAY, fmt_span
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.complainant_fanout import ComplainantFanout

_KEYS = {"fanout": "fanout:institutions", "repeat": "repeat:filings"}


def build_finding(det: ComplainantFanout, surge: _Surge, event: Event, score: float, tier: Tier, s,
                  members: set[str]) -> Finding:
    """The finding for ``event`` scoring ``score`` on ``tier`` (``s``: its Surprise)."""
    ts = event.ts
    lo = ts - s.window
    # latest onset per member in the scored window (most recent last)
    latest: dict[str, tuple] = {}
    for o in surge.onsets:
        if o[1] == tier.name and lo < o[0] <= ts:
            latest.pop(o[2], None)
            latest[o[2]] = o
    ids: dict[str, float] = {}
    rows = []
    n_reg = 0
    for who, o in latest.items():
        filings = det._people.get(who)
        if filings is not None:
            fl = [f for f in filings if f[_TS] > o[0] - tier.window and f[_TS] <= ts]
            if surge.pattern == "repeat":  # the re-filed complaint, not unrelated ones
                insts = {f[_INST] for f in fl if f[_REP]}
                fl = [f for f in fl if f[_INST] in insts]
            for f in fl:
                ids.setdefault(f[_ID], f[_TS])
            degree = metric(surge.pattern, fl) if fl else o[4]
            reg = any(f[_CH] == REGULATOR for f in fl) or o[5]
        else:
            for eid in o[3]:
                ids.setdefault(eid, o[0])
            degree, reg = o[4], o[5]
        n_reg += bool(reg)
        rows.append({"complainant": who, ("institutions" if surge.pattern == "fanout" else "filings"): degree,
                     "via_regulator": bool(reg), "onset_ts": o[0]})
    ids.pop(event.event_id, None)
    ordered = [eid for eid, _ in sorted(ids.items(), key=lambda kv: (kv[1], kv[0]))]
    ordered = ordered[-(det.max_event_ids - 1):] if det.max_event_ids > 1 else []
    ordered.append(event.event_id)
    n = len(latest)
    per_day = s.baseline * DAY / det.bucket
    span = fmt_span(tier.window)
    win = fmt_span(s.window)
    reg_txt = f", {n_reg} of them also via the regulator" if n_reg else ""
    if surge.pattern == "fanout":
        what = f"{n} complainants each complained to {tier.count}+ institutions within {span} in the last {win}"
        usual = "complainants do that"
    else:
        what = f"{n} complainants each filed the same complaint {tier.count}+ times within {span} in the last {win}"
        usual = "complainants do that"
    summary = f"{what}{reg_txt}; normally {per_day:.2g} {usual} per day (p={s.p_value:.1g})."
    rows.sort(key=lambda r: (-r["onset_ts"], r["complainant"]))
    members_ev = [{k: v for k, v in r.items() if k != "onset_ts"} for r in rows[: det.max_members]]
    return Finding(
        detector=det.name,
        key=_KEYS[surge.pattern],
        score=round(float(score), 3),
        ts=ts,
        trigger_id=event.event_id,
        event_ids=ordered,
        summary=summary,
        severity=severity_for(score, warning=det.threshold, critical=det.critical),
        evidence={
            "pattern": surge.pattern,
            "tier": tier.name,
            "min_count": tier.count,
            "tier_window_hours": round(tier.window / HOUR, 1),
            "complainants": n,
            "via_regulator": n_reg,
            "scored_window_hours": round(s.window / HOUR, 1),
            "observed_in_window": s.observed,
            "expected_in_window": round(s.expected, 6),
            "baseline_per_day": round(per_day, 6),
            "p_value": s.p_value,
            "members": members_ev,
        },
    )
