r"""``mask`` of a whole batch of texts, the same strings as one text at a time.

``TemplateSurge.prepare`` masks every text of a poll that may be long enough
to index (~30 % of the mixed stream, ~100 characters each). One at a time
that is ~13 us a text, a third of it in the punctuation strip and the
placeholder-run collapse: two regex passes that test every character against
``\w``, with a fixed cost per call. Here each text gets its placeholders
(``textmask.placeholders``, the regex rules, one text at a time as in
``mask``: their guards then skip most rules for most texts, where one pass
over the joined batch would run every rule any text needs over all of it),
then the placeholder texts are joined with NUL separators, stripped and
collapsed by one table lookup over the batch's code points (as
``textmask._strip_long`` does for one long text) and split on the NULs again.
The results go into ``mask``'s LRU (``textmask.prime``), where the other
detectors look for them.

The NULs are kept through the strip (on purpose, then split on) and end a
placeholder run as the end of a string does; a text that holds a NUL itself
is masked on its own. Outside the table's BMP a character stays if it is
alphanumeric (what ``\w`` means in ``re``; ``_`` is in the table). A batch
that cannot be encoded as UTF-32 (a lone surrogate) is masked one text at a
time (``mask`` raises where it did). tests/test_textsig.py compares the two
on fuzzed texts.
"""
from __future__ import annotations

import bisect
import itertools
from typing import Sequence

import numpy as np

from detectors.textmask import _expanding, _keep_table, collapse_runs, mask, placeholders, prime, surely_short

__all__ = ["mask_many", "surely_short_many"]

_NUL = "\x00"


def mask_many(texts: Sequence[str]) -> list[str]:
    """``[mask(t) for t in texts]``, stripped for the batch at once (see the module doc)
    and put into ``mask``'s LRU. Raises what ``mask`` raises for a text."""
    placed: dict[str, str] = {}  # each distinct text once, in order
    for t in texts:
        if t and t not in placed and _NUL not in t:
            placed[t] = placeholders(t)
    if not placed:
        return [mask(t) for t in texts]
    try:
        outs = _strip_joined(_NUL.join(placed.values())).split(_NUL)
    except UnicodeEncodeError:  # a lone surrogate somewhere: one text at a time
        return [mask(t) for t in texts]
    done = dict(zip(placed, outs))
    prime(done)
    return [done[t] if t in done else mask(t) for t in texts]


def _strip_joined(s: str) -> str:
    """``mask``'s strip, underscore removal and placeholder-run collapse of every text
    in the NUL-joined ``s``, NULs kept (raises UnicodeEncodeError on a lone surrogate)."""
    cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
    # take, not table[index]: numpy's fancy indexing by a uint32 array goes through its
    # general (casting) path, ~3x slower than take for the same gather
    keep = _keep_table().take(np.minimum(cps, 0xFFFF))
    astral = np.flatnonzero(cps > 0xFFFF)
    if astral.shape[0]:  # outside the table: what ``\w`` says of each (isalnum; never "_")
        keep[astral] = [chr(c).isalnum() for c in cps[astral].tolist()]
    keep[cps == 0] = True
    return collapse_runs(cps[keep]).tobytes().decode("utf-32-le")


def surely_short_many(texts: Sequence[str], min_chars: int) -> list[bool]:
    """``[surely_short(t, min_chars) for t in texts]`` with one regex search for the batch.

    A text within the length bound is surely short unless it holds a character that
    NFKC can expand (``textmask._expanding``, a one-character class): searched for
    in all such texts joined (~0.3 us a text one at a time, mostly the calls' fixed
    cost), and only the texts where one is found take ``surely_short`` itself.
    """
    # surely_short's first test, inline (a call per text is what this saves); False is final
    out = [len(t) + t.count("\u0130") < min_chars for t in texts]
    idx = [i for i, within in enumerate(out) if within]
    if not idx:
        return out
    cand = [texts[i] for i in idx]
    ends = list(itertools.accumulate(map(len, cand)))
    seen: set[int] = set()
    for m in _expanding().finditer("".join(cand)):
        j = bisect.bisect_right(ends, m.start())  # the text the character is in
        if j not in seen:
            seen.add(j)
            out[idx[j]] = surely_short(cand[j], min_chars)
    return out
