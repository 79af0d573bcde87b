"""The one small protocol every detector implements.

Modelled on river's ``learn_one``/``predict_one``: a detector is fed one event
at a time in event-time order and answers with the findings that event caused
(optionally it may look at a whole batch first: ``Prepares``).
Its whole state lives in plain attributes so it pickles (checkpoints, the
shared contract tests). It never reads the wall clock: every time it knows is
an event's ``ts``.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from streamer.events import Event

__all__ = ["Finding", "Detector", "Prepares", "SEVERITIES", "severity_for", "SlotState"]

SEVERITIES = ("info", "warning", "critical")


@dataclass(slots=True)
class Finding:
    """A detector's claim that ``key`` is anomalous as of event time ``ts``.

    ``key`` is already pseudonymised (``phone:<hex>``, ``template:<hex>``).
    ``event_ids`` are the evidence (most recent last, capped by the detector);
    ``trigger_id`` is the event that caused this finding. ``summary`` is one
    sentence for a responder; ``evidence`` holds the figures behind it.
    """

    detector: str
    key: str
    score: float
    ts: float
    trigger_id: str
    event_ids: list[str]
    summary: str
    severity: str = "warning"
    evidence: dict = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """update(event) -> findings; state pickles; no wall clock."""

    name: str

    def update(self, event: Event) -> list[Finding]:
        """Learn from ``event`` and return the findings it triggers (often none)."""
        ...

    def stats(self) -> dict[str, float]:
        """Live gauges for the metrics collector, e.g. ``{"tracked_keys": 12}``."""
        ...


@runtime_checkable
class Prepares(Protocol):
    """The optional batch hook: ``prepare(events)`` before a batch's ``update`` calls.

    ``Pipeline.process_batch`` (a Kafka poll, a chunk of a replayed file) calls
    it once per batch on every detector that has it, with the batch's valid
    events in order, before feeding them to ``update`` one by one. It lets a
    detector do per-event work that does not depend on its state for many
    events at once (e.g. hash all the texts of a poll in one numpy call) and
    cache the results for the ``update`` calls that follow.

    Contract: ``prepare`` is *pure with respect to detection state* -- findings
    must be the same whether it was called or not. The pipeline drops
    duplicates and late events only afterwards, one by one, so ``prepare`` may
    see events that ``update`` never gets; ``update`` may also get events that
    were never prepared (``Pipeline.process``), so it must not rely on the cache.

    Why a separate protocol rather than a member of ``Detector``: members of a
    ``runtime_checkable`` Protocol are all required by ``isinstance``, and most
    detectors have nothing to batch; the pipeline probes for ``prepare`` once,
    when its detectors are set (``isinstance(det, Prepares)`` says the same).
    """

    def prepare(self, events: Sequence[Event]) -> None:
        """Precompute event-local features of ``events`` for the ``update`` calls that follow."""
        ...


def severity_for(score: float, warning: float = 6.0, critical: float = 12.0) -> str:
    """Map a surprise score (-log10 p) to an alert severity."""
    if score >= critical:
        return "critical"
    if score >= warning:
        return "warning"
    return "info"


class SlotState:
    """Pickling for the small ``__slots__`` state classes detectors keep per key.

    The state is a plain dict of the slots, so a checkpoint does not depend on
    class layout; slots that an older checkpoint lacks are filled from
    ``_SLOT_DEFAULTS`` (copied, so a mutable default is never shared).
    """

    __slots__ = ()
    _SLOT_DEFAULTS: dict = {}

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for k, v in self._SLOT_DEFAULTS.items():
            setattr(self, k, copy.copy(v))
        for k, v in state.items():
            setattr(self, k, v)
