"""Packed posting lists: integer key (uint64, or uint32 for a compact index) -> the ids filed under it.

The template detector files every cluster under 16 LSH band keys and every
paraphrase family under 64 (slot, value) keys. As a dict of Python ints that
is ~80-90 bytes per posting (dict slot, int object, list), i.e. 1.4 KB per
cluster and 5.5 KB per family -- most of the detector's memory. Here the
postings live in two parallel sorted numpy arrays (12 bytes a posting while
ids fit in 32 bits) and
lookups are a ``searchsorted``; only the postings added since the last merge
sit in a small dict, and they are merged in (one sort of the new ones plus a
linear ``np.insert``) when they reach an eighth of the packed run, so the
amortised cost per posting stays small. Removing an id that is already
packed only marks it dead; dead postings are dropped from answers at once
and from the arrays at the next merge (forced once they are a quarter).

Lookups answer a multiset (one id per matching key); callers count or
de-duplicate it, so the order of postings does not matter. Ids must not be
reused after removal (cluster ids only grow). Plain attributes: it pickles.

``Postings(np.uint32)`` keeps 32-bit keys (8 bytes a posting): callers fold
their 64-bit keys with ``fold32`` and check what a lookup returns against
what they store, since distinct keys can then share a folded one. The key
width is the dtype of ``keys`` (older checkpoints: uint64).
"""
from __future__ import annotations

import numpy as np

__all__ = ["Postings", "fold32"]

_S32 = np.uint64(32)


def fold32(h: np.ndarray) -> np.ndarray:
    """uint64 keys folded to uint32 (high half xor low half): for a ``Postings(np.uint32)``."""
    return (h ^ (h >> _S32)).astype(np.uint32)


class Postings:
    """Integer key -> ids, in sorted numpy arrays plus a small dict of recent postings."""

    def __init__(self, key_dtype: type = np.uint64, merge_min: int = 4096) -> None:
        self.keys = np.empty(0, dtype=key_dtype)  # sorted; its dtype is the key width
        self.ids = np.empty(0, dtype=np.int32)  # parallel to keys; int64 once an id needs it
        self.recent: dict[int, int | list[int]] = {}  # postings since the last merge
        self.n_recent = 0
        self.dead: set[int] = set()  # removed ids that still have packed postings
        self.n_dead = 0  # packed postings of dead ids
        self.merge_min = merge_min

    def __len__(self) -> int:
        """Live postings."""
        return int(self.keys.shape[0]) - self.n_dead + self.n_recent

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
        if self.n_recent >= max(self.merge_min, self.keys.shape[0] >> 3):
            self._merge()

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
            if self.n_dead >= max(self.merge_min, self.keys.shape[0] >> 2):
                self._merge()

    def lookup(self, keys: list[int], qkeys: np.ndarray | None = None) -> list[int]:
        """Ids filed under each of ``keys`` (a multiset). ``qkeys``: the same keys as a
        array of the key dtype, if the caller has it."""
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
        packed_keys = self.keys
        if packed_keys.shape[0]:
            q = np.asarray(keys, dtype=packed_keys.dtype) if qkeys is None else qkeys
            # each key's run of equal packed keys is [lo, hi): gathered in one go, as a
            # near-duplicate letter hits several runs (a loop over numpy scalars cost
            # ~0.5 us a posting)
            lo = packed_keys.searchsorted(q)  # (the method: np.searchsorted's wrapper costs ~1 us)
            run = packed_keys.searchsorted(q, "right") - lo
            total = int(run.sum())
            if total:
                hit = run > 0
                lo, run = lo[hit], run[hit]
                if total > lo.shape[0]:  # some key has several postings: expand the runs
                    lo = np.repeat(lo - (np.cumsum(run) - run), run) + np.arange(total)
                found = self.ids[lo].tolist()
                dead = self.dead
                out.extend([c for c in found if c not in dead] if dead else found)
        return out

    def _merge(self) -> None:
        keys, ids = self.keys, self.ids
        if self.dead:
            live = ~np.isin(ids, np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))
            keys, ids = keys[live], ids[live]
            self.dead = set()
            self.n_dead = 0
        if self.recent:
            nk: list[int] = []
            ni: list[int] = []
            for k, cur in self.recent.items():
                if isinstance(cur, list):
                    nk.extend([k] * len(cur))
                    ni.extend(cur)
                else:
                    nk.append(k)
                    ni.append(cur)
            new_k = np.array(nk, dtype=keys.dtype)
            new_i = np.array(ni, dtype=np.int64)
            if ids.dtype != np.int64 and new_i.max() > np.iinfo(ids.dtype).max:
                ids = ids.astype(np.int64)
            new_i = new_i.astype(ids.dtype)
            order = np.argsort(new_k, kind="stable")
            new_k, new_i = new_k[order], new_i[order]
            at = np.searchsorted(keys, new_k)
            keys = np.insert(keys, at, new_k)
            ids = np.insert(ids, at, new_i)
            self.recent = {}
            self.n_recent = 0
        self.keys, self.ids = keys, ids
