"""Sub-threshold evidence a detector saw on the last event, for corroboration.

A detector alerts on its own only when its key is surprising enough to be
worth a page by itself (``-log10 p >= threshold``, about 5). Much earlier in
a campaign several *independent* detectors are each mildly surprised by the
same complaints: the agency's phone has reached its third complainant
(p ~ 1e-3), and so has its letter template (p ~ 1e-3). Neither alone is
worth an alert, the two together are (``streamer.corroborate``).

So detectors that judge a per-key rate also report, through
``surprises()``, every judgement of the last ``update`` whose score reached
``SURPRISE_FLOOR`` but not their threshold (``ReportsSurprises``). It is
cleared by every ``update`` (bounded: at most one entry per key the event
touched) and is plain data, so it pickles with the detector.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Surprise", "SURPRISE_FLOOR", "ReportsSurprises"]

#: Below p = 0.1 a judgement cannot matter: combined with any sub-threshold
#: partner (score < 5.5) under Fisher's rule it stays below the combined
#: threshold (``streamer.corroborate.THRESHOLD``), so reporting it would only
#: cost time.
SURPRISE_FLOOR = 1.0


@dataclass(slots=True)
class Surprise:
    """One sub-threshold judgement of ``key`` (already pseudonymised).

    ``score`` is the detector's own ``-log10 p`` (after its own multiple-window
    correction); ``members`` the complainant pseudonyms behind the key in its
    window (so corroborating keys can be checked to share *people*, not just
    one person's repeated filings); ``event_ids`` the key's recent evidence;
    ``facts`` a few figures for a responder (no raw personal data).
    """

    detector: str
    key: str
    score: float
    ts: float
    trigger_id: str
    event_ids: list[str]
    members: frozenset[str]
    what: str
    facts: dict = field(default_factory=dict)


class ReportsSurprises:
    """Mixin for detectors that report sub-threshold judgements.

    ``update`` calls ``_clear_surprises()`` first and ``_report(s)`` for each
    judgement; the pipeline reads ``surprises()`` right after. Most events
    report nothing, so clearing allocates nothing (the class default is an
    empty tuple) and a list is made only for an event that has something.
    """

    _surprises: tuple[Surprise, ...] | list[Surprise] = ()

    def _clear_surprises(self) -> None:
        if self._surprises:
            self._surprises = ()

    def _report(self, s: Surprise) -> None:
        if self._surprises:
            self._surprises.append(s)
        else:
            self._surprises = [s]

    def surprises(self) -> tuple[Surprise, ...] | list[Surprise]:
        """Sub-threshold judgements of the last ``update`` (empty if none)."""
        return self._surprises
