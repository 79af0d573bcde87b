"""Paraphrase-robust template matching on *rare* content.

A covert campaign rewrites its letter for every debtor: synonyms swapped,
sentences reordered, filler inserted, typos. Whole-text near-duplicate
matching (``template_surge``'s first tier, Jaccard >= 0.5) then sees only
unrelated letters: two paraphrases share ~15-20 % of their 3-character
shingles. But what they share is the campaign's own phrasing -- rare in the
institution's flow -- whereas what unrelated letters share is the common
language of complaints ("征信报告", "依法依规处理"), which everybody uses.

So this tier keeps, per letter, only its shingles that are *rare* in the
recent flow (document frequency below ``max_df`` of recent letters, counted
in a decayed count-min sketch, in event time) and compares letters on that
rare part. Unrelated letters share almost no rare shingles; paraphrases of
one template share many. Letters with too little rare content (pure common
phrasing) do not enter this tier at all.

``RareShingles`` is the document-frequency sketch; ``RareIndex`` finds the
family whose representative shares the most MinHash slots, through an
inverted index over (slot, value) -- sparse by construction, because the
values come from rare shingles. Both are plain numpy/dict state and pickle.
"""
from __future__ import annotations

import numpy as np

from detectors.postings import Postings
from detectors.textsig import sig_array, sort_unique

__all__ = ["RareShingles", "RareIndex"]

_SALTS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5)
_S40 = np.uint64(40)


class RareShingles:
    """Decayed document frequency of shingle hashes (count-min sketch, event time).

    Counts and the document total are halved every ``half_life`` seconds of
    event time, so "rare" means rare in roughly the last few weeks. Until
    ``min_docs`` letters have been counted nothing is called rare: rarity
    needs a reference flow. A
    count-min sketch only over-estimates, which errs towards calling a
    shingle common: the safe side for false alerts.
    """

    def __init__(self, width: int = 1 << 16, depth: int = 4, half_life: float = 14 * 86400.0,
                 max_df: float = 0.01, min_docs: float = 200.0) -> None:
        self.width = width
        self.depth = depth
        self.half_life = half_life
        self.max_df = max_df
        self.min_docs = min_docs
        self.counts = np.zeros((depth, width), dtype=np.float32)
        self.docs = 0.0
        self.epoch: int | None = None
        self._salts = np.array(_SALTS[:depth], dtype=np.uint64)

    def _cells(self, hashes: np.ndarray) -> np.ndarray:
        """Flat indices into ``counts`` (row ``r`` at ``r * width``), shape (depth, n).

        Flat indexing of the raveled table is one gather instead of numpy's
        slower two-array fancy indexing; the cells are the same. The per-row
        multipliers and offsets are columns made once (``_consts``), so this is
        four in-place array operations.
        """
        consts = self.__dict__.get("_consts")
        if consts is None:
            consts = self._consts = self._make_consts()
        mul, offs, wmask = consts
        cols = np.multiply(hashes, mul)  # (depth, n) by broadcasting; array ops wrap silently
        cols >>= _S40
        if wmask is not None:
            cols &= wmask
        else:
            cols %= np.uint64(self.width)
        cols += offs
        return cols.view(np.int64)  # all < depth * width: the same numbers as intp

    def _make_consts(self) -> tuple[np.ndarray, np.ndarray, np.uint64 | None]:
        """(row multipliers, row offsets) as (depth, 1) columns and the width mask
        (None unless the width is a power of two). Derived, so not pickled."""
        w = self.width
        mul = (self._salts | np.uint64(1))[:, None].copy()
        offs = np.arange(0, self.depth * w, w, dtype=np.uint64)[:, None]
        return mul, offs, (np.uint64(w - 1) if w & (w - 1) == 0 else None)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_consts", None)
        return state

    def _decay_to(self, ts: float) -> None:
        e = int(ts // self.half_life)
        if self.epoch is None:
            self.epoch = e
        elif e > self.epoch:
            f = 0.5 ** min(e - self.epoch, 64)
            self.counts *= f
            self.docs *= f
            self.epoch = e

    def rare(self, hashes: np.ndarray, ts: float) -> np.ndarray:
        """The subset of ``hashes`` (unique uint64) that are rare as of ``ts``; then
        count this document in."""
        return self.rare_windows(hashes, ts, unique=True)

    def rare_windows(self, windows: np.ndarray, ts: float, cells: np.ndarray | None = None,
                     unique: bool = False, dedupe: bool = True) -> np.ndarray:
        """``rare(sort_unique(windows), ts)``: the sorted unique rare hashes of a
        multiset, with the same counting, without sorting all of it.

        A repeated hash reads and writes the same cells as its first copy, so
        repeats change nothing in the sketch; only the answer is de-duplicated,
        and it is the (few) rare hashes that get sorted, not the whole text's.
        ``cells``: ``_cells(windows)`` if the caller has it (a pure function of the
        hashes, computed for a whole batch ahead); ``unique``: ``windows`` is
        already sorted and unique; ``dedupe=False``: the rare windows as they come (text
        order, repeats kept), for a caller that needs the set only when it is large
        enough (at most as many as this) and so mostly skips the sort.
        """
        self._decay_to(ts)
        if windows.shape[0] == 0:
            return windows
        if cells is None:
            cells = self._cells(windows)
        elif not cells.flags.c_contiguous:
            # a text's columns of a batch's cells: numpy scatters into the table through a
            # strided index array at ~half speed, so a copy (~1 us) pays for itself
            cells = np.ascontiguousarray(cells)
        if not self.counts.flags.c_contiguous:  # (a view below must write through)
            self.counts = np.ascontiguousarray(self.counts)
        flat = self.counts.reshape(-1)
        cur = flat.take(cells)  # (a quarter faster than flat[cells]; the same values)
        if self.docs >= self.min_docs:
            out = windows[cur.min(axis=0) <= self.max_df * self.docs]
            if not unique and dedupe:
                out = sort_unique(out)
        else:  # too few letters yet to know what is common: nothing counts as rare
            out = windows[:0]
        # no double counting within a doc: a cell that two hashes (or two copies of
        # one) share within a row is raised once (what ``flat[cells] += 1`` does,
        # without gathering the cells a second time)
        cur += 1.0
        flat[cells] = cur
        self.docs += 1.0
        return out


class RareIndex:
    """Representatives' MinHash signatures with an inverted index on (slot, value).

    ``best(sig)`` returns the representative sharing the most slots with
    ``sig`` (ties: the lowest id, i.e. the oldest) and that share as the
    estimated Jaccard similarity. The index is a packed ``Postings`` on 32-bit
    keys, each slot's value xor a per-slot constant (64 postings a family at
    8 bytes). Two (slot, value) pairs can share a key, so the index only
    proposes candidates; the share is counted on the stored signatures, which
    is the same number the exact (slot, value) postings gave.

    ``RareIndex(sigs=False)`` keeps no signatures of its own, for a caller that
    already holds them (the template detector's families): it passes them to
    ``remove`` and a ``sig_of(id)`` to ``best``.
    """

    def __init__(self, sigs: bool = True) -> None:
        # stored as given: ``pack_sig`` bytes, arrays in older checkpoints and direct use
        self.sigs: dict[int, bytes | np.ndarray] | None = {} if sigs else None
        self.n = 0  # representatives
        self.post = Postings(np.uint32)

    def __setstate__(self, state: dict) -> None:
        if "n" not in state:
            state = dict(state, n=len(state["sigs"]))
        post = state.get("post")
        if isinstance(post, dict) or post.keys.dtype != np.uint32:
            # a checkpoint from before the packed (dict) or the 32-bit index: re-file
            state = dict(state, post=Postings(np.uint32))
            for cid, sig in state["sigs"].items():
                state["post"].add(cid, self._keys(sig)[0])
        self.__dict__.update(state)

    @staticmethod
    def _keys(sig: np.ndarray | bytes) -> tuple[list[int], np.ndarray]:
        sig = sig_array(sig)
        q = sig.astype(np.uint32) ^ _slot_salts(sig.shape[0])
        return q.tolist(), q

    def add(self, cid: int, sig: np.ndarray | bytes) -> None:
        if self.sigs is not None:
            self.sigs[cid] = sig
        self.n += 1
        self.post.add(cid, self._keys(sig)[0])

    def remove(self, cid: int, sig: np.ndarray | bytes | None = None) -> None:
        """Forget ``cid`` (``sig``: its signature, required without stored ones)."""
        if self.sigs is not None:
            sig = self.sigs.pop(cid, None)
        if sig is None:
            return
        self.n -= 1
        self.post.remove(cid, self._keys(sig)[0])

    def best(self, sig: np.ndarray, sig_of=None) -> tuple[int, float]:
        """``sig_of(id)``: a representative's signature (default: the stored ones)."""
        keys, q = self._keys(sig)
        cands = sorted(set(self.post.lookup(keys, q)))
        if not cands:
            return -1, 0.0
        if sig_of is None:
            sig_of = self.sigs.__getitem__
        if len(cands) == 1:
            counts = [int(np.count_nonzero(sig_array(sig_of(cands[0])) == sig))]
        else:
            reps = np.concatenate([sig_array(sig_of(cid)) for cid in cands]).reshape(len(cands), -1)
            counts = np.count_nonzero(reps == sig, axis=1).tolist()
        i = max(range(len(cands)), key=counts.__getitem__)  # ties: the first, i.e. the lowest id
        if counts[i] == 0:  # only folded keys in common
            return -1, 0.0
        return cands[i], counts[i] / sig.shape[0]

    def __len__(self) -> int:
        return self.n


_SLOT_SALTS: dict[int, np.ndarray] = {}


def _slot_salts(n: int) -> np.ndarray:
    """uint32 constant per signature slot (Weyl sequence), so equal values in
    different slots make different keys."""
    salts = _SLOT_SALTS.get(n)
    if salts is None:
        salts = _SLOT_SALTS[n] = (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B1)).astype(np.uint32)
    return salts
