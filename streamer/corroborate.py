"""Corroboration: weak evidence from independent detectors on the same complainants.

Each rate detector alerts alone only at ``-log10 p >= ~5``, which an agency
reaches around its 5th-6th complaint. Earlier, at its 3rd complaint, the
agency's representative name is mildly surprising (3 complainants, p ~ 1e-3)
*and* so is its letter template (the same 3 complainants, p ~ 1e-3). Decoys
rarely light up two detectors on the same people: a legal-aid clinic shares
a phone but its clients write their own letters; a public self-help template
is shared by strangers with their own contacts; a fee-policy wave or an
outage shares neither; a household shares an address but only two people.

**Rule.** On every event, the sub-threshold judgements the detectors made
(``detectors.surprise.Surprise``: ``SURPRISE_FLOOR <= score < threshold``)
are grouped: at most one key per detector, at least two detectors, and the
keys' complainant sets must share at least ``min_shared`` (3) complainants
-- the same "two people sharing something is never an agency" floor the
detectors use, applied to the people *both* keys describe, so one debtor's
three filings cannot corroborate anything. A group's p-values are combined
with Fisher's method (independent evidence: ``-2 sum ln p ~ chi2(2k)``), and
the best group's combined score is Bonferroni-corrected for the number of
*detector combinations* the event offered (we report the best one). Which of
a detector's keys stands for it is not a further choice to correct for: the
detectors alert on any key of theirs that reaches the threshold, with no
correction for how many keys an event touches (an agency letter touches its
phone, name and address keys at once, all about the same people), so the
strongest key of a detector on these people is that detector's judgement
here too. Counting key combinations instead charged an agency letter
``log10 3`` for naming three contacts. A finding is emitted when
the corrected score reaches ``threshold`` (5: as strong as the weakest
single-detector alert, so the combined alert costs no more false alarms per
judgement than the detectors already accept).

**Independence** is the assumption that makes Fisher valid: the benign causes
of a shared contact (a household, a lawyer, a clinic, a branch line) are not
what makes strangers file near-identical long letters or one issuer's
certificates, and vice versa. It fails for a lawyer who sends the same letter
for several clients -- which is close to what an agency is; the runbook says
how to tell them apart. Keys of *one* detector (the agency's phone and its
address) are never combined with each other: they are not independent.

Events on which any detector already fired are skipped: the campaign is
alerting anyway, and the combined alert exists to come *earlier*. The
finding's key names its component keys (all pseudonyms), its ``event_ids``
are the complaints the component keys share, so the episode manager links it
with the single-detector episodes that follow (one campaign story).

Stateless between events (only counters), so it needs no checkpoint.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product

from detectors.base import Finding, severity_for
from detectors.surprise import Surprise
from streamer.events import Event

__all__ = ["Corroborator", "fisher_score", "THRESHOLD", "MIN_SHARED"]

#: Combined score (-log10 p, after the group-selection correction) needed to
#: alert: the weakest single-detector threshold (agent/template surge, 5).
THRESHOLD = 5.0
#: Complainants every component key must share: detectors never call two
#: people sharing something an agency, corroboration does not either.
MIN_SHARED = 3
#: Cap on the key groups tried per event (bounded work).
MAX_GROUPS = 256
_LN10 = math.log(10.0)


def fisher_score(scores: Sequence[float]) -> float:
    """Fisher's combined ``-log10 p`` for independent p-values given as ``-log10 p``.

    ``X = -2 sum ln p_i`` is chi-squared with ``2k`` degrees of freedom under
    the null; its tail has the closed form ``exp(-x) sum_{j<k} x^j / j!`` with
    ``x = X / 2``, computed in logs so scores of 300 do not underflow.
    """
    k = len(scores)
    if k == 0:
        return 0.0
    x = _LN10 * sum(max(0.0, s) for s in scores)
    term = tot = 1.0
    for j in range(1, k):
        term *= x / j
        tot += term
    return max(0.0, (x - math.log(tot)) / _LN10)


class Corroborator:
    """Combine the detectors' sub-threshold surprises on one event into a finding."""

    name = "corroboration"

    def __init__(self, *, threshold: float = THRESHOLD, min_shared: int = MIN_SHARED, critical: float = 12.0,
                 max_groups: int = MAX_GROUPS, max_event_ids: int = 50) -> None:
        self.threshold = threshold
        self.min_shared = min_shared
        self.critical = critical
        self.max_groups = max_groups
        self.max_event_ids = max_event_ids
        self.judged_total = 0
        self.findings_total = 0

    def combine(self, event: Event, surprises: Sequence[Surprise]) -> list[Finding]:
        """The corroborated finding for this event, if any (at most one)."""
        by_det: dict[str, list[Surprise]] = {}
        for s in surprises:
            if len(s.members) >= self.min_shared:
                by_det.setdefault(s.detector, []).append(s)
        if len(by_det) < 2:
            return []
        self.judged_total += 1
        dets = sorted(by_det)
        options = [[None, *sorted(by_det[d], key=lambda s: (-s.score, s.key))] for d in dets]
        best: tuple[float, list[Surprise], frozenset[str]] | None = None
        tried = 0
        subsets: set[tuple[str, ...]] = set()  # detector combinations offered (the correction)
        for combo in product(*options):
            group = [s for s in combo if s is not None]
            if len(group) < 2:
                continue
            shared = frozenset.intersection(*(s.members for s in group))
            if len(shared) < self.min_shared:
                continue
            tried += 1
            subsets.add(tuple(x.detector for x in group))  # (in ``dets`` order: one tuple per combination)
            sc = fisher_score([s.score for s in group])
            if best is None or sc > best[0]:
                best = (sc, group, shared)
            if tried >= self.max_groups:
                break
        if best is None:
            return []
        raw, group, shared = best
        score = raw - math.log10(len(subsets))
        if score < self.threshold:
            return []
        self.findings_total += 1
        return [self._finding(event, score, raw, tried, len(subsets), group, shared)]

    def _finding(self, event: Event, score: float, raw: float, tried: int, n_combos: int, group: list[Surprise],
                 shared: frozenset[str]) -> Finding:
        common = set.intersection(*(set(s.event_ids) for s in group))
        ids = [e for e in group[0].event_ids if e in common][-self.max_event_ids:]
        if event.event_id not in ids:
            ids.append(event.event_id)
        parts = []
        comps = []
        for s in group:
            n = s.facts.get("distinct_complainants", len(s.members))
            base = s.facts.get("baseline_per_30d")
            parts.append(f"{s.what[0].lower()}{s.what[1:]} ({n} complainants"
                         + (f", normally 1 plus {base:.2g} more per 30 days" if base is not None else "")
                         + f", p={10 ** -s.score:.1g})")
            comps.append({"detector": s.detector, "key": s.key, "score": s.score, "p_value": 10 ** -s.score,
                          "what": s.what, **s.facts})
        p = 10 ** -score
        summary = (f"Early warning: the same {len(shared)} complainants share "
                   + "; and ".join(parts)
                   + f". No single detector is sure; together p={p:.1g}"
                   f" (Fisher over {len(group)} independent detectors, best of {n_combos} detector combination"
                   f"{'s' if n_combos != 1 else ''}).")
        return Finding(
            detector=self.name,
            key="corroborated:" + "+".join(sorted(s.key for s in group)),
            score=round(score, 3),
            ts=event.ts,
            trigger_id=event.event_id,
            event_ids=ids,
            summary=summary,
            severity=severity_for(score, warning=self.threshold, critical=self.critical),
            evidence={
                "rule": "fisher",
                "shared_complainants": len(shared),
                "shared_events": len(common),
                "combined_p_value": p,
                "uncorrected_score": round(raw, 3),
                "combinations_tried": tried,  # key groups compared
                "detector_combinations": n_combos,  # what the score is corrected for
                "components": comps,
            },
        )

    def stats(self) -> dict[str, float]:
        return {"judged_total": self.judged_total, "findings_total": self.findings_total}
