"""issuer_evidence: how an ``IssuerSurge`` finding reads -- its summary sentence and evidence.

Split out of ``issuer_surge`` so wording lives apart from detection: the words
for certificate classes and seal-rule reasons, and the ``Finding`` (summary,
severity, evidence fields) built once a key's score reaches the threshold. The
issuer's name appears only as ``_Issuer.display`` (organisation-like names);
complainant ids never do. Changing a phrase here changes alert text, never
which alerts fire.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.base import Finding, severity_for
from detectors.fmt import DAY, fmt_span, fmt_window
from detectors.issuer_state import cert_counts
from detectors.seals import issuer_key
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.issuer_state import _Issuer
    from detectors.issuer_surge import IssuerSurge


_CLASS_WORDS = {
    "medical": "medical certificates",
    "hardship": "hardship certificates",
    "unemployment": "unemployment certificates",
    "authorization": "authorisations",
}

_REASON_WORDS = {
    "seal_issuer_mismatch": "seal names another organisation",
    "admin_order_reversed": "administrative order reversed",
    "wrong_seal_type": "wrong seal type",
    "issuer_kind_mismatch": "issuer cannot issue this certificate",
}


def issuer_finding(det: IssuerSurge, key: tuple[str, str], a: _Issuer, event: Event, score: float, n: int,
                   suspect: int, m: float, win: float, obs: float, mu: float) -> Finding:
    """The finding for key ``a`` judged at ``event``: ``score`` and the scored window ``win`` with its
    observed weight ``obs`` and expected ``mu``; ``n`` distinct complainants, ``suspect`` of them
    with an implausible seal or reused scan; ``m`` the null mean per bucket."""
    ts = event.ts
    p_value = 10.0 ** (-score)
    known = [r for r in a.member_recs() if r[2] >= 0]
    young_share = sum(r[2] for r in known) / len(known) if known else None
    lo = ts - det.window
    insts = sum(1 for t in a.insts[1::2] if t >= lo)  # [institution, last ts, ...]
    span = ts - min(r[0] for r in a.member_recs())
    per30 = m * 30 * DAY / det.bucket
    who = a.display or "one issuer"
    what = _CLASS_WORDS.get(a.cls, a.cls)
    reasons = sorted(a.reasons or ())
    kinds, seal_types = cert_counts(a.certs)
    summary = (
        f"{who} issued {what} for {n} complainants at {insts} institution{'s' if insts != 1 else ''}"
        f" in {fmt_span(span)}"
        + (f", {round(100 * young_share)}% of them under {det.young_age}" if young_share is not None else "")
        + (f", {a.reused} reused scan{'s' if a.reused != 1 else ''}" if a.reused else "")
        + (f", implausible seals ({'; '.join(_REASON_WORDS.get(x, x) for x in reasons)})" if reasons else "")
        + f"; an issuer normally certifies 1 complainant plus {per30:.2g} more per 30 days (p={p_value:.1g})."
    )
    return Finding(
        detector=det.name,
        key=issuer_key(key[1], key[0]),
        score=round(score, 3),
        ts=ts,
        trigger_id=event.event_id,
        event_ids=a.event_ids(),
        summary=summary,
        severity=severity_for(score, warning=det.threshold, critical=det.critical),
        evidence={
            "issuer": a.display,
            "issuer_class": a.cls,
            "certificate_kinds": dict(sorted(kinds.items())),
            "distinct_complainants": n,
            "institutions": insts,
            "young_share": round(young_share, 3) if young_share is not None else None,
            "young_age": det.young_age,
            "reused_sha256": a.reused,
            "implausible_seals": suspect,
            "seal_reasons": {x: a.reasons[x] for x in reasons},
            "seal_types": dict(sorted(seal_types.items())),
            "window": fmt_window(det.window),
            "span_seconds": round(span, 1),
            "scored_window": fmt_window(win),
            "observed_weight": round(obs, 3),
            "expected_weight": round(mu, 6),
            "baseline_per_30d": round(per30, 6),
            "p_value": p_value,
            "events": a.n_events,
        },
    )
