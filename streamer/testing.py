"""Testing helpers shipped with the package: event builders, in-memory source and sink.

Use them in your own tests of a detector or a sink::

    from streamer.testing import raw_event, make_event
    ev = make_event(contacts=[("phone", "13800000000", "representative")], ts="2024-01-02T10:00:00+08:00")
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from streamer.contract import to_event, validate
from streamer.events import Event
from streamer.pseudonym import DEV_KEY, Pseudonymizer

__all__ = ["raw_event", "make_event", "TEST_PSEUDO", "iso", "MemorySource", "MemorySink"]

TEST_PSEUDO = Pseudonymizer(DEV_KEY)
_ids = itertools.count(1)
BASE_TS = datetime(2024, 3, 4, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def iso(hours: float = 0.0, base: datetime = BASE_TS) -> str:
    """RFC 3339 time ``hours`` after a fixed base (a Monday 09:00 +08:00)."""
    return (base + timedelta(hours=hours)).isoformat(timespec="seconds")


def raw_event(
    *,
    event_id: str | None = None,
    ts: str | float = 0.0,
    institution: str = "bank-a",
    channel: str = "hotline",
    category: str = "service",
    complainant: str | None = None,
    age: int | None = None,
    contacts: Iterable[tuple[str, str, str]] | None = None,
    text: str | None = None,
    **extra: Any,
) -> dict:
    """A contract-valid event document. ``ts`` may be hours after BASE_TS.
    ``contacts`` are ``(kind, value, role)`` triples."""
    n = next(_ids)
    doc: dict[str, Any] = {
        "schema": "complaint.v1",
        "event_id": event_id or f"t-{n:07d}",
        "ts": iso(ts) if isinstance(ts, (int, float)) else ts,
        "institution": institution,
        "channel": channel,
        "category": category,
        "complainant": {"id": complainant or f"C-{n:07d}"},
    }
    if age is not None:
        doc["complainant"]["age"] = age
    if contacts:
        doc["contacts"] = [{"kind": k, "value": v, "role": r} for k, v, r in contacts]
    if text is not None:
        doc["text"] = text
    doc.update(extra)
    return doc


def make_event(**kw: Any) -> Event:
    """Like raw_event, but validated and pseudonymised with the dev key."""
    return to_event(validate(raw_event(**kw)), TEST_PSEUDO)


class MemorySource:
    """A source over an in-memory list of raw messages (bytes, str or dict)."""

    def __init__(self, messages: Iterable[bytes | str | dict]) -> None:
        import orjson

        self._messages = [orjson.dumps(m) if isinstance(m, dict) else m for m in messages]

    def __iter__(self) -> Iterator[bytes | str]:
        return iter(self._messages)


class MemorySink:
    """Collects every record written to it; ``records`` keeps the order."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.flushes = 0

    def write(self, record: dict) -> None:
        self.records.append(record)

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        pass
