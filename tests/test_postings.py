"""Packed posting lists answer like a dict of lists, across merges and removals, and pickle."""
from __future__ import annotations

import pickle
import random
from collections import Counter

import numpy as np

from detectors.postings import Postings


def _reference_check(p: Postings, ref: dict[int, set[int]], rng: random.Random, universe: list[int]) -> None:
    keys = rng.sample(universe, 12)
    got = Counter(p.lookup(keys))
    want = Counter(c for k in keys for c in ref.get(k, ()))
    assert got == want
    assert len(p) == sum(len(v) for v in ref.values())


def test_matches_a_dict_of_sets_through_merges_and_removals():
    rng = random.Random(7)
    universe = [rng.getrandbits(64) for _ in range(400)]
    p = Postings(merge_min=64)  # small: many merges and dead purges
    ref: dict[int, set[int]] = {}
    filed: dict[int, list[int]] = {}
    for cid in range(3000):
        keys = rng.sample(universe, 16)
        p.add(cid, keys)
        filed[cid] = keys
        for k in keys:
            ref.setdefault(k, set()).add(cid)
        if cid % 3 == 0:
            old = rng.choice(list(filed))
            keys = filed.pop(old)
            p.remove(old, keys)
            for k in keys:
                ref[k].discard(old)
                if not ref[k]:
                    del ref[k]
        if cid % 50 == 0:
            _reference_check(p, ref, rng, universe)
    assert p.keys.shape[0] > 0, "postings were packed"
    _reference_check(pickle.loads(pickle.dumps(p)), ref, rng, universe)


def test_removed_ids_vanish_before_and_after_packing():
    p = Postings(merge_min=4)
    p.add(1, [10, 11])
    p.add(2, [10, 12])
    p.remove(1, [10, 11])
    assert sorted(p.lookup([10, 11, 12])) == [2, 2]
    p.add(3, [11, 13])  # forces a merge: everything packed
    p.remove(2, [10, 12])  # packed: marked dead
    assert sorted(p.lookup([10, 11, 12, 13])) == [3, 3]
    assert p.lookup([10], np.array([10], dtype=np.uint64)) == []
    assert len(p) == 2


def test_ids_beyond_32_bits_widen_the_packed_ids():
    p = Postings(merge_min=2)
    p.add(5, [1, 2])
    p.add(2**40, [2, 3])  # merge: the id array must widen, not wrap
    assert sorted(p.lookup([2])) == [5, 2**40]
    assert p.ids.dtype == np.int64
