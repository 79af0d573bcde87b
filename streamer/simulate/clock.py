"""Event-time helpers: the simulated calendar and its diurnal / weekly rhythm.

Times are kept as integer seconds since the scenario start (a local midnight in
China Standard Time) and only turned into RFC 3339 strings with an explicit
``+08:00`` offset at the very end. Integers make sorting cheap and exact, and
never touching the wall clock keeps runs byte-for-byte reproducible.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

__all__ = [
    "CST", "DAY", "HOUR", "parse_start", "iso", "weekday", "is_weekend",
    "HOURLY_WEIGHTS", "EVENING_HEAVY_WEIGHTS", "sample_time_in_day", "working_time", "date_cn",
]

CST = timezone(timedelta(hours=8))
HOUR = 3600
DAY = 24 * HOUR

#: Complaint intake by local hour: near-silent at night, a mid-morning peak,
#: a lunch dip and an afternoon peak (hotline and branch working hours).
HOURLY_WEIGHTS: tuple[float, ...] = (
    0.05, 0.03, 0.02, 0.02, 0.02, 0.04, 0.10, 0.30, 0.70, 1.00, 1.10, 1.00,
    0.65, 0.70, 0.95, 1.00, 0.90, 0.70, 0.45, 0.40, 0.38, 0.30, 0.18, 0.09,
)
#: App and social complaints are written after work too: flatter, evening-heavy.
EVENING_HEAVY_WEIGHTS: tuple[float, ...] = (
    0.15, 0.08, 0.04, 0.03, 0.03, 0.05, 0.15, 0.35, 0.60, 0.75, 0.80, 0.80,
    0.80, 0.70, 0.70, 0.70, 0.70, 0.70, 0.75, 0.90, 1.00, 0.95, 0.70, 0.35,
)


def _cum(weights: tuple[float, ...]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


_CUM = {id(HOURLY_WEIGHTS): _cum(HOURLY_WEIGHTS), id(EVENING_HEAVY_WEIGHTS): _cum(EVENING_HEAVY_WEIGHTS)}


def parse_start(start: str) -> datetime:
    """Parse the profile's start (must carry an offset)."""
    dt = datetime.fromisoformat(start)
    if dt.tzinfo is None:
        raise ValueError(f"start must carry a UTC offset: {start!r}")
    return dt


def iso(start: datetime, t: int) -> str:
    """RFC 3339 string ``t`` seconds after ``start``, in +08:00."""
    return (start + timedelta(seconds=t)).astimezone(CST).isoformat(timespec="seconds")


def weekday(start: datetime, day: int) -> int:
    """0 = Monday for the ``day``-th simulated day."""
    return (start.weekday() + day) % 7


def is_weekend(start: datetime, day: int) -> bool:
    return weekday(start, day) >= 5


def sample_time_in_day(rng: random.Random, day: int, weights: tuple[float, ...] = HOURLY_WEIGHTS) -> int:
    """A second within simulated ``day`` drawn from an hourly intensity curve."""
    hour = rng.choices(range(24), cum_weights=_CUM.get(id(weights)) or _cum(weights))[0]
    return day * DAY + hour * HOUR + rng.randrange(HOUR)


def working_time(rng: random.Random, day: int, lo: float = 9.0, hi: float = 17.5) -> int:
    """A second within office hours of ``day`` (mail rooms and regulators work office hours)."""
    return day * DAY + int(rng.uniform(lo, hi) * HOUR)


def date_cn(start: datetime, t: int, with_year: bool = True) -> str:
    """Chinese calendar date of event time ``t``, e.g. ``2024年3月5日``."""
    d = (start + timedelta(seconds=t)).astimezone(CST)
    return f"{d.year}年{d.month}月{d.day}日" if with_year else f"{d.month}月{d.day}日"
