"""The template detector's cluster table is rebuilt after evictions (``template_index.compact_clusters``):
same clusters in the same order, a smaller table, the same findings."""
from __future__ import annotations

import random
import sys
from collections import OrderedDict

from detectors import TemplateSurge, template_index
from detectors.template_index import compact_clusters
from streamer.events import Event

_HANZI = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发"


def _flood(n: int, seed: int = 5) -> list[Event]:
    """Distinct random letters, one a second: each founds its own cluster, so a small cap churns."""
    rng = random.Random(seed)
    return [Event(event_id=f"f-{i}", ts=1_709_500_000.0 + i, ts_text="", institution=f"bank-{i % 3}",
                  channel="letter", category="collection", complainant=f"cust:{i:016x}",
                  text="".join(rng.choices(_HANZI, k=rng.randint(60, 100)))) for i in range(n)]


def test_compact_clusters_keeps_the_order_and_shrinks_a_churned_table():
    od = OrderedDict((i, object()) for i in range(2000))
    nxt = 2000
    for _ in range(3000):  # evict the oldest, found a new one: the table fills with deleted slots
        del od[next(iter(od))]
        od[nxt] = object()
        nxt += 1
    before_items = list(od.items())
    before_size = sys.getsizeof(od)
    same = od
    compact_clusters(od)
    assert od is same and list(od.items()) == before_items
    assert sys.getsizeof(od) < before_size
    assert sys.getsizeof(od) == sys.getsizeof(OrderedDict(before_items))


def test_eviction_compacts_the_table_without_changing_findings_or_order(monkeypatch):
    events = _flood(500)

    def run(compact_min: int) -> TemplateSurge:
        monkeypatch.setattr(template_index, "_COMPACT_MIN", compact_min)
        det = TemplateSurge(max_keys=50, warmup=0)
        det.out, det.table = [], 0
        for e in events:
            det.out += det.update(e)
            det.table = max(det.table, sys.getsizeof(det._clusters))
        return det

    never = run(10**9)
    # rebuilt every 26 evictions, which the 35 spare slots of a fresh table for 50 absorb
    often = run(0)
    assert often.evicted_total == never.evicted_total > 400
    assert list(often._clusters) == list(never._clusters)
    assert often.out == never.out
    assert often._evicted_since_compact < often.evicted_total  # it did compact
    assert often.table < never.table
    assert often.table == sys.getsizeof(OrderedDict(often._clusters))  # never above a fresh table


def test_closest_ranks_whole_band_sharers_by_equal_slots_and_drops_the_rest():
    """``closest`` against a plain reading of its rule: a candidate counts only if one
    whole band (4 slots) equals the text's, and the one with most equal slots wins
    (ties: the first, i.e. the oldest); one candidate or several."""
    import numpy as np

    from detectors.template_state import _Cluster
    from detectors.textsig import pack_sig

    rng = np.random.default_rng(3)
    det = TemplateSurge()
    sig = rng.integers(0, 2**32, 64, dtype=np.uint64).astype(np.uint32)

    def rep(equal_slots: list[int]) -> bytes:
        r = sig ^ np.uint32(1)  # every slot differs ...
        r[equal_slots] = sig[equal_slots]  # ... but these
        return pack_sig(r)

    layouts = {
        0: [1, 2, 3, 5, 6, 7, 9, 10, 11, 13],  # 10 equal slots, no whole band: not a candidate
        1: [0, 1, 2, 3],  # band 0: 4 slots
        2: [4, 5, 6, 7, 20, 30, 40],  # band 1 and 3 more: 7 slots
        3: [8, 9, 10, 11, 21, 31, 41],  # 7 slots too, later: loses the tie
        4: list(range(0, 64, 2)),  # 32 equal slots but no whole band
    }
    for cid, slots in layouts.items():
        det._clusters[cid] = _Cluster(rep(slots), 0.0, 100)

    def plain(cands: list[int]) -> tuple[int, float]:
        best, best_k = -1, -1
        for cid in cands:
            eq = np.frombuffer(det._clusters[cid].sig, dtype=np.uint32) == sig
            if eq.reshape(16, 4).all(axis=1).any() and eq.sum() > best_k:
                best, best_k = cid, int(eq.sum())
        return (best, best_k / 64) if best >= 0 else (-1, -1.0)

    for cands in ([0], [1], [4], [2], [0, 4], [0, 1], [1, 2, 3], [3, 2], [0, 1, 2, 3, 4]):
        assert template_index.closest(det, sorted(cands), sig) == plain(sorted(cands)), cands
    assert template_index.closest(det, [1, 2, 3], sig) == (2, 7 / 64)
    assert template_index.closest(det, [0], sig) == (-1, -1.0)
