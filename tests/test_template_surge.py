"""template_surge: one letter for many debtors fires; boilerplate, outages and steady templates do not."""
from __future__ import annotations

import dataclasses
import pickle
import random

import numpy as np
import orjson

from detector_streams import agency_letter, ev, merge, organic_letter, organic_stream, outage_text

from detectors import TemplateSurge
from detectors.textsig import minhash, mask, signature_hex

DAY_H = 24.0


def run(det, events):
    return [f for e in events for f in det.update(e)]


def warm(det, rng, days=2, n=300):
    """Organic background so the detector is past its warm-up and has priors."""
    return run(det, organic_stream(rng, n, span_h=DAY_H * days, prefix="warm"))


def campaign(rng, n, start_h, per_day=8.0, prefix="ag"):
    insts = ("bank-a", "bank-b", "cfc-d", "cfc-e")
    return [ev(f"{prefix}{i:03d}", start_h + i * DAY_H / per_day, f"{prefix}-C{i}", inst=insts[i % 4],
               text=agency_letter(rng, insts[i % 4])) for i in range(n)]


def test_agency_template_fires_early_with_a_stable_key():
    rng = random.Random(1)
    det = TemplateSurge()
    assert warm(det, rng) == []
    evs = campaign(rng, 10, start_h=DAY_H * 2 + 9)
    per_event = [det.update(e) for e in evs]
    first = next(i for i, fs in enumerate(per_event) if fs)
    assert first <= 4  # by the 5th debtor
    f = per_event[first][0]
    assert f.key == "template:" + signature_hex(minhash(mask(evs[0].text)))  # the representative's signature
    assert f.trigger_id == evs[first].event_id and set(f.event_ids) == {e.event_id for e in evs[: first + 1]}
    assert f.evidence["distinct_complainants"] == first + 1
    assert f.evidence["institutions"] == min(4, first + 1)
    assert f.evidence["similarity"] > 0.6
    assert f.evidence["p_value"] < 1e-5
    for text in (e.text for e in evs):
        assert text not in f.summary
    for fs in per_event:  # evidence is plain JSON (no numpy scalars leak into alerts)
        for x in fs:
            orjson.dumps(x.evidence)
    # keeps firing on every new debtor of the anomalous template
    assert all(per_event[first + 1:])
    assert {fs[0].key for fs in per_event[first:]} == {f.key}


def test_same_template_gets_the_same_key_in_a_fresh_detector():
    keys = []
    for _ in range(2):
        rng = random.Random(5)
        det = TemplateSurge(warmup=0)
        keys.append({f.key for f in run(det, campaign(rng, 8, start_h=1))})
    assert keys[0] == keys[1] and len(keys[0]) == 1


def test_generic_short_hotline_summaries_are_skipped():
    det = TemplateSurge()
    evs = [ev(f"h{i}", i * 0.3, f"C{i}", text="客户来电查询还款金额，已告知。", channel="hotline") for i in range(500)]
    assert run(det, evs) == []
    assert det.stats()["skipped_short"] == 500 and det.stats()["clusters"] == 0


def test_diverse_outage_surge_stays_silent():
    rng = random.Random(2)
    det = TemplateSurge()
    warm(det, rng)
    evs = [ev(f"o{i}", DAY_H * 2 + 9 + 3 * i / 300, f"O{i}", text=outage_text(rng) + outage_text(rng),
              channel="app", category="service") for i in range(300)]
    assert run(det, evs) == []


def test_steady_public_template_learns_its_rate_and_stays_silent():
    rng = random.Random(4)
    det = TemplateSurge()
    public = ("您好，我在贵行办理的信用卡因近期收入下降暂时无法全额还款，根据相关规定申请个性化分期还款，"
              "希望贵行能够根据我的实际情况协商一个合理的还款方案，谢谢。本人承诺按时履约。")
    evs = []
    for day in range(30):
        for k in range(rng.randint(1, 4)):  # 1-4 unrelated people a day copy it from a forum
            evs.append(ev(f"p{day}-{k}", DAY_H * day + rng.uniform(8, 22), f"P{day}-{k}", text=public,
                          inst=rng.choice(("bank-a", "bank-b"))))
    assert run(det, merge(evs, organic_stream(rng, 600, span_h=DAY_H * 30))) == []
    # ...while a sudden rush of the same template on top of it is a surge
    rush = [ev(f"rush{i}", DAY_H * 30 + 9 + 0.2 * i, f"R{i}", text=public) for i in range(25)]
    assert run(det, rush)


def test_organic_letters_are_not_a_campaign():
    rng = random.Random(6)
    det = TemplateSurge()
    evs = [ev(f"l{i}", i * 0.5, f"L{i}", text=organic_letter(rng)) for i in range(800)]
    assert run(det, evs) == []


def test_assignment_uses_the_representative_not_chains():
    det = TemplateSurge(warmup=0, similarity=0.6)
    rng = random.Random(8)
    words = [chr(0x4E00 + rng.randrange(2000)) for _ in range(240)]

    def drift(k):  # replace the first k*40 characters: each step is close to the last, far from the first
        w = list(words)
        for i in range(k * 40):
            w[i] = chr(0x7000 + (i + k * 7) % 500)
        return "".join(w)

    texts = [drift(k) for k in range(5)]
    for i, t in enumerate(texts):
        det.update(ev(f"d{i}", i, f"D{i}", text=t))
    sig0 = minhash(mask(texts[0]))
    from detectors.textsig import jaccard
    assert jaccard(minhash(mask(texts[1])), sig0) >= 0.6 > jaccard(minhash(mask(texts[4])), sig0)
    assert det.stats()["clusters"] >= 2  # the far end of the chain founded its own cluster


def test_clusters_and_lsh_index_are_bounded_and_evicted():
    rng = random.Random(9)
    det = TemplateSurge(max_keys=50)
    for i in range(600):
        det.update(ev(f"u{i}", i * 0.05, f"U{i}", text=organic_letter(rng) + str(i) + outage_text(rng)))
        assert det.stats()["clusters"] <= 50
    assert det.stats()["lsh_entries"] <= 50 * 16
    size = len(pickle.dumps(det))
    for i in range(600, 1800):
        det.update(ev(f"u{i}", i * 0.05, f"U{i}", text=organic_letter(rng) + outage_text(rng)))
    assert len(pickle.dumps(det)) < size * 1.3
    # 90 days later every cluster is cold: TTL eviction takes a batch of 16 per event
    for i in range(4):
        det.update(ev(f"late{i}", 24 * 90 + i, f"late{i}", text=organic_letter(rng)))
    assert det.stats()["clusters"] <= 5
    assert det.stats()["lsh_entries"] <= 16 * det.stats()["clusters"]  # evicted clusters left the index
    assert det.stats()["evicted_total"] + det.stats()["clusters"] == det._next_id  # nothing leaks


def test_checkpoint_with_the_old_dict_indexes_is_refiled():
    # before the packed Postings, _lsh and RareIndex.post were dicts of lists:
    # such a checkpoint must still find its clusters and families
    from detectors.paraphrase import RareIndex

    rng = random.Random(11)
    det = TemplateSurge(warmup=0)
    run(det, campaign(rng, 3, start_h=1))
    state = dict(det.__dict__)
    old_lsh: dict = {}
    for cid, c in det._clusters.items():
        if not c.family:
            for bk in det.hasher.band_keys(c.sig):
                old_lsh.setdefault(bk, []).append(cid)
    state["_lsh"] = old_lsh
    ri = RareIndex()
    sig = det.hasher.signature(np.arange(1, 90, dtype=np.uint64))
    ri.add(5, sig)
    old_ri = {"sigs": dict(ri.sigs), "post": {k: [5] for k in RareIndex._keys(sig)[0]}}
    restored = TemplateSurge.__new__(TemplateSurge)
    restored.__setstate__(state)
    for cid, c in det._clusters.items():
        assert cid in restored._candidates(det.hasher.band_keys(c.sig))
    ri2 = RareIndex.__new__(RareIndex)
    ri2.__setstate__(old_ri)
    assert ri2.best(sig) == (5, 1.0)
    assert pickle.loads(pickle.dumps(restored))._candidates(det.hasher.band_keys(next(iter(det._clusters.values())).sig))


def test_checkpoint_with_a_64_bit_lsh_index_is_refiled():
    # before the 32-bit index, _lsh held the full uint64 band keys
    from detectors.postings import Postings

    rng = random.Random(12)
    det = TemplateSurge(warmup=0)
    run(det, campaign(rng, 3, start_h=1))
    old = Postings()
    for cid, c in det._clusters.items():
        if not c.family:
            old.add(cid, det.hasher.band_keys(c.sig))
    restored = pickle.loads(pickle.dumps(det))
    restored.__setstate__(dict(restored.__dict__, _lsh=old))
    assert restored._lsh.keys.dtype == np.uint32
    for cid, c in det._clusters.items():
        if not c.family:
            assert cid in restored._candidates(det.hasher.band_keys(c.sig))


def test_warmup_ends_on_a_bucket_boundary_so_warmup_copies_are_not_tested():
    """A public template copied a few times during the morning of the day warm-up
    ends must not be tested against the population prior that evening: those copies
    are in the open (UTC day) bucket, which no baseline has learned yet. Before the
    fix warm-up ended mid-bucket and the 5th copy of the day fired (holdout seed 1)."""
    rng = random.Random(12)
    det = TemplateSurge()  # warm-up: one day from the first event, then to the next bucket boundary
    public = ("本人因失业导致收入中断，现依据《征信业管理条例》第二十五条提出异议申请，请贵机构核查本人名下逾期记录，"
              "在规定期限内予以更正并书面答复。附：身份证复印件、失业证明。此致敬礼。申请人签名，联系电话见附件。")
    start = 8.0  # 09:00 UTC (BASE_TS is 01:00 UTC): nominal warm-up ends at 09:00 UTC the next day, mid-bucket
    copies = [ev(f"p{k}", start + 15.5 + 2.0 * k, f"P{k}", text=public) for k in range(7)]  # 00:30..12:30 UTC, day 2
    background = organic_stream(rng, 300, start_h=start, span_h=40.0, prefix="bg")
    assert copies[0].ts < background[0].ts + det.warmup < copies[-1].ts  # the copies span the nominal end
    assert run(det, merge(copies, background)) == []
    # past warm-up a rush of a brand-new letter still fires
    rush = campaign(rng, 8, start_h=start + 48.0)
    assert run(det, rush)


def _expand_all(det: TemplateSurge) -> None:
    """Put every cluster in the layout checkpoints had before the compact one
    (dicts, an event-id list, ndarray signatures)."""
    for cid, c in det._clusters.items():
        if type(c.members) is str:
            c.members, c.insts = {c.members: c.last_ts}, {c.insts: c.last_ts}
        if type(c.members) is tuple:
            who, inst, its = c.members
            c.members, c.insts = {who: c.last_ts}, {inst: its}
        if type(c.events) is str:
            c.events = [c.events]
        if isinstance(c.sig, bytes):
            c.sig = np.frombuffer(c.sig, dtype=np.uint32).copy()
            if c.family and det.rare_index.sigs is not None:
                det.rare_index.sigs[cid] = c.sig


def _view(c) -> tuple:
    """A cluster's state in the expanded layout (compact parts expanded)."""
    m, insts, events = c.members, c.insts, c.events
    if type(m) is str:
        m, insts = {m: c.last_ts}, {insts: c.last_ts}
    if type(m) is tuple:
        m, insts = {m[0]: c.last_ts}, {m[1]: m[2]}
    return (dict(m), dict(insts), [events] if type(events) is str else list(events),
            np.frombuffer(c.sig, dtype=np.uint32).tobytes(), c.n_events, c.sim_sum, c.first_ts, c.last_ts, c.family, c.rate is None)


def test_compact_single_complainant_state_behaves_like_the_expanded_one():
    # founders re-filing (same bank, another bank, late, re-delivered), then a
    # campaign: a detector whose clusters are expanded after every event (as an
    # old checkpoint would hold them) must judge everything the same way
    rng = random.Random(5)
    base = organic_stream(rng, 200, span_h=DAY_H * 2, prefix="w") + campaign(rng, 12, start_h=DAY_H * 2 + 9)
    # a founder back after 20 days, a second complainant 15 days later: the founder
    # (last seen 15 days ago) is still a member, though it founded the cluster 35 days ago
    late = ("关于我家中老宅拆迁补偿款被冻结一事，街道办与开发商互相推诿已逾半年，"
            "导致装修贷款无法按约偿还，恳请贵行暂缓计收罚息，待补偿款到位后一次结清。") * 2
    base += [ev("late-0", DAY_H * 3, "late-C0", inst="bank-q", text=late),
             ev("late-1", DAY_H * 23, "late-C0", inst="bank-q", text=late),
             ev("late-2", DAY_H * 38, "late-C1", inst="bank-q", text=late)]
    # an id that is a substring of the founder's ("late-" in "late-0") is no re-delivery
    base.insert(-2, ev("late-", DAY_H * 4, "late-C0", inst="bank-q", text=late))
    # a founder back after more than the window (kept by a long ttl): a new arrival again
    gone = ("本人经营的小型餐馆因道路施工停业八个月，流水骤降，经营贷款连续三期未能足额归还，"
            "现提供街道出具的施工公告与停业证明，申请延长贷款期限并调整为按季付息。") * 2
    base.insert(-4, ev("gone-0", DAY_H * 3.5, "gone-C0", inst="bank-q", text=gone))
    base.append(ev("gone-1", DAY_H * 40, "gone-C0", inst="bank-q", text=gone))
    t0 = base[0].ts
    evs = []
    for i, e in enumerate(base):
        evs.append(e)
        h = (e.ts - t0) / 3600
        if i % 7 == 0 and e.text:  # the founder again: same bank, later; another bank; an out-of-order copy
            evs.append(ev(f"{e.event_id}-r1", h + 1, e.complainant, inst=e.institution, text=e.text))
            evs.append(ev(f"{e.event_id}-r2", h + 2, e.complainant, inst="cfc-z", text=e.text))
            evs.append(ev(f"{e.event_id}-r0", h - 0.5, e.complainant, inst=e.institution, text=e.text))
        elif i % 7 == 3 and e.text and e.event_id.startswith("w"):  # the very founder later, then out of order
            evs.append(dataclasses.replace(e, event_id=f"{e.event_id}-s1", ts=e.ts + 3600.0))
            evs.append(dataclasses.replace(e, event_id=f"{e.event_id}-s0", ts=e.ts - 1800.0))
        if i % 11 == 0:
            evs.append(e)  # a re-delivery
    compact, expanded = TemplateSurge(ttl=60 * 86400.0), TemplateSurge(ttl=60 * 86400.0)
    n_findings = 0
    for i, e in enumerate(evs):
        if i == len(evs) // 2:  # the compact layout survives a checkpoint
            assert any(type(c.members) is tuple for c in compact._clusters.values())  # an out-of-order copy
            assert any(type(c.members) is str for c in compact._clusters.values())
            compact = pickle.loads(pickle.dumps(compact))
        fa, fb = compact.update(e), expanded.update(e)
        assert fa == fb and compact.surprises() == expanded.surprises()
        n_findings += len(fa)
        _expand_all(expanded)
        assert [_view(c) for c in compact._clusters.values()] == [_view(c) for c in expanded._clusters.values()]
    assert n_findings > 0
    late_c = [c for c in compact._clusters.values() if not c.family and "late-2" in c.events]
    assert len(late_c) == 1 and late_c[0].events == ["late-0", "late-", "late-1", "late-2"]
    assert len(late_c[0].members) == 2  # the founder, last seen 15 days before, is still a member


def test_old_cluster_state_with_key_and_family_flag_loads():
    # checkpoints before the family class held a ``family`` flag and a cached ``key``
    from detectors.template_surge import FAMILY, _Cluster

    det = TemplateSurge()
    c = _Cluster(b"\x01\x00\x00\x00" * 64, 5.0, 120)
    old = dict(c.__getstate__(), key="template:" + signature_hex(c.sig), family=True, cls=len(det.priors) - 1)
    o = _Cluster.__new__(_Cluster)
    o.__setstate__(old)
    assert o.family and o.cls == FAMILY and det.priors[o.cls] is det.priors[-1]
    assert TemplateSurge._key_of(o) == old["key"]
    o.__setstate__(dict(old, family=False, cls=1))
    assert not o.family and o.cls == 1


def test_checkpoint_whose_rare_index_holds_the_family_signatures_loads():
    # before RareIndex(sigs=False) the index kept each family's signature as well
    rng = random.Random(13)
    det = TemplateSurge(warmup=0)
    hanzi = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学"
    run(det, [ev(f"r{i}", i * 0.1, f"R{i}", text="".join(rng.choices(hanzi, k=80))) for i in range(260)])
    fams = {cid: c.sig for cid, c in det._clusters.items() if c.family}
    assert fams
    state = pickle.loads(pickle.dumps(det)).__dict__
    ri = state["rare_index"]
    old_ri = {k: v for k, v in ri.__dict__.items() if k != "n"}
    old_ri["sigs"] = dict(fams)
    ri.__dict__.clear()
    ri.__setstate__(old_ri)
    restored = TemplateSurge.__new__(TemplateSurge)
    restored.__setstate__(state)
    assert restored.rare_index.sigs is None and len(restored.rare_index) == len(fams)
    for cid, sig in fams.items():
        assert restored.rare_index.best(np.frombuffer(sig, dtype=np.uint32), restored._family_sig) == (cid, 1.0)


def _batch_stream() -> list:
    """Organic flow, two campaigns, re-deliveries, a paraphrase family's worth of long
    letters, and texts at the length threshold: every path of ``update``."""
    from test_paraphrase import covert_letter

    rng = random.Random(5)
    evs = organic_stream(rng, 2400, span_h=DAY_H * 12)
    evs += campaign(rng, 40, start_h=DAY_H * 2 + 3)
    evs += campaign(rng, 25, start_h=DAY_H * 3 + 1, per_day=20.0, prefix="bg")
    evs += [ev(f"cv{i}", DAY_H * 5 + i * DAY_H / 4, f"V{i}", text=covert_letter(rng, i)) for i in range(16)]
    evs += [ev(f"edge{i}", DAY_H * 4 + i, f"E{i}", text=t) for i, t in enumerate(
        ("汉" * 39, "汉" * 40, "㍻" * 20, "ＡＢＣ" * 40, "İ" * 50, "x" * 200, "", "12345678901234567890" * 3))]
    evs = merge(evs)
    evs += [dataclasses.replace(e) for e in evs[1500:1530]]  # re-delivered copies (new objects, same ids)
    return evs


def _outputs(det, evs, chunk: int | None) -> tuple[list, list, dict]:
    findings, surprises = [], []
    for i in range(0, len(evs), chunk or len(evs)):
        part = evs[i:i + (chunk or len(evs))]
        if chunk:
            det.prepare(part)
        for e in part:
            findings.append([dataclasses.asdict(f) for f in det.update(e)])
            surprises.append([dataclasses.asdict(s) for s in det.surprises()])
    return findings, surprises, det.stats()


def test_prepare_then_update_gives_exactly_what_update_alone_gives():
    evs = _batch_stream()
    plain = _outputs(TemplateSurge(), evs, None)
    assert sum(map(len, plain[0])) > 5 and sum(map(len, plain[1])) > 0 and plain[2]["paraphrase_families"] > 0
    for chunk in (1, 3, 64, 1000):
        det = TemplateSurge()
        assert _outputs(det, evs, chunk) == plain, chunk
        assert pickle.dumps(det) == pickle.dumps(_replay(evs)), chunk  # the same state, byte for byte


def _replay(evs):
    det = TemplateSurge()
    for e in evs:
        det.update(e)
    return det


def test_prepare_with_an_old_permutation_hasher_leaves_the_features_to_update():
    from detectors.textsig import MinHasher

    def perm_detector():
        det = TemplateSurge()
        det.hasher = MinHasher(scheme="perm")  # as unpickled from a checkpoint before one-permutation hashing
        return det

    evs = _batch_stream()[:1500]
    det = perm_detector()
    det.prepare(evs[:10])
    assert det._prep and all(f is None for _, _, f in det._prep.values())  # masked, not batched
    assert _outputs(perm_detector(), evs, 200) == _outputs(perm_detector(), evs, None)


def test_prepared_features_never_reach_another_event_object():
    rng = random.Random(2)
    a = ev("same-id", 30.0, "C1", text=organic_letter(rng))
    b = dataclasses.replace(a, text=agency_letter(rng, "bank-a"))  # the same id, another text
    det, ref = TemplateSurge(), TemplateSurge()
    det.prepare([a])
    assert run(det, [b]) == run(ref, [b])
    assert pickle.dumps(det) == pickle.dumps(ref)
    # the cache goes with the next batch: an event prepared before is recomputed, the same
    det.prepare([b])
    assert det._prep is not None and id(a) not in det._prep
    assert run(det, [a]) == run(ref, [a]) and pickle.dumps(det) == pickle.dumps(ref)


def test_a_detector_pickles_while_a_prepared_batch_is_cached():
    evs = _batch_stream()
    det = TemplateSurge()
    run(det, evs[:1500])
    chunk = evs[1500:1900]
    before = pickle.dumps(det)
    det.prepare(chunk)
    assert det._prep
    state = pickle.dumps(det)
    restored = pickle.loads(state)
    assert "_prep" not in restored.__dict__ and restored._prep is None
    assert b"_prep" not in state and state == before  # the cache is not state
    # all go on alike: from the cache, or computing every text afresh
    ref = pickle.loads(before)
    out = run(ref, chunk)
    assert run(restored, chunk) == out and run(det, chunk) == out
    assert pickle.dumps(restored) == pickle.dumps(ref)


def test_a_copy_the_lsh_index_misses_joins_its_letters_cluster_through_the_rare_tier(monkeypatch):
    # An agency letter at similarity ~0.6 to its representative shares no LSH band about
    # 15 % of the time. It must not found a second cluster (splitting the template's
    # complainants between two keys): its rare content is a near-duplicate of the family
    # founded by the same first letter, so it joins that letter's cluster.
    rng = random.Random(12)
    det = TemplateSurge()
    warm(det, rng, days=2, n=1200)  # past warm-up, and enough letters to know what is rare
    det.update(ev("cp0", 50.0, "CP0", inst="bank-a", text=agency_letter(rng, "bank-a")))
    (home,) = [cid for cid, c in det._clusters.items() if c.events == "cp0" and not c.family]
    assert any(c.family and c.events == "cp0" for c in det._clusters.values())  # the letter's family
    n_clusters = det.stats()["clusters"]
    monkeypatch.setattr(det._lsh, "lookup", lambda bks, q=None, packed=None: [])  # every band misses
    det.update(ev("cp1", 51.0, "CP1", inst="bank-b", text=agency_letter(rng, "bank-b")))
    assert det.stats()["clusters"] == n_clusters  # no second near-duplicate cluster, no second family
    (fam,) = [c for c in det._clusters.values() if c.family and c.events in ("cp0", ["cp0", "cp1"])]
    assert fam.events == ["cp0", "cp1"]  # and the family counts it, as before
    c = det._clusters[home]
    assert len(c.members) == 2 and c.events == ["cp0", "cp1"]
    assert 0.0 < c.sim_sum - 1.0 < 1.0  # it joined at its own (whole-text) similarity, not the rare one


def _young_cluster(det, cls: int, t0: float, hours: tuple[float, ...]):
    """A cluster of class ``cls`` founded at ``t0`` (seconds) with one new complainant at
    each of ``hours`` after it, as ``touch`` would have built it."""
    from detectors.rates import RateModel
    from detectors.template_state import _Cluster
    from detectors.textsig import pack_sig

    c = _Cluster(pack_sig(minhash(mask("本人因疫情收入中断导致信用卡逾期，恳请贵行撤销征信上的逾期记录并减免罚息。"))), t0, 100)
    c.cls = cls
    c.rate = RateModel(bucket_seconds=det.bucket)
    if c.family:
        c.rate.advance(t0)  # a family's founder is not an arrival
    else:
        c.rate.add(t0, 1.0)  # a near-duplicate cluster conditions on it
    c.members, c.insts, c.events = {"F": t0}, {"bank-a": t0}, ["f"]
    for i, h in enumerate(hours):
        c.rate.add(t0 + h * 3600.0, 1.0)
        c.members[f"M{i}"] = t0 + h * 3600.0
        c.events.append(f"m{i}")
    c.last_ts = t0 + hours[-1] * 3600.0
    return c


def test_a_young_cluster_is_charged_for_the_windows_that_differ_except_in_the_short_class():
    # Within a day of its founding a cluster's 1/7/30-day windows (clipped to its age) are
    # one test: a paraphrase family or a long near-duplicate cluster is judged on that test
    # alone. The short class keeps the charge for three windows (it makes ~10-20x the
    # judgements), and in every class the score that decides learning is the one with
    # three windows charged.
    import math

    from detectors.template_state import FAMILY
    from detectors.template_surge import SHORT

    det = TemplateSurge(warmup=0.0, threshold=99.0)  # every judgement is a reported surprise
    t0 = ev("f", 240.0, "F", text="x").ts  # (ev takes hours from a fixed epoch)
    for cls, given in ((FAMILY, 0.0), (1, 1.0), (2, 1.0), (SHORT, 1.0)):
        c = _young_cluster(det, cls, t0, (2.0, 5.0, 9.0))
        event = ev("now", 240.0 + 9.0, "M2", text="x")
        prior = det.priors[c.cls]
        raw = c.rate.score(event.ts, det.scales, prior, given=given, r_min=prior.r_min, since=t0)
        assert len(set(raw.per_scale)) == 1 and raw.score == max(raw.per_scale) - math.log10(3)
        det._clear_surprises()
        f, learn, _ = det._judge(c, event)
        assert f is None and learn == raw.score
        (s,) = det.surprises()
        want = raw.score if cls == SHORT else max(raw.per_scale)
        assert s.score == round(want, 3)
    # three days on, a family's 1-day window differs from its 7- and 30-day ones: two tests
    c = _young_cluster(det, FAMILY, t0, (2.0, 40.0, 70.0))
    event = ev("later", 240.0 + 70.0, "M2", text="x")
    raw = c.rate.score(event.ts, det.scales, det.priors[FAMILY], r_min=det.priors[FAMILY].r_min, since=t0)
    det._clear_surprises()
    det._judge(c, event)
    (s,) = det.surprises()
    assert s.score == round(max(raw.per_scale) - math.log10(2), 3)
