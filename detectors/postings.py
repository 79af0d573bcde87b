"""Packed posting lists: integer key (uint64, or uint32 for a compact index) -> the ids filed under it.

The template detector files every cluster under 16 LSH band keys and every
paraphrase family under 64 (slot, value) keys. As a dict of Python ints that
is ~80-90 bytes per posting (dict slot, int object, list), i.e. 1.4 KB per
cluster and 5.5 KB per family -- most of the detector's memory. Here the
postings live in sorted numpy arrays (8 bytes a posting on 32-bit keys, 12 on
64-bit ones, while ids fit in 32 bits) and lookups are a ``searchsorted``.

Three tiers, so that adding stays cheap and the buffers stay small (an
LSM-tree of two levels):

* ``recent``: a dict of the postings added since the last flush (O(1) to add
  and look up, ~95 bytes a posting);
* the *young run* (``young_keys`` / ``young_ids``): sorted arrays that the dict
  is flushed into (one sort of the dict plus a linear ``np.insert``) once it
  holds 1/256 of the packed postings (at least ``merge_min``);
* the *main run* (``keys`` / ``ids``): the young run is merged into it once it
  is 1/16 of it.

Why two sorted runs: a single run had to take the dict's postings in batches
of 1/8 of its size to keep merging amortised (each merge copies the whole run),
so the dict held up to 1/8 of all postings at ~12x the packed cost -- at the
template detector's key cap ~0.4 KB a key at its peak, more than the packed
postings themselves. Flushing the dict into a run 1/16 the size of the main
one costs little copying per posting (a flush copies the young run, a merge
the main one: ~24 element copies of 8 bytes per posting in all, against ~100
ns of dict work to add it) and bounds the dict at 1/256 of the packed
postings. The price is a second ``searchsorted`` per lookup while the young
run is not empty (~1 us). So a small index (main run under ``16 * merge_min``
postings, 64k by default) keeps one run, as before the young run: its dict is
flushed straight into the main run at 1/8 of it, so holds at most ~8k postings
(a constant ~0.8 MB, like the rare-shingle sketch's 1 MB), and its lookups
search one run. The realistic streams' indexes stay in this regime.

Removing an id that is already packed only marks it dead; dead postings are
dropped from answers at once and from the arrays at the next merge into the
main run (forced once they are 1/16 of the packed postings, which under churn
at a key cap is about when the young run is due anyway).

Lookups answer a multiset (one id per matching key); callers count or
de-duplicate it, so the order of postings does not matter. ``packed_lookup``
searches the sorted runs for many key sets at once (a batch's letters); its
rows stay valid until a flush or merge replaces the runs (``PackedView``). Ids must not be
reused after removal (cluster ids only grow). Plain attributes: it pickles.

``Postings(np.uint32)`` keeps 32-bit keys (8 bytes a posting): callers fold
their 64-bit keys with ``fold32`` and check what a lookup returns against
what they store, since distinct keys can then share a folded one. The key
width is the dtype of ``keys`` (older checkpoints: uint64).
"""
from __future__ import annotations

import numpy as np

from detectors.packed import PackedView, rows_in_run

__all__ = ["PackedView", "Postings", "fold32"]

_S32 = np.uint64(32)
_FLUSH_SHIFT = 8  # the dict is flushed at 1/256 of the packed postings (module doc)
_MERGE_SHIFT = 4  # the young run joins the main run at 1/16 of it; so are dead postings purged
_SMALL_SHIFT = 3  # a small index (one run) takes the dict at 1/8 of it
_YOUNG_FROM = 16  # ... below this many ``merge_min`` of postings in the main run


def fold32(h: np.ndarray) -> np.ndarray:
    """uint64 keys folded to uint32 (high half xor low half): for a ``Postings(np.uint32)``."""
    return (h ^ (h >> _S32)).astype(np.uint32)


class Postings:
    """Integer key -> ids, in two sorted numpy runs plus a small dict of recent postings."""

    def __init__(self, key_dtype: type = np.uint64, merge_min: int = 4096) -> None:
        self.keys = np.empty(0, dtype=key_dtype)  # main run, sorted; its dtype is the key width
        self.ids = np.empty(0, dtype=np.int32)  # parallel to keys; int64 once an id needs it
        self.young_keys = np.empty(0, dtype=key_dtype)  # young run (see the module doc), sorted
        self.young_ids = np.empty(0, dtype=np.int32)
        self.recent: dict[int, int | list[int]] = {}  # postings since the last flush
        self.n_recent = 0
        self.dead: set[int] = set()  # removed ids that still have packed postings (either run)
        self.n_dead = 0  # packed postings of dead ids
        self.merge_min = merge_min

    def __setstate__(self, state: dict) -> None:
        if "young_keys" not in state:  # a checkpoint of the one-run layout: its young run is empty
            state = dict(state, young_keys=state["keys"][:0].copy(), young_ids=np.empty(0, dtype=np.int32))
        self.__dict__.update(state)

    def __len__(self) -> int:
        """Live postings."""
        return self._n_packed() - self.n_dead + self.n_recent

    def _n_packed(self) -> int:
        return int(self.keys.shape[0]) + int(self.young_keys.shape[0])

    def add(self, cid: int, keys: list[int]) -> None:
        if cid in self.dead:  # (ids are not reused; this keeps it right if one is)
            self._merge()
        recent = self.recent
        for k in keys:
            cur = recent.get(k)
            if cur is None:
                recent[k] = cid
            elif isinstance(cur, list):
                cur.append(cid)
            else:
                recent[k] = [cur, cid]
        self.n_recent += len(keys)
        if self.n_recent >= self._flush_at():
            self._flush()

    def _flush_at(self) -> int:
        """Dict postings that call for a flush (see the module doc for the two regimes)."""
        main = self.keys.shape[0]
        if main < _YOUNG_FROM * self.merge_min:
            return max(self.merge_min, main >> _SMALL_SHIFT)
        return max(self.merge_min, (main + self.young_keys.shape[0]) >> _FLUSH_SHIFT)

    def remove(self, cid: int, keys: list[int]) -> None:
        """Forget ``cid``'s postings under ``keys`` (all of the keys it was added with)."""
        recent = self.recent
        found = 0
        for k in keys:
            cur = recent.get(k)
            if cur is None:
                continue
            if isinstance(cur, list):
                if cid in cur:
                    cur.remove(cid)
                    found += 1
                    if len(cur) == 1:
                        recent[k] = cur[0]
            elif cur == cid:
                del recent[k]
                found += 1
        self.n_recent -= found
        if found < len(keys) and cid not in self.dead:  # the rest is packed
            self.dead.add(cid)
            self.n_dead += len(keys) - found
            if self.n_dead >= max(self.merge_min, self._n_packed() >> _MERGE_SHIFT):
                self._merge()

    def lookup(self, keys: list[int], qkeys: np.ndarray | None = None, packed: list[int] | None = None
               ) -> list[int]:
        """Ids filed under each of ``keys`` (a multiset). ``qkeys``: the same keys as a
        array of the key dtype, if the caller has it. ``packed``: what ``packed_lookup``
        found for these keys in the sorted runs, while its ``PackedView`` is current."""
        out: list[int] = []
        recent = self.recent
        if recent:
            for k in keys:
                cur = recent.get(k)
                if cur is None:
                    continue
                if isinstance(cur, list):
                    out.extend(cur)
                else:
                    out.append(cur)
        if packed is not None:
            # removals since it was made are only marked dead (a purge makes new runs)
            dead = self.dead
            out.extend([c for c in packed if c not in dead] if dead else packed)
            return out
        packed_keys = self.keys
        if packed_keys.shape[0]:
            q = np.asarray(keys, dtype=packed_keys.dtype) if qkeys is None else qkeys
            if self.young_keys.shape[0]:  # a large index (see the module doc): two runs
                self._lookup_large_run(packed_keys, self.ids, q, out)
                self._lookup_large_run(self.young_keys, self.young_ids, q, out)
            else:
                self._lookup_run(packed_keys, self.ids, q, out)
        return out

    def packed_lookup(self, q: np.ndarray) -> tuple[list[list[int]], PackedView]:
        """The ids filed in the sorted runs under each row of the 2-D key array ``q``
        (dead ones included), and the view that says while they are still the answer.

        For a caller that will look many key sets up one at a time (the template
        detector: a poll's letters): one ``searchsorted`` per run for all of them,
        where ``lookup`` makes ~8 numpy calls per key set (~10 us). The runs change only
        when replaced (a flush or a merge makes new arrays, a removal only marks its id
        dead), so the rows stay right while ``view.current(self)``; pass a row to
        ``lookup(..., packed=row)``, which adds the dict's postings and drops the dead
        ids of then. Same multiset, and in the same order, as ``lookup`` alone.
        """
        rows = rows_in_run(self.keys, self.ids, q)
        if self.young_keys.shape[0]:
            rows = [a + b for a, b in zip(rows, rows_in_run(self.young_keys, self.young_ids, q))]
        return rows, PackedView(self)

    def _lookup_large_run(self, run_keys: np.ndarray, run_ids: np.ndarray, q: np.ndarray, out: list[int]) -> None:
        """``_lookup_run`` for a large index, where most keys of a lookup are not in a run
        (the flood of distinct letters at the key cap: a rare-tier lookup searched 1.6M
        postings twice per key). The second ``searchsorted`` (where each key's run ends)
        is done only for the keys found, and not at all when none is: the same answer
        for ~2 cheap array operations more, paid back from a run of ~100k postings on."""
        lo = run_keys.searchsorted(q)
        # the key at each insertion point is the query iff it is filed; past the end
        # (lo == size) "clip" reads the last key, which is smaller than the query
        hit = run_keys.take(lo, mode="clip") == q
        if not hit.any():
            return
        self._lookup_run(run_keys, run_ids, q[hit], out, lo[hit])

    def _lookup_run(self, run_keys: np.ndarray, run_ids: np.ndarray, q: np.ndarray, out: list[int],
                    lo: np.ndarray | None = None) -> None:
        """Append to ``out`` the live ids of one sorted run filed under the keys ``q``
        (``lo``: their insertion points, if the caller has them)."""
        # each key's run of equal packed keys is [lo, hi): gathered in one go, as a
        # near-duplicate letter hits several runs (a loop over numpy scalars cost
        # ~0.5 us a posting)
        if lo is None:
            lo = run_keys.searchsorted(q)  # (the method: np.searchsorted's wrapper costs ~1 us)
        run = run_keys.searchsorted(q, "right") - lo
        total = int(run.sum())
        if total:
            hit = run > 0
            lo, run = lo[hit], run[hit]
            if total > lo.shape[0]:  # some key has several postings: expand the runs
                lo = np.repeat(lo - (np.cumsum(run) - run), run) + np.arange(total)
            found = run_ids[lo].tolist()
            dead = self.dead
            out.extend([c for c in found if c not in dead] if dead else found)

    def _flush(self) -> None:
        """The dict into the young run, and that into the main one once it is 1/16 of it;
        a small index's dict straight into its main run."""
        if self.keys.shape[0] < _YOUNG_FROM * self.merge_min:
            self._merge()
            return
        self.young_keys, self.young_ids = self._recent_into(self.young_keys, self.young_ids)
        if self.young_keys.shape[0] >= self.keys.shape[0] >> _MERGE_SHIFT:
            self._merge()

    def _merge(self) -> None:
        """Everything into the main run, dead postings dropped."""
        keys, ids = self.keys, self.ids
        yk, yi = self.young_keys, self.young_ids
        if self.dead:
            dead = np.fromiter(self.dead, dtype=np.int64, count=len(self.dead))
            live = ~np.isin(ids, dead)
            keys, ids = keys[live], ids[live]
            if yk.shape[0]:
                live = ~np.isin(yi, dead)
                yk, yi = yk[live], yi[live]
            self.dead = set()
            self.n_dead = 0
        if yk.shape[0]:
            keys, ids = _insert_sorted(keys, ids, yk, yi)
            self.young_keys, self.young_ids = yk[:0], yi[:0]
        self.keys, self.ids = self._recent_into(keys, ids)

    def _recent_into(self, keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sorted run ``keys`` / ``ids`` with the dict's postings inserted; empties the dict."""
        recent = self.recent
        if not recent:
            return keys, ids
        # One id per key, read straight from the dict (~4x faster than a Python loop over
        # it); a key with several ids holds a list (of two or more: ``remove`` turns a list
        # of one back into a bare id), which these gathers mark -1 and the loop below
        # appends in full. A key's ids stay together and in order, and the sort is
        # stable, so the run is the same as expanding every list in place.
        n = len(recent)
        new_k = np.fromiter(recent, dtype=keys.dtype, count=n)
        if self.n_recent == n:  # no lists
            new_i = np.fromiter(recent.values(), dtype=np.int64, count=n)
        else:
            new_i = np.fromiter([-1 if type(c) is list else c for c in recent.values()], dtype=np.int64, count=n)
            multi = [(k, c) for k, c in recent.items() if type(c) is list]
            single = new_i >= 0
            new_k = np.concatenate([new_k[single], np.array([k for k, c in multi for _ in c], dtype=keys.dtype)])
            new_i = np.concatenate([new_i[single], np.array([i for _, c in multi for i in c], dtype=np.int64)])
        if new_k.dtype == np.uint32:
            # each key with its position below it makes unique 64-bit sort keys: numpy's
            # default sort then gives the stable order, ~5x faster than kind="stable"
            order = np.argsort((new_k.astype(np.uint64) << _S32) | np.arange(new_k.shape[0], dtype=np.uint64))
        else:
            order = np.argsort(new_k, kind="stable")
        self.recent = {}
        self.n_recent = 0
        return _insert_sorted(keys, ids, new_k[order], new_i[order])


def _insert_sorted(keys: np.ndarray, ids: np.ndarray, new_k: np.ndarray, new_i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted run ``keys`` / ``ids`` with the sorted ``new_k`` / ``new_i`` inserted (one
    linear pass); the ids widen to int64 first if a new one does not fit their dtype."""
    if new_i.dtype != ids.dtype:
        if ids.dtype != np.int64 and new_i.shape[0] and int(new_i.max()) > np.iinfo(ids.dtype).max:
            ids = ids.astype(np.int64)
        new_i = new_i.astype(ids.dtype)
    at = np.searchsorted(keys, new_k)
    return np.insert(keys, at, new_k), np.insert(ids, at, new_i)

