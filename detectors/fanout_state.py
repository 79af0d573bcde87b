"""fanout_state: stage 1 of ``complainant_fanout`` -- one complainant's recent filings.

Split out of ``complainant_fanout`` so the per-complainant record (a filing
tuple, the text fingerprint that tells a re-filed letter from a new one, and
the two metrics computed over a window of filings) is one small module with
one job; the detector keeps the LRU of ``_Person`` and the tier logic.

* *fan-out degree* -- distinct institutions the complainant filed at within a
  tier's window ending at their latest filing;
* *repeat level* -- ``1 +`` the complainant's filings within the window that
  re-file an earlier complaint: ``repeat_of`` is set (the intake system says
  so), or the text is the same as an earlier filing of theirs *at the same
  institution* (the same letter to four banks is fan-out, not repeat). "Same
  text" is a cheap fingerprint: blake2b of the first and of the last
  ``fp_chars`` characters of ``textsig.mask(text)`` (numbers, dates and names
  masked), so "再次投诉：" prefixes or a changed date do not hide a copy.
  Texts shorter than ``min_text`` effective characters get no fingerprint
  (hotline boilerplate like 客户来电查询还款金额 repeats across calls).

State: plain attributes, pickles; no salted ``hash()``.
"""
from __future__ import annotations

import hashlib
import unicodedata

from detectors.base import SlotState
from detectors.textsig import effective_length, mask
from streamer.events import Event

REGULATOR = "regulator"

# a filing: (ts, event_id, institution, channel, fp_head, fp_tail, is_repeat)
_TS, _ID, _INST, _CH, _FPH, _FPT, _REP = range(7)


def _h64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "big")


def _surely_short(text: str, min_text: int) -> bool:
    """True when ``effective_length(mask(text)) < min_text`` is certain without masking.

    Masking never makes a text longer than the longer of it and its NFKC
    form: every replacement puts one placeholder for one or more characters,
    the rest only strips, and ``str.lower`` lengthens nothing but U+0130. Most
    hotline records are this short, so they skip the regex passes.
    """
    if len(text) >= min_text or "\u0130" in text:
        return False
    return unicodedata.is_normalized("NFKC", text) or len(unicodedata.normalize("NFKC", text)) < min_text


def _fp(text: str, min_text: int, chars: int) -> tuple[int | None, int | None]:
    """Head and tail fingerprints of the masked text (None if too short to mean anything)."""
    if not text or _surely_short(text, min_text):
        return None, None
    m = mask(text)
    if effective_length(m) < min_text:
        return None, None
    if len(m) <= chars:  # head and tail are the whole text: one hash
        h = _h64(m)
        return h, h
    return _h64(m[:chars]), _h64(m[-chars:])


class _Person(SlotState):
    """Recent filings of one complainant and when they last crossed each tier."""

    __slots__ = ("filings", "onsets", "last_ts")

    def __init__(self, ts: float) -> None:
        self.filings: list[tuple] = []
        self.onsets: dict[str, float] = {}
        self.last_ts = ts


def add_filing(p: _Person, event: Event, min_text: int, fp_chars: int, max_filings: int) -> None:
    """Record ``event`` as a filing of ``p`` (time-ordered, at most ``max_filings`` kept)."""
    head, tail = _fp(event.text, min_text, fp_chars)
    rep = event.repeat_of is not None
    if not rep and head is not None:
        inst = event.institution
        rep = any(f[_INST] == inst and (f[_FPH] == head or f[_FPT] == tail) for f in p.filings)
    rec = (event.ts, event.event_id, event.institution, event.channel, head, tail, rep)
    fl = p.filings
    fl.append(rec)
    if len(fl) > 1 and fl[-2][_TS] > event.ts:  # late event: keep time order
        fl.sort(key=lambda f: (f[_TS], f[_ID]))
    if len(fl) > max_filings:
        del fl[0]
    p.last_ts = max(p.last_ts, event.ts)


def window(p: _Person, span: float) -> list[tuple]:
    """The filings of ``p`` within ``span`` seconds of their latest."""
    lo = p.last_ts - span
    return [f for f in p.filings if f[_TS] > lo]


def metric(pattern: str, recent: list[tuple]) -> int:
    """Fan-out degree or repeat level of ``recent`` filings."""
    if pattern == "fanout":
        return len({f[_INST] for f in recent})
    return 1 + sum(1 for f in recent if f[_REP])
