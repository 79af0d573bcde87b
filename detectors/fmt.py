"""Formatting shared by the detectors' summaries and evidence (one wording everywhere)."""
from __future__ import annotations

__all__ = ["DAY", "fmt_span", "fmt_window"]

DAY = 86400.0


def fmt_span(seconds: float) -> str:
    """A duration for a sentence: '1 minute', '5 hours', '3 days'."""
    if seconds < 3600:
        m = max(1, round(seconds / 60))
        return f"{m} minute" + ("s" if m != 1 else "")
    if seconds < 2 * DAY:
        h = round(seconds / 3600)
        return f"{h} hour" + ("s" if h != 1 else "")
    return f"{round(seconds / DAY)} days"


def fmt_window(seconds: float) -> str:
    """A window for evidence fields: '30d', '6h', '90s'."""
    if seconds % DAY == 0:
        return f"{int(seconds // DAY)}d"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds)}s"
