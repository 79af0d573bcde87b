"""What surgewatch sends Alertmanager for one alert record: labels, annotations, times.

Kept apart from the sink (``streamer.alertmanager``), which owns delivery (the
thread, retries, re-posts): this half is pure and decides *what* an alert says.
Labels are the small stable identity Alertmanager groups and deduplicates by
(alertname, detector, severity, pseudonymous key, service); everything else is
an annotation, and only numeric evidence reaches the description, because
detector evidence may grow free-text fields and annotations must never carry
raw identifiers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["AlertSpec", "DEFAULT_RUNBOOK", "SAMPLE_EVENT_IDS", "alertname_for", "build_spec", "to_am_alert"]

SAMPLE_EVENT_IDS = 10
DEFAULT_RUNBOOK = "https://github.com/surgewatch/surgewatch/blob/main/docs/runbook.md"


def alertname_for(detector: str) -> str:
    """``agent_surge`` -> ``SurgewatchAgentSurge``."""
    return "Surgewatch" + "".join(p[:1].upper() + p[1:] for p in detector.split("_") if p)


def _parse_ts(text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return default
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class AlertSpec:
    """One Alertmanager alert, minus ``endsAt`` (computed at send time)."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts: float              # epoch seconds (event time of the episode start)
    ends: float | None = None  # None while firing

    @property
    def ident(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))


def build_spec(rec: dict, *, alertname: str | None, runbook_url: str, service: str,
                extra_labels: dict[str, str]) -> AlertSpec:
    """The alert for one alert-topic record (an episode's open, update or resolve)."""
    det = str(rec.get("detector", "unknown"))
    labels = dict(extra_labels)
    labels.update({
        "alertname": alertname or alertname_for(det),
        "detector": det,
        "severity": str(rec.get("severity", "warning")),
        "key": str(rec.get("key", "")),
        "service": service,
    })
    ids = [str(i) for i in rec.get("event_ids") or ()]
    # Only numeric evidence goes into the description: detector evidence may
    # grow free-text fields, and annotations must never carry raw identifiers.
    figures = ", ".join(f"{k}={v}" for k, v in sorted((rec.get("evidence") or {}).items())
                        if isinstance(v, (int, float)) and not isinstance(v, bool))
    desc = (f"Score {rec.get('score')} over {len(ids)} complaints"
            f" since {rec.get('starts_at', '?')}." + (f" Evidence: {figures}." if figures else ""))
    annotations = {
        "summary": str(rec.get("summary", "")) or f"{det} surge on {labels['key']}",
        "description": desc.strip(),
        "runbook_url": f"{runbook_url}#{det.replace('_', '-')}" if runbook_url else "",
        "event_ids": ",".join(ids[:SAMPLE_EVENT_IDS]),
        "event_count": str(len(ids)),
        "starts_at": str(rec.get("starts_at", "")),
        "alert_id": str(rec.get("alert_id", "")),
        "score": str(rec.get("score", "")),
    }
    now = time.time()
    starts = _parse_ts(rec.get("starts_at"), now)
    ends = _parse_ts(rec.get("ends_at"), now) if rec.get("status") == "resolved" else None
    return AlertSpec(labels, {k: v for k, v in annotations.items() if v}, starts, ends)


def to_am_alert(spec: AlertSpec, now: float, resolve_timeout: float) -> dict:
    """The JSON object Alertmanager's v2 API takes for one alert."""
    if spec.ends is None:
        ends = now + resolve_timeout
        starts = min(spec.starts, now)
    else:
        ends = min(spec.ends, now)  # in the past, or Alertmanager keeps it firing
        starts = min(spec.starts, ends)
    return {"labels": spec.labels, "annotations": spec.annotations,
            "startsAt": _rfc3339(starts), "endsAt": _rfc3339(ends)}
