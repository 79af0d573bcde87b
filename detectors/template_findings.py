"""template_findings: how a ``TemplateSurge`` judgement reads -- its key, summary and evidence.

Split out of ``template_surge`` so what an operator (or the corroborator)
reads is built in one module with one job, apart from the statistics that
decide whether to say anything: the public key of a cluster, the weak
``Surprise`` reported below the threshold, and the ``Finding`` (summary,
severity, evidence fields) built once a cluster's score reaches it. Changing
a phrase here changes alert text, never which alerts fire. Findings name the
tier and the counts, never the text.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.base import Finding, severity_for
from detectors.fmt import DAY, fmt_span, fmt_window
from detectors.surprise import Surprise
from detectors.textsig import signature_hex
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.rates import Surprise as Score  # a RateModel score, not detectors.surprise.Surprise
    from detectors.template_state import _Cluster
    from detectors.template_surge import TemplateSurge


def template_key(c: _Cluster) -> str:
    """The cluster's public key, ``template:<hex>`` of its representative's signature:
    stable across restarts and processes (made when something reports it, not stored)."""
    return "template:" + signature_hex(c.sig)


def _tier(c: _Cluster) -> str:
    return "paraphrase" if c.family else "near_duplicate"


def template_surprise(det: TemplateSurge, c: _Cluster, event: Event, s: Score, n: int) -> Surprise:
    """The weak evidence (below the threshold) of cluster ``c`` judged at ``event``, for
    corroboration with other detectors: ``s`` its score, ``n`` distinct complainants."""
    return Surprise(
        det.name, template_key(c), round(s.score, 3), event.ts, event.event_id, list(c.events or ()),
        frozenset(c.members), "A paraphrased letter template" if c.family else "One letter template",
        {"distinct_complainants": n, "tier": _tier(c),
         "institutions": len(c.insts), "baseline_per_30d": round(s.baseline * 30 * DAY / det.bucket, 6)})


def template_finding(det: TemplateSurge, c: _Cluster, event: Event, s: Score, n: int) -> Finding:
    """The finding for cluster ``c`` judged at ``event``: ``s`` its score, ``n`` distinct
    complainants within the window."""
    ts = event.ts
    lo = ts - det.window
    insts = sum(1 for t in c.insts.values() if t >= lo)
    span = ts - c.first_ts if n > 1 else 0.0
    per30 = s.baseline * 30 * DAY / det.bucket
    sim = c.sim_sum / max(1, c.n_events)
    kind = "A paraphrased letter template (shared rare phrasing" if c.family else "One letter template (mean similarity"
    summary = (
        f"{kind} {sim:.2f}) was used for {n} complainants at {insts} "
        f"institution{'s' if insts != 1 else ''} in {fmt_span(max(span, 60.0))}; its baseline is 1 complainant"
        f" plus {per30:.2g} more per 30 days (p={s.p_value:.1g})."
    )
    return Finding(
        detector=det.name,
        key=template_key(c),
        score=round(s.score, 3),
        ts=ts,
        trigger_id=event.event_id,
        event_ids=list(c.events or ()),
        summary=summary,
        severity=severity_for(s.score, warning=det.threshold, critical=det.critical),
        evidence={
            "distinct_complainants": n,
            "institutions": insts,
            "similarity": round(sim, 3),
            "window": fmt_window(det.window),
            "span_seconds": round(span, 1),
            "scored_window": fmt_window(s.window),
            "rate": s.observed,  # extra complainants in the scored window
            "rate_per_day": round(s.observed * DAY / s.window, 3),
            "expected_in_window": round(s.expected, 6),
            "baseline_per_30d": round(per30, 6),
            "p_value": s.p_value,
            "events": c.n_events,
            "masked_length": c.length,
            "tier": _tier(c),
        },
    )
