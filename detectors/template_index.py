"""template_index: the near-duplicate LSH index of ``template_surge``'s representatives.

Split out of ``template_surge`` so the detector module holds the assignment,
priors and judging, and this one how a text finds the cluster it is a copy of.
The index (``TemplateSurge._lsh``, a ``Postings``) files each near-duplicate
cluster's id under its representative's band keys folded to 32 bits; a lookup
gives *proposals*, which ``closest`` checks against the representatives' full
signatures (a real candidate shares a whole band with the text) and ranks by
estimated Jaccard. Paraphrase families live in ``paraphrase.RareIndex``
instead; ``unindex`` drops a cluster from whichever of the two holds it (and
keeps the cluster table compact, see ``compact_clusters``).

Functions of the detector's state, no state of their own: checkpoints are
unchanged (``upgrade`` brings an older one's indexes to today's layout).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from detectors.postings import Postings, fold32
from detectors.textsig import MinHasher

if TYPE_CHECKING:
    from detectors.template_state import _Cluster
    from detectors.template_surge import TemplateSurge

__all__ = ["candidates", "closest", "compact_clusters", "index_keys", "refile", "unindex", "upgrade"]


def index_keys(hasher: MinHasher, sig: np.ndarray | bytes) -> list[int]:
    """The 32-bit folded band keys a representative with signature ``sig`` is filed under."""
    return fold32(hasher.band_key_array(sig)).tolist()


def unindex(det: TemplateSurge, cid: int, c: _Cluster) -> None:
    """Drop cluster ``cid`` (``c``, evicted: already out of ``det._clusters``) from the
    index of its tier, and compact the cluster table now and then (``compact_clusters``)."""
    if c.family:
        det.rare_index.remove(cid, c.sig)
    else:
        det._lsh.remove(cid, index_keys(det.hasher, c.sig))
    n = det.__dict__.get("_evicted_since_compact", 0) + 1  # (absent in older checkpoints)
    if n > (len(det._clusters) >> 1) + _COMPACT_MIN:
        compact_clusters(det._clusters)
        n = 0
    det._evicted_since_compact = n


_COMPACT_MIN = 1024  # evictions a small table waits for before it is rebuilt


def compact_clusters(clusters: OrderedDict) -> None:
    """Rebuild ``clusters`` in place, in the same order, at its live size.

    A dict's table never shrinks on deletes: each eviction (and each ``_join``,
    which deletes and re-inserts to move a cluster last) spends an entry slot,
    and when the slots run out CPython resizes to ~3x the live entries, so
    after churn at the key cap the table settles at twice the size of a fresh
    one (~180 instead of ~105 bytes a key at 50k clusters). ``unindex``
    rebuilds it after evictions of half its live entries: O(n) every n/2
    evictions, i.e. amortised O(1) (two entry copies an eviction), which keeps
    the fresh table under the flood of one founding per eviction (half a
    table's entries fit in its spare slots). In place (``clear`` drops the
    table, ``update`` builds a fresh one), because ``TemplateSurge._evict``
    holds the dict while it calls ``unindex``; order and contents are kept.
    """
    items = list(clusters.items())
    clusters.clear()
    clusters.update(items)


def refile(clusters: dict[int, _Cluster], hasher: MinHasher) -> Postings:
    """A 32-bit index of the near-duplicate clusters, for a checkpoint from before the
    packed (dict) or the 32-bit index."""
    post = Postings(np.uint32)
    for cid, c in clusters.items():
        if not c.family:
            post.add(cid, index_keys(hasher, c.sig))
    return post


def upgrade(state: dict) -> dict:
    """A pickled detector ``state`` with its indexes in today's layout: the LSH index
    re-filed if it is from before the packed (dict) or the 32-bit index, and the
    families' signatures no longer kept twice (in ``RareIndex`` and the clusters)."""
    lsh = state.get("_lsh")
    if isinstance(lsh, dict) or lsh.keys.dtype != np.uint32:
        state = dict(state, _lsh=refile(state["_clusters"], state["hasher"]))
    ri = state.get("rare_index")
    if ri is not None and ri.sigs is not None:  # the families hold their signatures (RareIndex(sigs=False))
        ri.sigs = None
    return state


def candidates(det: TemplateSurge, bks: list[int], q: np.ndarray | None = None) -> list[int]:
    """Clusters sharing one of the 64-bit band keys ``bks`` (``q``: the same as a uint64
    array), lowest id first: the index's 32-bit proposals checked against each
    candidate's full band keys. For inspection and tests; ``_assign`` checks its
    proposals on the signatures in one step (``closest``)."""
    q64 = np.asarray(bks, dtype=np.uint64) if q is None else q
    q32 = fold32(q64)
    cands = sorted(set(det._lsh.lookup(q32.tolist(), q32)))
    band_keys = det.hasher.band_key_array
    return [cid for cid in cands if np.isin(band_keys(det._clusters[cid].sig), q64).any()]


def closest(det: TemplateSurge, cands: list[int], sig: np.ndarray) -> tuple[int, float]:
    """(id, estimated Jaccard) of the candidate closest to ``sig``, or (-1, -1.0).

    A proposal counts only if it shares a whole band with the text (what sharing a
    64-bit band key means); one that only shares a folded 32-bit key is dropped. One
    comparison for all candidates, where recomputing their band keys cost ~30 us each;
    ties go to the oldest cluster (``cands`` ascend).
    """
    cl = det._clusters
    hasher = det.hasher
    n = len(cands)
    if n == 1 and hasher.rows == 4:
        # (~40 % of calls on the mixed stream: one candidate, no ranking; the same tests
        # as below on its one signature, without the join, reshape and per-row reductions)
        eq = np.frombuffer(cl[cands[0]].sig, dtype=np.uint32) == sig
        if (eq.view(np.uint32) == 0x01010101).any():
            return cands[0], int(eq.sum()) / sig.shape[0]
        return -1, -1.0
    # stored signatures are bytes (arrays in older checkpoints: the same buffer)
    reps = np.frombuffer(b"".join([cl[cid].sig for cid in cands]), dtype=np.uint32).reshape(n, -1)
    eq = reps == sig
    if hasher.rows == 4:
        # a band's 4 equal-flags (one byte each) read as one uint32 are 0x01010101 iff all
        # are set: one comparison instead of numpy's slower all() over a 3-D reshape
        shares = (eq.view(np.uint32) == 0x01010101).any(axis=1)
    else:
        shares = eq.reshape(n, hasher.bands, -1).all(axis=2).any(axis=1)
    # (equal slots by sum: np.count_nonzero with an axis goes through Python-level dtype checks)
    if n == 1:
        return (cands[0], int(eq.sum()) / sig.shape[0]) if shares[0] else (-1, -1.0)
    # equal slots of the sharing candidates, -1 for the others (a sharer has >= rows)
    score = np.where(shares, eq.sum(axis=1), -1)
    i = int(score.argmax())
    k = int(score[i])
    return (cands[i], k / sig.shape[0]) if k >= 0 else (-1, -1.0)
