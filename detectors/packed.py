"""Batched lookups in a ``Postings``' sorted runs: ``Postings.packed_lookup``'s two pieces.

``rows_in_run`` finds, for every row of a 2-D key array (one row a text's
band keys), the ids one sorted run files under them, for all rows in a few
numpy calls; ``PackedView`` remembers which runs were searched, so a caller
holding the rows can tell when a flush or merge has replaced them. Split out
of ``detectors.postings`` (which re-exports ``PackedView``).
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from detectors.postings import Postings

__all__ = ["PackedView", "rows_in_run"]


class PackedView:
    """Which sorted runs a ``Postings.packed_lookup`` searched (weak references: it keeps
    no replaced array alive); ``current`` while the postings still hold those very arrays.
    (A run's ids are replaced whenever its keys are, so the keys tell.)"""

    __slots__ = ("_main", "_young")

    def __init__(self, post: Postings) -> None:
        self._main = weakref.ref(post.keys)
        self._young = weakref.ref(post.young_keys)

    def current(self, post: Postings) -> bool:
        return self._main() is post.keys and self._young() is post.young_keys


def rows_in_run(run_keys: np.ndarray, run_ids: np.ndarray, q: np.ndarray) -> list[list[int]]:
    """For each row of ``q``, the ids of one sorted run filed under its keys, key by key
    in row order (``Postings._lookup_run``'s order), dead ones included."""
    t, k = q.shape
    if t == 0 or run_keys.shape[0] == 0:
        return [[] for _ in range(t)]
    flat = q.reshape(-1)
    # searched in sorted order: numpy's searchsorted narrows each search from the
    # previous answer, ~3x faster than on the rows' random keys
    order = flat.argsort()
    lo = np.empty(flat.shape[0], dtype=np.intp)
    lo[order] = run_keys.searchsorted(flat[order])
    # most keys are in no run: the key at the insertion point is the query iff it is
    # filed (past the end "clip" reads the last key, which is smaller)
    hit = np.flatnonzero(run_keys.take(lo, mode="clip") == flat)
    if hit.shape[0] == 0:
        return [[] for _ in range(t)]
    lo = lo[hit]
    run = run_keys.searchsorted(flat[hit], "right") - lo
    total = int(run.sum())
    # every found key's run of equal packed keys [lo, lo + run), in row-major key order
    at = np.repeat(lo - (np.cumsum(run) - run), run) + np.arange(total)
    ids = run_ids[at].tolist()
    ends = np.cumsum(np.bincount(hit // k, weights=run, minlength=t)).astype(np.int64).tolist()
    return [ids[a:b] for a, b in zip([0, *ends[:-1]], ends)]
