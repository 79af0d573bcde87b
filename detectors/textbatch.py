"""Pure per-text features of ``template_surge``, for one text or a whole batch.

``TemplateSurge.update`` needs, for every text long enough to index, its
near-duplicate MinHash signature, the folded LSH band keys of it (as an array
and as a list), the sorted unique paraphrase shingles and their count-min
cells. None of that depends on detector state, so ``TemplateSurge.prepare``
computes it for a whole poll's events at once: ~15 numpy calls per batch
instead of ~15 per text, which is what a 200-character letter's features
cost (each numpy call has a ~1 us floor, and these arrays are small).

``features`` is the one-text path (what ``update`` without ``prepare`` does);
``features_batch`` must give the same numbers for every text, and the tests
check that it does. The batch path concatenates the texts' code points and
computes every rolling window hash once over the concatenation: a window's
hash depends only on its own characters, so slicing each text's windows out
of it gives its hashes exactly (the few windows that straddle two texts are
computed and ignored).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from detectors.paraphrase import RareShingles
from detectors.postings import fold32
from detectors.textsig import _C1, _P, _S26, MinHasher, _mix64_inplace, rolling_hashes, sort_unique

__all__ = ["TextFeatures", "features", "features_batch"]

_MAX64 = np.uint64(0xFFFFFFFFFFFFFFFF)


class TextFeatures:
    """What ``TemplateSurge._assign`` needs of one masked text (read-only arrays).

    ``sig``: uint32 MinHash signature; ``q``: its band keys folded to 32 bits
    (uint32 array) and ``bks`` the same as a list of ints; ``para``: sorted
    unique paraphrase-shingle hashes; ``cells``: their count-min cells in
    ``RareShingles`` (shape (depth, len(para))), or None to let it compute them.
    """

    __slots__ = ("sig", "q", "bks", "para", "cells")

    def __init__(self, sig: np.ndarray, q: np.ndarray, bks: list[int], para: np.ndarray,
                 cells: np.ndarray | None) -> None:
        self.sig, self.q, self.bks, self.para, self.cells = sig, q, bks, para, cells


def features(masked: str, hasher: MinHasher, shingle: int, rare_shingle: int) -> TextFeatures:
    """Features of one masked text (both shingle sizes from one rolling pass)."""
    near, para = rolling_hashes(masked, (shingle, rare_shingle))
    sig = hasher.signature(near)
    q = fold32(hasher.band_key_array(sig))
    return TextFeatures(sig, q, q.tolist(), sort_unique(para), None)


def features_batch(maskeds: Sequence[str], hasher: MinHasher, shingle: int, rare_shingle: int,
                   rare: RareShingles) -> list[TextFeatures]:
    """``features`` of every text in ``maskeds``, vectorised over the batch.

    Every text must be at least ``max(shingle, rare_shingle)`` characters long
    (shorter ones hash as one whole-text window: the caller keeps those on the
    one-text path). ``rare`` gives the count-min cells of the paraphrase
    shingles (pure: a function of its width, depth and salts).
    """
    t = len(maskeds)
    if t == 0:
        return []
    lens = np.fromiter(map(len, maskeds), dtype=np.int64, count=t)
    starts = np.zeros(t, dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    cps = np.frombuffer("".join(maskeds).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    tid = np.repeat(np.arange(t), lens)  # text of each code point
    off = np.arange(cps.shape[0]) - np.repeat(starts, lens)  # position within its text
    wins = {k: _windows(cps, k) for k in {shingle, rare_shingle}}

    # near-duplicate tier: one-permutation MinHash of each text's k-windows
    sig = _oph_batch(hasher, wins[shingle], tid, off, lens - shingle, t)
    h = sig.astype(np.uint64).reshape(t, hasher.bands, hasher.rows) @ hasher.band_mul  # wraps, as per text
    h ^= hasher.band_salt
    _mix64_inplace(h)
    q = fold32(h)
    bks = q.tolist()

    # paraphrase tier: each text's sorted unique k-windows, in one padded 2-D sort
    para, counts = _unique_rows(wins[rare_shingle], tid, off, lens - rare_shingle + 1, t)
    cells = rare._cells(para)
    ends = np.cumsum(counts).tolist()
    out = []
    a = 0
    for i in range(t):
        b = ends[i]
        out.append(TextFeatures(sig[i], q[i], bks[i], para[a:b], cells[:, a:b]))
        a = b
    return out


def _windows(cps: np.ndarray, k: int) -> np.ndarray:
    """Mixed hash of every ``k``-window of ``cps`` (as ``textsig.rolling_hashes``)."""
    h = cps
    for j in range(2, k + 1):
        h = h[:-1] * _P  # uint64: wraps
        h += cps[j - 1:]
    h = h.copy() if h is cps else h
    _mix64_inplace(h)
    return h


def _oph_batch(hasher: MinHasher, x_all: np.ndarray, tid: np.ndarray, off: np.ndarray, last: np.ndarray,
               t: int) -> np.ndarray:
    """(t, num_perm) signatures, the same as ``hasher.signature`` of each text's windows.

    A slot is the minimum re-mixed hash of its bin (``np.minimum.at`` over
    (text, bin) groups, where the one-text path sorts and searches), shifted
    like there; empty bins borrow along the same probe orders. ``last``: each
    text's last window start.
    """
    n = x_all.shape[0]
    valid = off[:n] <= last[tid[:n]]
    x = x_all[valid] ^ hasher.salt
    x *= _C1
    p = hasher.num_perm
    # bin i holds [edges[i], edges[i+1]): the one-text path's searchsorted on the sorted hashes
    g = tid[:n][valid] * p + (np.searchsorted(hasher.edges, x, side="right") - 1)
    mins = np.full(t * p, _MAX64, dtype=np.uint64)
    np.minimum.at(mins, g, x)
    full = (np.bincount(g, minlength=t * p) > 0).reshape(t, p)
    sig = (mins >> _S26).astype(np.uint32).reshape(t, p)
    te, be = np.nonzero(~full)
    if te.shape[0]:
        order = hasher.probe[be]
        src = order[np.arange(te.shape[0]), full[te[:, None], order].argmax(axis=1)]
        sig[te, be] = sig[te, src]
    return sig


def _unique_rows(h_all: np.ndarray, tid: np.ndarray, off: np.ndarray, n: np.ndarray,
                 t: int) -> tuple[np.ndarray, np.ndarray]:
    """Each text's sorted unique window hashes, concatenated, and how many each has.

    The rows are padded with the largest uint64 and sorted in one call; only
    a row's first ``n[i]`` sorted values are its own (a real hash equal to the
    pad sorts among the pads but has the same value, so nothing is lost).
    """
    m = h_all.shape[0]
    valid = off[:m] < n[tid[:m]]
    width = int(n.max())
    rows = np.full((t, width), _MAX64, dtype=np.uint64)
    rows[tid[:m][valid], off[:m][valid]] = h_all[valid]
    rows.sort(axis=1)
    keep = np.arange(width) < n[:, None]
    keep[:, 1:] &= rows[:, 1:] != rows[:, :-1]
    return rows[keep], keep.sum(axis=1)
