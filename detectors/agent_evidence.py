"""agent_evidence: how an ``AgentSurge`` finding reads -- its summary sentence and evidence.

Split out of ``agent_surge`` so wording lives apart from detection: the noun
phrase naming a contact's kind and the roles it was given in (never its
value), and the ``Finding`` (summary, severity, evidence fields) built once a
key's score reaches the threshold. Changing a phrase here changes alert text,
never which alerts fire.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.base import Finding, severity_for
from detectors.fmt import DAY, fmt_span, fmt_window
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.agent_state import _Agent
    from detectors.agent_surge import AgentSurge
    from detectors.rates import Surprise as Score  # a RateModel score, not detectors.surprise.Surprise

#: Noun phrase (with its article) per contact kind, for summaries.
_KIND_NOUNS = {
    "phone": "a phone",
    "email": "an e-mail address",
    "wechat": "a WeChat account",
    "address": "an address",
    "representative": "a representative's name",
    "organization": "an organisation",
}
_ROLE_PHRASES = (
    ("representative", "as a representative's contact"),
    ("self", "as a complainant's own contact"),
    ("unknown", "with no stated role"),
)


def _subject(kind: str, roles: tuple[str, ...]) -> str:
    """Sentence subject naming the kind of contact and how it was given, never its value."""
    noun = _KIND_NOUNS.get(kind) or f"a {kind} contact"
    if kind == "representative":  # the name *is* the representative
        phrase = noun
    elif kind == "organization":
        phrase = noun + (" named as representative" if "representative" in roles else " named in the complaints")
    else:
        how = [p for r, p in _ROLE_PHRASES if r in roles]
        if len(how) > 2:
            how = [", ".join(how[:-1]), how[-1]]
        phrase = noun + (" given " + " and ".join(how) if how else "")
    return phrase[0].upper() + phrase[1:]


def agent_finding(det: AgentSurge, key: str, a: _Agent, event: Event, s: Score, n: int, insts: int,
                  chans: list[str], factor: float, m: float) -> Finding:
    """The finding for key ``a`` judged at ``event``: ``s`` its score, ``n`` distinct complainants,
    ``insts`` institutions and ``chans`` channels within the window, ``m`` the (scaled by
    ``factor``) prior mean per bucket."""
    ts = event.ts
    span = ts - min(r[0] if isinstance(r, tuple) else r for r in a.members.values())
    per30 = m * 30 * DAY / det.bucket
    noun = _KIND_NOUNS.get(a.kind) or f"a {a.kind} contact"
    where = f"{insts} institution{'s' if insts != 1 else ''}"
    usual = noun + (" seen at a single institution" if insts <= 1 else "")
    summary = (
        f"{_subject(a.kind, a.roles)} acted for {n} complainants at {where} in {fmt_span(span)};"
        f" {usual} normally acts for 1 complainant plus {per30:.2g} more per 30 days (p={s.p_value:.1g})."
    )
    roles = sorted(a.roles)
    return Finding(
        detector=det.name,
        key=key,
        score=round(s.score, 3),
        ts=ts,
        trigger_id=event.event_id,
        event_ids=list(a.events),
        summary=summary,
        severity=severity_for(s.score, warning=det.threshold, critical=det.critical),
        evidence={
            "kind": a.kind,
            "roles": roles,
            "distinct_complainants": n,
            "institutions": insts,
            "channels": sorted(chans),
            "confined": insts <= 1,
            "prior_factor": factor,
            "window": fmt_window(det.window),
            "span_seconds": round(span, 1),
            "scored_window": fmt_window(s.window),
            "observed_in_window": s.observed,
            "expected_in_window": round(s.expected, 6),
            "baseline_per_30d": round(per30, 6),
            "p_value": s.p_value,
            "events": a.n_events,
        },
    )
