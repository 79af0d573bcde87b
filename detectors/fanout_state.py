"""fanout_state: stage 1 of ``complainant_fanout`` -- one complainant's recent filings.

Split out of ``complainant_fanout`` so the per-complainant record (a filing
tuple, the text fingerprint that tells a re-filed letter from a new one, and
the two metrics computed over a window of filings) is one small module with
one job; the detector keeps the LRU of complainants and the tier logic.

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

One complainant's state is just the list of their filings, oldest first (a
list of tuples, no object per complainant: almost every complainant files
once, and the per-complainant cost is what the whole flow pays). Their latest
filing time -- what the LRU's TTL reads -- is the last filing's ``ts``: the
list is kept in time order and only the oldest is ever dropped.

Fingerprints are *lazy*: a fingerprint is only ever compared with a later
filing of the same complainant at the same institution, which almost never
comes, so a filing whose text has at most ``PENDING_CHARS`` characters keeps
the text itself ("pending") in the fingerprint slots until such a filing
needs it (``fingerprints``). Longer texts are fingerprinted at once, which
bounds the text a complainant's state can hold. ``resolve_all`` computes every
pending fingerprint, so a checkpoint holds fingerprints, never complaint text,
in the same layout as when every fingerprint was computed eagerly.

The complainants themselves are an LRU (``evict``): an OrderedDict of
filings, least recently touched first, dropped once their latest filing is
older than the TTL or when over the cap.

State: plain lists and tuples, pickles; no salted ``hash()``.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable

from detectors.base import SlotState
from detectors.textmask import surely_short
from detectors.textsig import effective_length, mask
from streamer.events import Event

REGULATOR = "regulator"

# a filing: (ts, event_id, institution, channel, fp_head, fp_tail, is_repeat);
# while pending, fp_head is the text (a str) and fp_tail is None
_TS, _ID, _INST, _CH, _FPH, _FPT, _REP = range(7)

# texts up to this long wait for their fingerprints (~0.4 kB as CJK text, about
# what the rest of a one-filing complainant costs); 98 % of the mixed flow does
PENDING_CHARS = 160


def _h64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "big")


# the template detector's length bound, shared (it was written here first and again
# there); the old name stays for importers (complainant_fanout re-exports it)
_surely_short = surely_short


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
    """The per-complainant layout of checkpoints written before filings were a
    plain list; kept only so they unpickle (the detector migrates them)."""

    __slots__ = ("filings", "onsets", "last_ts")

    def __init__(self, ts: float) -> None:
        self.filings: list[tuple] = []
        self.onsets: dict[str, float] = {}
        self.last_ts = ts


def new_filing(event: Event, min_text: int, fp_chars: int) -> tuple:
    """The filing record of ``event``, its fingerprints pending if its text is
    short enough; a re-filing if ``repeat_of`` says so (``add_filing`` also
    compares texts)."""
    text = event.text
    if text and len(text) > PENDING_CHARS:
        head, tail = _fp(text, min_text, fp_chars)
    else:
        head, tail = text or None, None  # no text: no fingerprint
    return (event.ts, event.event_id, event.institution, event.channel, head, tail, event.repeat_of is not None)


def fingerprints(fl: list[tuple], i: int, min_text: int, fp_chars: int) -> tuple:
    """Filing ``fl[i]`` with its fingerprints computed (and stored back if they were pending)."""
    f = fl[i]
    if type(f[_FPH]) is str:
        f = fl[i] = (*f[:_FPH], *_fp(f[_FPH], min_text, fp_chars), *f[_FPT + 1:])
    return f


def resolve_all(people: Iterable[list[tuple]], min_text: int, fp_chars: int) -> None:
    """Compute every pending fingerprint (before a checkpoint: no text in it)."""
    for fl in people:
        for i in range(len(fl)):
            fingerprints(fl, i, min_text, fp_chars)


def add_filing(fl: list[tuple], event: Event, min_text: int, fp_chars: int, max_filings: int) -> None:
    """Record ``event`` as a further filing of the complainant with filings ``fl``
    (time-ordered, at most ``max_filings`` kept)."""
    rec = new_filing(event, min_text, fp_chars)
    if not rec[_REP] and event.text:
        # a re-filing by text: only an earlier filing at the same institution
        # can match, so only then are fingerprints needed (ours and theirs)
        inst = event.institution
        same = [i for i, f in enumerate(fl) if f[_INST] == inst]
        if same:
            if type(rec[_FPH]) is str:
                rec = (*rec[:_FPH], *_fp(event.text, min_text, fp_chars), rec[_REP])
            head, tail = rec[_FPH], rec[_FPT]
            if head is not None:
                for i in same:
                    f = fingerprints(fl, i, min_text, fp_chars)
                    if f[_FPH] == head or f[_FPT] == tail:
                        rec = (*rec[:_REP], True)
                        break
    fl.append(rec)
    if len(fl) > 1 and fl[-2][_TS] > event.ts:  # late event: keep time order
        fl.sort(key=lambda f: (f[_TS], f[_ID]))
    if len(fl) > max_filings:
        del fl[0]


def window(fl: list[tuple], span: float) -> list[tuple]:
    """The filings in ``fl`` within ``span`` seconds of their latest."""
    lo = fl[-1][_TS] - span
    return [f for f in fl if f[_TS] > lo]


def metric(pattern: str, recent: list[tuple]) -> int:
    """Fan-out degree or repeat level of ``recent`` filings."""
    if pattern == "fanout":
        return len({f[_INST] for f in recent})
    return 1 + sum(1 for f in recent if f[_REP])


def evict(people: OrderedDict[str, list[tuple]], crossed: dict[str, dict], horizon: float, max_keys: int,
          batch: int) -> int:
    """Drop complainants whose latest filing is before ``horizon`` (at most
    ``batch``, least recently touched first), then any over ``max_keys``, with
    their ``crossed`` entries; the number dropped.

    Nearly every event of a steady flow expires one complainant, so the front
    of the LRU is read once per complainant dropped plus once to stop.
    (``next(iter(od))`` and a lookup: an OrderedDict's ``items()`` and
    ``values()`` iterators look the key up anyway, and cost more.)"""
    if not people:
        return 0
    k = next(iter(people))
    if people[k][-1][_TS] >= horizon and len(people) <= max_keys:
        return 0  # the common case: the least recently touched is still live
    n = 0
    while n < batch:  # the front is expired or over the cap
        del people[k]
        if crossed:
            crossed.pop(k, None)
        n += 1
        if not people:
            break
        k = next(iter(people))
        if people[k][-1][_TS] >= horizon and len(people) <= max_keys:
            break
    while len(people) > max_keys:  # hard cap, whatever the batch
        k = next(iter(people))
        del people[k]
        if crossed:
            crossed.pop(k, None)
        n += 1
    return n
