"""Alert episodes: turn a stream of findings into one story per anomalous key.

A detector may report the same key on every event while it stays anomalous.
A responder wants one alert that fires once, is updated as evidence grows,
and resolves once when the key has gone quiet. The rules, all in event time:

* the first finding for ``(detector, key)`` opens an episode and emits
  ``status: firing`` with a deterministic ``alert_id`` built from detector,
  key and the episode's start, so a replay or a restart re-emits the same id;
* later findings add evidence; the alert is re-emitted (same id) only when
  the evidence has grown by ``regrow`` x since the last emission or severity
  rose, so a 500-complaint campaign produces a handful of updates, not 500;
* once the event-time watermark passes ``last finding + quiet`` the episode
  emits ``status: resolved`` with ``ends_at`` and is forgotten.

One campaign is usually seen by several detectors at once (its agency phone,
its letter template). Open episodes whose evidence shares complaints are
*linked*: each alert's evidence names the ``linked_alerts`` and a common
``campaign`` id (the alert id of the earliest episode of the group), so a
responder -- and Alertmanager grouping -- sees one story.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from detectors.base import SEVERITIES, Finding

__all__ = ["Episode", "EpisodeManager", "alert_id_for", "format_ts"]

_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def format_ts(ts: float) -> str:
    """Epoch seconds -> RFC 3339 in UTC (``2024-03-04T02:15:00Z``)."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_id_for(detector: str, key: str, start_ts: float) -> str:
    """``detector:key:YYYYMMDDTHHMMSSZ`` -- stable across replays and restarts."""
    stamp = datetime.fromtimestamp(start_ts, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{detector}:{key}:{stamp}"


@dataclass(slots=True)
class Episode:
    alert_id: str
    detector: str
    key: str
    start_ts: float
    starts_at: str
    last_ts: float
    last_at: str
    score: float
    severity: str
    summary: str
    evidence: dict
    event_ids: list[str] = field(default_factory=list)
    emitted_events: int = 0
    emitted_severity: str = "info"
    updates: int = 0
    campaign: str = ""
    links: set[str] = field(default_factory=set)


class EpisodeManager:
    """Keeps open episodes and decides when to fire, update and resolve.

    ``quiet`` is the event-time silence (seconds) after which an episode
    resolves; ``max_event_ids`` caps the evidence list an alert carries (the
    most recent ids are kept, the first trigger is always kept first).
    """

    #: A lower bound on ``last_ts`` of every open episode, so that ``advance``
    #: -- called whenever the watermark moves, i.e. on most events -- can skip
    #: its scan of the open episodes until the oldest may have gone quiet.
    #: ``last_ts`` only grows, so the bound stays valid until the scan resets it.
    #: A class default (-inf: "scan") for checkpoints made before it existed.
    _earliest: float = float("-inf")

    def __init__(self, quiet: float = 3 * 86400.0, regrow: float = 2.0, max_event_ids: int = 200) -> None:
        self.quiet = quiet
        self.regrow = regrow
        self.max_event_ids = max_event_ids
        self.open: dict[tuple[str, str], Episode] = {}
        self.by_id: dict[str, Episode] = {}
        self.owner: dict[str, str] = {}  # event id -> alert id of the first open episode holding it
        self.watermark = float("-inf")
        self.fired_total = 0
        self.resolved_total = 0

    # -- public -----------------------------------------------------------
    def observe(self, finding: Finding, at_text: str) -> dict | None:
        """Fold one finding in; return an alert record to emit, or None.

        ``at_text`` is the triggering event's own RFC 3339 time, echoed in
        ``starts_at`` so responders see the sender's time zone.
        """
        k = (finding.detector, finding.key)
        ep = self.open.get(k)
        if ep is None:
            ep = Episode(
                alert_id=alert_id_for(finding.detector, finding.key, finding.ts),
                detector=finding.detector,
                key=finding.key,
                start_ts=finding.ts,
                starts_at=at_text,
                last_ts=finding.ts,
                last_at=at_text,
                score=finding.score,
                severity=finding.severity,
                summary=finding.summary,
                evidence=finding.evidence,
                campaign=alert_id_for(finding.detector, finding.key, finding.ts),
            )
            self.open[k] = ep
            self.by_id[ep.alert_id] = ep
            if finding.ts < self._earliest:
                self._earliest = finding.ts
            self._merge_ids(ep, finding)
            self.fired_total += 1
            return self._emit(ep, "firing")
        if finding.ts >= ep.last_ts:
            ep.last_ts, ep.last_at = finding.ts, at_text
        ep.score = max(ep.score, finding.score)
        if _SEV_RANK.get(finding.severity, 0) > _SEV_RANK.get(ep.severity, 0):
            ep.severity = finding.severity
        ep.summary, ep.evidence = finding.summary, finding.evidence
        self._merge_ids(ep, finding)
        grown = len(ep.event_ids) >= ep.emitted_events * self.regrow
        if grown or _SEV_RANK[ep.severity] > _SEV_RANK[ep.emitted_severity]:
            ep.updates += 1
            return self._emit(ep, "firing")
        return None

    def advance(self, watermark: float) -> list[dict]:
        """Move event time forward; return resolutions for episodes gone quiet."""
        if watermark <= self.watermark:
            return []
        self.watermark = watermark
        if not self.open:
            return []
        cutoff = watermark - self.quiet
        if cutoff < self._earliest:  # no open episode can be quiet for long enough yet
            return []
        done = [ep for ep in self.open.values() if ep.last_ts <= cutoff]
        if not done:
            self._earliest = min(ep.last_ts for ep in self.open.values())
            return []
        done.sort(key=lambda e: (e.last_ts, e.alert_id))
        out = []
        for ep in done:
            del self.open[(ep.detector, ep.key)]
            del self.by_id[ep.alert_id]
            for eid in ep.event_ids:
                if self.owner.get(eid) == ep.alert_id:
                    del self.owner[eid]
            self.resolved_total += 1
            out.append(self._emit(ep, "resolved"))
        self._earliest = min((ep.last_ts for ep in self.open.values()), default=float("inf"))
        return out

    def active_by_detector(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for det, _ in self.open:
            counts[det] = counts.get(det, 0) + 1
        return counts

    # -- internals --------------------------------------------------------
    def _merge_ids(self, ep: Episode, f: Finding) -> None:
        seen = set(ep.event_ids)
        ids = ep.event_ids
        new = [e for e in f.event_ids if e not in seen]
        if f.trigger_id not in seen and f.trigger_id not in new:
            new.append(f.trigger_id)
        for eid in new:
            if eid in seen:
                continue
            ids.append(eid)
            seen.add(eid)
            other = self.owner.setdefault(eid, ep.alert_id)
            if other != ep.alert_id:
                self._link(ep, self.by_id.get(other))
        if len(ids) > self.max_event_ids:
            # keep the very first trigger plus the most recent evidence
            for eid in ids[1:-(self.max_event_ids - 1)]:
                if self.owner.get(eid) == ep.alert_id:
                    del self.owner[eid]
            ep.event_ids = ids[:1] + ids[-(self.max_event_ids - 1):]

    def _link(self, ep: Episode, other: Episode | None) -> None:
        if other is None or other.alert_id in ep.links:
            return
        ep.links.add(other.alert_id)
        other.links.add(ep.alert_id)
        # the group takes the campaign id of its earliest member
        first = min((ep, other), key=lambda e: (e.start_ts, e.campaign))
        ep.campaign = other.campaign = first.campaign

    def _emit(self, ep: Episode, status: str) -> dict:
        if status == "firing":
            ep.emitted_events = len(ep.event_ids)
            ep.emitted_severity = ep.severity
        rec = {
            "schema": "alert.v1",
            "alert_id": ep.alert_id,
            "detector": ep.detector,
            "key": ep.key,
            "status": status,
            "severity": ep.severity,
            "score": round(float(ep.score), 3),
            "starts_at": ep.starts_at,
        }
        if status == "resolved":
            rec["ends_at"] = ep.last_at
        rec["event_ids"] = list(ep.event_ids)
        rec["summary"] = ep.summary
        rec["evidence"] = dict(ep.evidence, updates=ep.updates, campaign=ep.campaign,
                               linked_alerts=sorted(ep.links))
        return rec
