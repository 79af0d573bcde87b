"""File and console sinks. (The Kafka sinks live in ``streamer.kafka_sink``.)

Every sink has ``write(record)``, ``flush()`` and ``close()``. ``flush`` is a
durability point: the runner commits source offsets only after every sink
has flushed, so a crash re-delivers rather than loses.
"""
from __future__ import annotations

import os
import sys
from typing import IO, TextIO

import orjson

__all__ = ["JsonlSink", "ConsoleAlertSink", "format_alert"]


class JsonlSink:
    """Appends one JSON document per line; never truncates an existing file.

    ``flush`` also fsyncs, so that a flushed alert survives a power cut.
    """

    def __init__(self, path: str | os.PathLike, fsync: bool = True) -> None:
        self.path = os.fspath(path)
        d = os.path.dirname(self.path)
        if d:
            os.makedirs(d, exist_ok=True)
        self._f: IO[bytes] = open(self.path, "ab")
        self._fsync = fsync
        self.written = 0

    def write(self, record: dict) -> None:
        self._f.write(orjson.dumps(record) + b"\n")
        self.written += 1

    def flush(self) -> None:
        self._f.flush()
        if self._fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()


_SEV_MARK = {"critical": "!!", "warning": "! ", "info": "  "}


def format_alert(rec: dict) -> str:
    """One readable line (plus a summary line) for a human watching a terminal."""
    status = rec["status"].upper()
    mark = _SEV_MARK.get(rec.get("severity", ""), "  ")
    when = rec.get("ends_at") if rec["status"] == "resolved" else rec["starts_at"]
    n = len(rec.get("event_ids", ()))
    head = (f"{mark} {status:<8} {rec['severity']:<8} {rec['detector']:<16} {rec['key']:<30} "
            f"score={rec['score']:<7} since {when}  ({n} complaints)")
    return f"{head}\n      {rec.get('summary', '')}"


class ConsoleAlertSink:
    """Prints alerts readably (``json=False``) or as JSON lines (``json=True``)."""

    def __init__(self, stream: TextIO | None = None, json: bool = False, updates: bool = True) -> None:
        self.stream = stream or sys.stdout
        self.json = json
        self.updates = updates
        self._seen: set[str] = set()

    def write(self, record: dict) -> None:
        if not self.updates and record["status"] == "firing":
            if record["alert_id"] in self._seen:
                return
            self._seen.add(record["alert_id"])
        if self.json:
            self.stream.write(orjson.dumps(record).decode() + "\n")
        else:
            # on a terminal, wipe a progress bar that may be sitting on the current line
            clear = "\r\x1b[K" if self.stream.isatty() else ""
            self.stream.write(clear + format_alert(record) + "\n")

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.flush()
