"""Replay a JSONL file through the pipeline, in file order, with progress.

The same Pipeline as ``run``: a replay of the file a live run consumed (in the
same order) yields the same alerts, byte for byte.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import IO

from streamer.pipeline import Pipeline

__all__ = ["replay_file", "Progress"]


class Progress:
    """A one-line progress bar on stderr (only when it is a terminal, or forced).

    Uses the wall clock for display only; detection never sees it.
    """

    def __init__(self, total_bytes: int, enabled: bool | None = None, stream: IO[str] | None = None,
                 label: str = "replay") -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.enabled = self.tty if enabled is None else enabled
        self.total = max(1, total_bytes)
        self.label = label
        self.t0 = time.monotonic()
        self._last = 0.0
        self._last_quarter = -1

    def update(self, done_bytes: int, events: int, alerts: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        frac = min(1.0, done_bytes / self.total)
        if not self.tty:  # a log file or pipe: a plain line at each quarter, no carriage returns
            quarter = int(frac * 4)
            if quarter == self._last_quarter and not force:
                return
            self._last_quarter = quarter
        elif not force and now - self._last < 0.2:
            return
        self._last = now
        bar = "#" * int(frac * 30)
        rate = events / max(now - self.t0, 1e-9)
        line = (f"{self.label} [{bar:<30}] {frac * 100:5.1f}%  {events:>8} events  "
                f"{rate:>8.0f}/s  {alerts:>5} alerts")
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if force else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def replay_file(path: str, pipeline: Pipeline, *, progress: Progress | None = None,
                flush_every: int = 5000, on_event: Callable[[int], None] | None = None,
                batch: int = 1000) -> int:
    """Feed every line of ``path`` to ``pipeline``; return the number of lines read.

    Blank lines are skipped; any other line, even undecodable bytes, is a
    message (bad ones end in the dead-letter sink with their line number).
    Lines go to ``Pipeline.process_batch`` ``batch`` at a time (a Kafka run
    polls 1,000 records by default): the same outputs as one by one, and
    detectors with a ``prepare`` hook can work on many events at once.
    Because of that, ``on_event(n)`` (called for every message, n = 1, 2,
    ...) and the sink flush after every ``flush_every`` messages and the
    progress updates happen once the chunk holding that message has been
    processed; pass ``batch=1`` to observe the pipeline after each line.
    """
    name = os.path.basename(path)
    n = 0
    done = 0
    alerts = lambda: sum(pipeline.stats.alerts.values())  # noqa: E731
    chunk: list[tuple[bytes, dict]] = []

    def run_chunk() -> None:
        nonlocal n
        before = n
        pipeline.process_batch(chunk)
        n += len(chunk)
        chunk.clear()
        if n // flush_every > before // flush_every:  # crossed a multiple of flush_every
            pipeline.flush()
        if progress is not None and n // 256 > before // 256:
            progress.update(done, n, alerts())
        if on_event is not None:
            for i in range(before + 1, n + 1):
                on_event(i)

    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            done += len(line)
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            chunk.append((line, {"file": name, "line": lineno}))
            if len(chunk) >= batch:
                run_chunk()
        if chunk:
            run_chunk()
    pipeline.flush()
    if progress is not None:
        progress.update(done, n, alerts(), force=True)
    return n
