"""Event-time parsing for the v1 contract: RFC 3339 with an explicit offset.

``parse_ts`` is on the hot path of every event, so it has two tiers: bounded
look-up tables and a hand-written reader for the common shape, and behind
them ``_parse_ts_exact`` (``datetime.fromisoformat``), which defines what is
valid and words every error. A test compares the tiers on generated strings.

``contract`` reads ``_HOUR_BASE`` and ``_REST`` directly in its fast check
(importing the dict objects); they are only ever cleared here, never rebound,
so those references stay the live tables.
"""
from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, datetime
from typing import Any

from streamer.invalid import InvalidEvent
from streamer.invalid import short_repr as _fmt

__all__ = ["parse_ts", "MIN_YEAR", "MAX_YEAR"]

MIN_YEAR, MAX_YEAR = 1990, 2100


def parse_ts(v: Any, path: str = "ts") -> float:
    """RFC 3339 with an explicit offset -> epoch seconds. Naive times are refused:
    event time must be unambiguous or replays across time zones disagree.

    The common shape ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+hh:mm)`` is read by
    ``_parse_ts_fast`` (a third of the cost of ``datetime``); anything it does
    not recognise as certainly valid goes to ``_parse_ts_exact``, which is the
    definition and the source of every error message.
    """
    if type(v) is str:
        base = _HOUR_BASE.get(v[:13])
        if base is not None:
            rest = _REST.get(v[13:])
            if rest is not None:  # int + float: exact, see _REST
                return base + rest
        t = _parse_ts_fast(v)
        if t is not None:
            return t
    return _parse_ts_exact(v, path)


def _parse_ts_exact(v: Any, path: str) -> float:
    if not isinstance(v, str):
        raise InvalidEvent(path, f"must be an RFC 3339 string, got {type(v).__name__}")
    if len(v) > 40 or len(v) < 20 or v[10:11] not in ("T", "t", " "):
        raise InvalidEvent(path, f"{_fmt(v)} is not an RFC 3339 date-time")
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise InvalidEvent(path, f"{_fmt(v)} is not an RFC 3339 date-time") from None
    if dt.tzinfo is None:
        raise InvalidEvent(path, f"{_fmt(v)} has no UTC offset (e.g. +08:00 or Z)")
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise InvalidEvent(path, f"{_fmt(v)} is outside {MIN_YEAR}..{MAX_YEAR}")
    return dt.timestamp()


# Tables of the fast timestamp path: "YYYY-MM-DDTHH" -> epoch seconds of that hour
# read as UTC; ":MM:SS" -> seconds into the hour; "Z" / "+hh:mm" -> seconds east of
# UTC. Only valid, in-range pieces are stored, so all are bounded: minutes-seconds
# and offsets by construction (3,600 and at most 2,881), hours by clearing when full.
_HOUR_BASE: dict[str, int] = {}
_HOUR_BASE_MAX = 8192
# ":MM:SS<zone>" -> seconds into the hour minus the offset, for whole-second
# timestamps already read once by ``_parse_ts_fast``: the usual event then costs
# two slices and two look-ups in ``parse_ts``. Stored as a float so that
# ``base + rest`` is already the float result; it is exact (both are integers far
# below 2**53), hence equal to ``float(base + min_sec - off)``. Bounded by
# clearing when full (3,600 keys per offset in use).
_REST: dict[str, float] = {}
_REST_MAX = 16384
_OFFSETS: dict[str, int] = {}
_HOUR_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}")
_OFFSET_SHAPE = re.compile(r"[+-][0-9]{2}:[0-9]{2}")
_MIN_SEC = {f":{m:02d}:{s:02d}": m * 60 + s for m in range(60) for s in range(60)}  # ":MM:SS" -> seconds
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _parse_ts_fast(v: str) -> float | None:
    """Epoch seconds of a certainly valid common-shape timestamp, else None.

    Equal bit for bit to ``datetime.fromisoformat(v).timestamp()``, which
    divides integer microseconds by 10**6; so does this (tests compare the two
    on generated strings).
    """
    base = _HOUR_BASE.get(v[:13])
    if base is None:
        base = _hour_base(v[:13])
        if base is None:
            return None
    min_sec = _MIN_SEC.get(v[13:19])
    if min_sec is None:
        return None
    zone = v[19:]
    off = _OFFSETS.get(zone)
    if off is not None:  # the usual case: whole seconds
        if len(_REST) >= _REST_MAX:
            _REST.clear()
        _REST[v[13:]] = float(min_sec - off)
        return float(base + min_sec - off)
    if zone[:1] == ".":
        end = 1
        while end < len(zone) and zone[end] in "0123456789":
            end += 1
        frac, zone = zone[1:end], zone[end:]
        if not 1 <= len(frac) <= 6:
            return None
    else:
        frac = ""
    off = _OFFSETS.get(zone)
    if off is None:
        off = _offset(zone)
        if off is None:
            return None
    secs = base + min_sec - off
    if frac:
        return (secs * 1_000_000 + int(frac.ljust(6, "0"))) / 1_000_000
    return float(secs)


def _hour_base(key: str) -> int | None:
    if not _HOUR_SHAPE.fullmatch(key):
        return None
    y, mo, d, h = int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13])
    if not (MIN_YEAR <= y <= MAX_YEAR and 1 <= mo <= 12 and 1 <= d <= monthrange(y, mo)[1] and h <= 23):
        return None
    if len(_HOUR_BASE) >= _HOUR_BASE_MAX:
        _HOUR_BASE.clear()
    base = _HOUR_BASE[key] = (date(y, mo, d).toordinal() - _EPOCH_ORDINAL) * 86400 + h * 3600
    return base


def _offset(zone: str) -> int | None:
    if zone == "Z":
        off = 0
    elif _OFFSET_SHAPE.fullmatch(zone) and int(zone[1:3]) <= 23 and int(zone[4:6]) <= 59:
        off = (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * (-1 if zone[0] == "-" else 1)
    else:
        return None
    _OFFSETS[zone] = off
    return off
