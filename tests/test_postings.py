"""Packed posting lists answer like a dict of lists, across flushes, merges and removals, keep
their buffers bounded, and pickle (older one-run checkpoints too)."""
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
    p = Postings(merge_min=64)  # small: many flushes, merges and dead purges
    ref: dict[int, set[int]] = {}
    filed: dict[int, list[int]] = {}
    checked_with_young = 0
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
            checked_with_young += p.young_keys.shape[0] > 0
    assert p.keys.shape[0] > 0, "postings were packed"
    assert checked_with_young >= 10, "lookups were checked while both sorted runs held postings"
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


def test_buffers_stay_a_small_fraction_of_the_packed_postings():
    # the dict (~95 bytes a posting) and the dead postings are what made the template
    # detector's memory per key grow under churn at its key cap (issue #6)
    rng = random.Random(3)
    p = Postings(np.uint32, merge_min=64)
    live: list[tuple[int, list[int]]] = []
    for cid in range(6000):
        keys = [rng.getrandbits(32) for _ in range(16)]
        p.add(cid, keys)
        live.append((cid, keys))
        if len(live) > 1500:  # churn at a "cap" of 1,500 ids: one removal per addition
            p.remove(*live.pop(rng.randrange(len(live) // 4)))  # mostly old ids: packed ones
        packed = p.keys.shape[0] + p.young_keys.shape[0]
        if p.keys.shape[0] >= 16 * p.merge_min:  # past the small, one-run regime
            assert p.n_recent < max(p.merge_min, packed >> 8) + 16
        else:
            assert p.n_recent < max(p.merge_min, p.keys.shape[0] >> 3) + 16 and p.young_keys.shape[0] == 0
        assert p.young_keys.shape[0] == 0 or p.young_keys.shape[0] < p.keys.shape[0] >> 4
        assert p.n_dead < max(p.merge_min, packed >> 4) + 16
    assert len(p) == 1500 * 16
    assert p.young_keys.shape[0] > 0 or p.n_recent > 0


def test_a_checkpoint_of_the_one_run_layout_loads():
    p = Postings(np.uint32, merge_min=4)
    p.add(1, [10, 11])
    p.add(2, [10, 12])  # merged: packed
    p.add(3, [13])
    p.remove(2, [10, 12])
    state = dict(p.__dict__)
    del state["young_keys"], state["young_ids"]  # as pickled before the young run
    old = Postings.__new__(Postings)
    old.__setstate__(state)
    assert sorted(old.lookup([10, 11, 12, 13])) == [1, 1, 3]
    for cid in range(4, 40):  # and it goes on filing (through flushes and merges)
        old.add(cid, [100 + cid])
    assert sorted(old.lookup([10, 139])) == [1, 39] and len(old) == 3 + 36
    assert old.young_keys.dtype == np.uint32


def test_packed_lookup_rows_answer_as_lookup_while_their_view_is_current():
    """A batch's sorted-run hits plus the dict at use time give ``lookup``'s answer (the
    same list, in the same order) while the view is current, removals included; a flush
    or merge replaces the runs and the view says so."""
    rng = random.Random(11)
    universe = [rng.getrandbits(32) for _ in range(300)]
    for merge_min in (64, 8):  # one run; and a large index with a young run
        p = Postings(np.uint32, merge_min=merge_min)
        filed: dict[int, list[int]] = {}
        checked = stale = young = 0
        cid = 0
        while cid < 2500:
            batch = [rng.sample(universe, 16) for _ in range(20)]
            rows, view = p.packed_lookup(np.array(batch, dtype=np.uint32))
            for i, keys in enumerate(batch):
                if not view.current(p):  # as the template detector does: again for the rest
                    stale += 1
                    rows, view = p.packed_lookup(np.array(batch[i:], dtype=np.uint32))
                    rows = [[]] * i + rows
                assert p.lookup(keys, None, rows[i]) == p.lookup(keys)
                checked += 1
                young += p.young_keys.shape[0] > 0
                p.add(cid, keys)
                filed[cid] = keys
                cid += 1
                if cid % 4 == 0:  # removals: from the dict, or marked dead in a run
                    old = rng.choice(list(filed))
                    p.remove(old, filed.pop(old))
        assert checked == 2500 and stale > 10
        if merge_min == 8:
            assert young > 100, "rows were checked against two sorted runs"


def test_packed_lookup_of_an_empty_index_and_of_no_rows():
    p = Postings(np.uint32)
    rows, view = p.packed_lookup(np.zeros((3, 16), dtype=np.uint32))
    assert rows == [[], [], []] and view.current(p)
    p.add(1, [5, 6])
    assert view.current(p)  # the dict took it: the (empty) runs are unchanged
    assert p.lookup([5], None, rows[0]) == [1]
    assert p.packed_lookup(np.zeros((0, 16), dtype=np.uint32))[0] == []
