"""The transport-agnostic core: raw message in, alerts and dead letters out.

parse -> validate -> pseudonymise -> de-duplicate -> every detector ->
episode manager -> sinks. Nothing here knows about Kafka or files: sources
hand in bytes plus an ``origin`` dict, and sinks are anything with
``write(record)`` / ``flush()``. Detection runs on event time only; the
wall-clock reads (``perf_counter``, per message or per batch) feed the
processing-latency metric, never a decision.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from detectors.base import Detector
from streamer.contract import InvalidEvent, check, decode, to_event
from streamer.corroborate import Corroborator
from streamer.deadletter import dead_letter
from streamer.episodes import EpisodeManager, format_ts
from streamer.events import Event
from streamer.gcpause import gc_paused
from streamer.pseudonym import Pseudonymizer
# the counters moved to their own module; re-exported, as metrics and tests import them from here
from streamer.stats import LATENCY_BUCKETS, PipelineStats

__all__ = ["Pipeline", "PipelineStats", "Sink", "LATENCY_BUCKETS", "risk_from"]

RISK_SCALE = 15.0  # a finding with surprise score >= 15 (p <= 1e-15) alone means risk 1


def risk_from(reasons: list[dict]) -> float:
    """Per-complaint triage risk in [0, 1] from the findings this event triggered.

    Each finding contributes min(1, score / RISK_SCALE) as an independent
    probability-like weight; they combine as 1 - prod(1 - w), so two detectors
    agreeing (agent phone *and* template) rank above either alone.
    """
    keep = 1.0
    for r in reasons:
        keep *= 1.0 - min(1.0, max(0.0, r["score"]) / RISK_SCALE)
    return round(1.0 - keep, 4)


class _Rejected(NamedTuple):
    """What ``Pipeline._parse`` returns for an invalid message (a valid one gives its Event)."""

    doc: dict | None  # the decoded document, if the message was JSON at all
    field: str
    reason: str


class Sink(Protocol):
    def write(self, record: dict) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class Pipeline:
    """Feed it raw messages with :meth:`process` (one) or :meth:`process_batch`
    (a poll's worth, same outputs); it writes to the sinks.

    ``max_lateness`` (seconds): an event older than watermark - max_lateness is
    dead-lettered as ``late`` instead of corrupting closed windows.
    ``dedup_size`` bounds the memory of recently seen event ids.
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        pseudo: Pseudonymizer,
        *,
        alert_sinks: Sequence[Sink] = (),
        dead_letter_sinks: Sequence[Sink] = (),
        scored_sinks: Sequence[Sink] = (),
        episodes: EpisodeManager | None = None,
        dedup_size: int = 200_000,
        max_lateness: float = 7 * 86400.0,
        include_raw_dead_letters: bool = False,
        corroborator: Corroborator | None = None,
    ) -> None:
        self.detectors = detectors  # resolves the per-event call steps (see the property)
        # combines sub-threshold evidence of several detectors (streamer.corroborate); stateless
        self.corroborator = corroborator if corroborator is not None else Corroborator()
        self.pseudo = pseudo
        self.alert_sinks = list(alert_sinks)
        self.dead_letter_sinks = list(dead_letter_sinks)
        self.scored_sinks = list(scored_sinks)
        self.episodes = episodes or EpisodeManager()
        self.dedup_size = dedup_size
        self.max_lateness = max_lateness
        self.include_raw = include_raw_dead_letters
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.stats = PipelineStats()

    @property
    def detectors(self) -> tuple[Detector, ...]:
        """The detectors, in call order (a tuple: replace it, do not mutate it)."""
        return self._detectors

    @detectors.setter
    def detectors(self, detectors: Sequence[Detector]) -> None:
        # Why resolve here: looking up ``update`` and probing for ``surprises``
        # (only the rate-judging detectors report sub-threshold evidence) on
        # every event cost a getattr, a hasattr and a bound-method allocation
        # per detector per event. Assigning (a checkpoint restore, a bench
        # wrapping detectors in timers) re-resolves.
        self._detectors = tuple(detectors)
        self._steps: tuple[tuple[str, Callable[[Event], list], Callable[[], list] | None], ...] = tuple(
            (det.name, det.update, getattr(det, "surprises", None)) for det in self._detectors
        )
        # the optional batch hook (detectors.base.Prepares), called by process_batch only
        self._prepares: tuple[tuple[str, Callable[[Sequence[Event]], None]], ...] = tuple(
            (det.name, prep) for det in self._detectors if (prep := getattr(det, "prepare", None)) is not None
        )

    # -- the hot path -----------------------------------------------------
    def process(self, raw: bytes | str, origin: dict | None = None) -> Event | None:
        """Handle one message. Returns the Event if it reached the detectors."""
        t0 = time.perf_counter()
        event = self._parse(raw)
        if event.__class__ is _Rejected:
            self._dead(raw, "invalid", event.field, event.reason, origin, event.doc)
            return None
        if not self._admit(event, raw, origin):
            return None
        self.stats.observe_latency(time.perf_counter() - t0)
        return event

    def process_batch(self, items: Sequence[tuple[bytes | str, dict | None]]) -> int:
        """Handle a batch of ``(raw, origin)`` messages (one poll, a chunk of a file).

        Same outputs, in the same order, as ``process`` on each item: every
        message is parsed first, then each detector's optional ``prepare``
        hook sees the batch's valid events at once (``detectors.base.Prepares``:
        vectorised work such as hashing many texts in one numpy call), then
        the items are handled one by one in order -- dead letters of invalid
        messages included, so dead letters keep their relative order --
        through de-duplication, lateness, the detectors and the episodes.
        ``prepare`` may thus see an event that is then dropped as a duplicate
        or late; the hook is pure with respect to detection state, so that is
        harmless. Returns how many events reached the detectors.

        Latency: the metric stays "seconds per accepted event", read once per
        batch instead of twice per event. The batch's wall time (parsing,
        ``prepare`` and the dropped messages included) is spread evenly over
        its accepted events: each counts once, in the bucket of the batch's
        mean, and the histogram sum grows by the batch's time. So ``_count``
        is the accepted events as before and ``_sum / _count`` the mean cost
        of one (slightly above per-event timing, which leaves out what is
        dropped); the spread within one batch is not seen, across batches it is.

        The batch runs with the cyclic garbage collector paused
        (``streamer.gcpause``: ~15 us per event of full collections otherwise).
        """
        with gc_paused():
            return self._process_batch(items)

    def _process_batch(self, items: Sequence[tuple[bytes | str, dict | None]]) -> int:
        t0 = time.perf_counter()
        parse = self._parse
        parsed = [parse(raw) for raw, _ in items]
        prepares = self._prepares
        if prepares:
            events = [ev for ev in parsed if ev.__class__ is not _Rejected]
            if events:
                for name, prepare in prepares:
                    try:
                        prepare(events)
                    except Exception:  # isolated like update; update must cope without a cache
                        self.stats.detector_errors[name] = self.stats.detector_errors.get(name, 0) + 1
            del events
        # Each Event is let go as soon as it has been handled (popped off the reversed list)
        # rather than all at the end of the batch: Events still referenced when the cyclic
        # GC runs are promoted towards the old generation, and every promotion brings the
        # next full collection (a walk over all detector state) closer.
        parsed.reverse()
        next_event = parsed.pop
        admit = self._admit
        accepted = 0
        for raw, origin in items:
            event = next_event()
            if event.__class__ is _Rejected:
                self._dead(raw, "invalid", event.field, event.reason, origin, event.doc)
            elif admit(event, raw, origin):
                accepted += 1
        if accepted:
            self.stats.observe_latency_many(time.perf_counter() - t0, accepted)
        return accepted

    def _parse(self, raw: bytes | str) -> Event | _Rejected:
        """The Event, or for an invalid message a ``_Rejected`` (document if any, field, reason).

        A valid message's document is not kept: a batch would otherwise hold
        a thousand decoded documents (six or so dicts and lists each) until its
        end, and every collection of the cyclic GC in between would traverse
        them and promote them towards the old generation, bringing on full
        collections (measured: 2 instead of 0 full and 23 instead of 7 middle
        ones over the 19,100-event mixed stream, together with the change in
        ``process_batch``; measured before the batch ran with the collector
        paused, which now takes most of that cost away -- keeping less alive
        still lowers a batch's peak memory and helps ``process`` per message).
        The rare late event that needs its document for the dead letter decodes
        its bytes again (``_late``).
        ``decode``/``check``/``to_event`` are looked up as module globals on
        purpose: bench/throughput.py times them by replacing those globals.
        """
        doc = None
        try:
            doc = decode(raw)
            return to_event(doc, self.pseudo, check(doc))
        except InvalidEvent as e:
            return _Rejected(doc, e.field, e.reason)
        except Exception as e:  # a validator bug must not stop the stream either
            return _Rejected(doc, "$", f"unexpected error: {type(e).__name__}")

    def _admit(self, event: Event, raw: bytes | str, origin: dict | None) -> bool:
        """De-duplicate, check lateness, detect, advance the episodes; False if the event was dropped."""
        st = self.stats
        seen = self.seen
        eid = event.event_id
        if eid in seen:
            seen.move_to_end(eid)
            st.count_event("duplicate", event.channel, event.category)
            return False
        ts = event.ts
        if ts < st.watermark - self.max_lateness:
            self._late(raw, ts, origin)
            return False
        seen[eid] = None
        if len(seen) > self.dedup_size:
            seen.popitem(last=False)
        k = ("ok", event.channel, event.category)  # st.count_event, inlined: once per event
        counts = st.events
        counts[k] = counts.get(k, 0) + 1
        st.last_event_ts = ts
        self._detect(event)
        if ts > st.watermark:
            st.watermark = ts
            for rec in self.episodes.advance(ts):
                self._alert(rec)
        return True

    def _detect(self, event: Event) -> None:
        reasons: list[dict] = []
        # sub-threshold evidence, for corroboration; a list only once some arrives (rare)
        surprises: list | None = None
        st = self.stats
        episodes = self.episodes
        event_id = event.event_id
        for name, update, surprises_of in self._steps:
            try:
                findings = update(event)
                if surprises_of is not None:
                    weak = surprises_of()
                    if weak:
                        if surprises is None:
                            surprises = list(weak)
                        else:
                            surprises.extend(weak)
            except Exception:  # isolate a faulty detector; count and carry on
                st.detector_errors[name] = st.detector_errors.get(name, 0) + 1
                continue
            if not findings:  # the common case: no loop set up
                continue
            for f in findings:
                if not math.isfinite(f.score):
                    continue
                st.findings[f.detector] = st.findings.get(f.detector, 0) + 1
                if f.trigger_id == event_id:
                    reasons.append({"detector": f.detector, "key": f.key, "score": round(f.score, 3)})
                rec = episodes.observe(f, event.ts_text if f.trigger_id == event_id else format_ts(f.ts))
                if rec is not None:
                    self._alert(rec)
        if surprises is not None and len(surprises) > 1 and not reasons:  # no detector is sure on its own: do several agree?
            try:
                combined = self.corroborator.combine(event, surprises)
            except Exception:  # isolated like a detector
                combined = []
                st.detector_errors["corroboration"] = st.detector_errors.get("corroboration", 0) + 1
            for f in combined:
                st.findings[f.detector] = st.findings.get(f.detector, 0) + 1
                reasons.append({"detector": f.detector, "key": f.key, "score": round(f.score, 3)})
                rec = episodes.observe(f, event.ts_text)
                if rec is not None:
                    self._alert(rec)
        if self.scored_sinks:
            # most events trigger nothing: risk_from([]) is 0.0, skip the call
            rec = {"event_id": event.event_id, "ts": event.ts_text, "institution": event.institution,
                   "risk": risk_from(reasons) if reasons else 0.0, "reasons": reasons}
            for s in self.scored_sinks:
                s.write(rec)

    # -- outputs ----------------------------------------------------------
    def _alert(self, rec: dict) -> None:
        k = (rec["detector"], rec["severity"], rec["status"])
        self.stats.alerts[k] = self.stats.alerts.get(k, 0) + 1
        for s in self.alert_sinks:
            s.write(rec)

    def _late(self, raw: bytes | str, ts: float, origin: dict | None) -> None:
        """Dead-letter a valid event that is too late. Its document was not kept
        (see ``_parse``): decoding the same bytes again gives the same one."""
        try:
            doc = decode(raw)
        except Exception:  # cannot happen for bytes that decoded before; the letter then goes without
            doc = None
        wm = self.stats.watermark
        self._dead(raw, "late", "ts", f"event is {(wm - ts) / 3600:.1f} h behind the watermark "
                   f"(max lateness {self.max_lateness / 3600:.1f} h)", origin, doc)

    def _dead(self, raw, error: str, fld: str, reason: str, origin: dict | None, doc: dict | None) -> None:
        self.stats.count_event(error)
        self.stats.dead_letters[error] = self.stats.dead_letters.get(error, 0) + 1
        rec = dead_letter(raw, error=error, field=fld, reason=reason, origin=origin or {},
                          pseudo=self.pseudo, doc=doc if isinstance(doc, dict) else None,
                          include_raw=self.include_raw)
        for s in self.dead_letter_sinks:
            s.write(rec)

    def flush(self) -> None:
        """Make everything emitted so far durable (called before committing offsets)."""
        for s in (*self.alert_sinks, *self.dead_letter_sinks, *self.scored_sinks):
            s.flush()

    def close(self) -> None:
        for s in (*self.alert_sinks, *self.dead_letter_sinks, *self.scored_sinks):
            s.close()

