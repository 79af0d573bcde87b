"""``mask`` of a whole batch of texts at once, the same strings as one text at a time.

``TemplateSurge.prepare`` masks every text of a poll that may be long enough
to index (~30 % of the mixed stream, ~100 characters each). One at a time
that is ~13 us a text, about a third of it in the punctuation strip and the
placeholder-run collapse (two regex passes that test every character against
``\\w``) and much of the rest in the fixed cost of ~6 regex calls. Here the
texts are folded (NFKC where needed, lower case) one by one, then joined with
NUL separators and masked as one string: each regex runs once per batch, and
the strip and the collapse are one table lookup over the batch's code points
(as ``textmask._strip_long`` does for one long text). The results go into
``mask``'s LRU (``textmask.prime``), where the other detectors look.

Why the joined string masks to the joined masks (tests/test_textsig.py
compares them on fuzzed texts):

* No rule can match across a NUL: no pattern's character classes contain it
  (``\\w``, ``\\s``, digits, CJK, the number-span punctuation), and a text
  that contains a NUL itself is masked on its own.
* A text's start is preceded by a NUL, which no pattern looks behind for (the
  number span's look-behind wants a digit), as at the start of a string.
* A text's end is followed by a NUL: the name rule, whose look-ahead accepts
  the end of the string, is compiled with ``$|\\x00`` there
  (``textmask._masks``); every other look-ahead wants a character a NUL is not.
* A mask whose guard substring occurs in the batch but not in a text changes
  nothing in that text: every rule's pattern contains one of its guards.
* The NULs survive the strip (kept on purpose, then split on) and end a
  placeholder run, as the end of a string does.

A batch that cannot be encoded as UTF-32 (a lone surrogate) is masked one
text at a time (``mask`` raises where it did).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from detectors.textmask import _keep_table, _masked_fold, _masks, fold, mask, prime

__all__ = ["mask_many"]

#: ``textmask._MASKS`` for NUL-joined texts (the name rule's look-ahead also takes a NUL)
_MASKS_JOINED = _masks("$|\x00")
_NUL = "\x00"


def mask_many(texts: Sequence[str]) -> list[str]:
    """``[mask(t) for t in texts]``, computed for the batch at once (see the module
    doc) and put into ``mask``'s LRU. Raises what ``mask`` raises for a text."""
    folded: dict[str, str] = {}  # each distinct text once, in order
    alone: list[str] = []  # texts with a NUL of their own (or empty): one at a time
    for t in texts:
        if t not in folded:
            f = fold(t)
            if _NUL in f or not t:
                alone.append(t)
            folded[t] = f
    for t in alone:
        del folded[t]
    if not folded:
        return [mask(t) for t in texts]
    try:
        outs = _strip_joined(_masked_fold(_NUL.join(folded.values()), _MASKS_JOINED)).split(_NUL)
    except UnicodeEncodeError:  # a lone surrogate somewhere: one text at a time
        return [mask(t) for t in texts]
    done = dict(zip(folded, outs))
    prime(done)
    return [done[t] if t in done else mask(t) for t in texts]


def _strip_joined(s: str) -> str:
    """``mask``'s strip, underscore removal and placeholder-run collapse of every text
    in the NUL-joined ``s``, NULs kept (raises UnicodeEncodeError on a lone surrogate)."""
    cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
    keep = _keep_table()[np.minimum(cps, 0xFFFF)]
    astral = np.flatnonzero(cps > 0xFFFF)
    if astral.shape[0]:  # outside the table: what ``\w`` says of each (isalnum; never "_")
        keep[astral] = [chr(c).isalnum() for c in cps[astral].tolist()]
    keep[cps == 0] = True
    c = cps[keep]
    if c.shape[0] > 1:
        # a placeholder equal to the one before it is part of a run: drop it (a NUL
        # between two texts is no placeholder, so runs end with their text)
        dup = c[1:] == c[:-1]
        dup &= (c[1:] >> 8) == 0xE0
        if dup.any():
            c = c[np.concatenate(([True], ~dup))]
    return c.tobytes().decode("utf-32-le")
