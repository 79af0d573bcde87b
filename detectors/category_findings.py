"""category_findings: the text and evidence of a ``category_shift`` finding.

Split out of ``category_shift`` so what the operations team reads (summary,
severity, ``event_ids``, evidence) is built in one module with one job, apart
from the statistics that decide whether there is a shift.

**Findings.** While a shift is on, the first event *of that category* in
  each new bucket emits one finding (so a multi-day shift gives one finding
  per 6 h, which episodes fold into one alert). Key
  ``category_shift:<institution>:<category>``; score = the ``-log10 p``
  above; severity ``warning`` when the pooled lift is at least ``warn_lift``
  (30 points), else ``info``; ``event_ids`` = the last ``max_event_ids``
  (20) events of that category at that institution (the trigger last);
  evidence = institution, category, share now / last bucket / baseline,
  lift, the window's buckets with their events and category counts, the run
  start, the drift detector and when it flagged. No text, no complainant.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from detectors.base import Finding
from detectors.category_state import Row, _Track, tau2, window_score
from detectors.fmt import fmt_span
from detectors.rates import MAX_SCORE
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.category_shift import CategoryShift

HOUR = 3600.0


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pct(x: float) -> str:
    return f"{round(100.0 * x)} %"


def build_finding(det: CategoryShift, inst_name: str, cat: str, tr: _Track, w: list[Row], event: Event) -> Finding:
    """The finding for ``event`` of ``cat`` at ``inst_name`` while ``tr`` is shifted (counts it); ``w`` is its window."""
    score, pooled = window_score(tr, w, det.tau_min)
    score = max(score, 1e-3)
    base = tr.base
    lift = pooled - base
    last = w[-1]
    span = (w[-1][1] + det.bucket) - (tr.shift_start if tr.shift_start is not None else w[0][1])
    tr.fired += 1
    det.findings_total += 1
    summary = (
        f"At {inst_name}, {cat} complaints rose to {_pct(pooled)} of all complaints "
        f"(baseline {_pct(base)}) over the last {fmt_span(span)}; "
        f"this is a shift in the mix, not a single campaign."
    )
    p = 10.0 ** (-score) if score < MAX_SCORE else 0.0
    return Finding(
        detector=det.name,
        key=f"{det.name}:{inst_name}:{cat}",
        score=round(float(score), 3),
        ts=event.ts,
        trigger_id=event.event_id,
        event_ids=list(tr.ids),
        summary=summary,
        severity="warning" if lift >= det.warn_lift else "info",
        evidence={
            "institution": inst_name,
            "category": cat,
            "share_now": round(pooled, 4),
            "share_last_bucket": round(last[3] / last[2], 4),
            "baseline_share": round(base, 4),
            "lift_points": round(100.0 * lift, 1),
            "buckets": len(w),
            "bucket_hours": det.bucket / HOUR,
            "bucket_starts": [_utc(x[1]) for x in w],
            "events_per_bucket": [x[2] for x in w],
            "category_events_per_bucket": [x[3] for x in w],
            "elevated_since": _utc(tr.shift_start) if tr.shift_start is not None else None,
            "span_seconds": round(span, 1),
            "p_value": p,
            "drift_detector": det._gate.label(det.bucket),
            "drift_detected_at": _utc(tr.last_up * det.bucket) if tr.last_up is not None else None,
            "between_bucket_sd_points": round(100.0 * math.sqrt(tau2(tr, det.tau_min)), 2),
            "reports_in_shift": tr.fired,
        },
    )

