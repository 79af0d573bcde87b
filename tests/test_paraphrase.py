"""The paraphrase tier: covert campaigns that rewrite every letter are still one template."""
from __future__ import annotations

import random

import numpy as np
from detector_streams import ev, merge, organic_stream

from detectors import TemplateSurge
from detectors.paraphrase import RareIndex, RareShingles
from detectors.textsig import MinHasher, jaccard, mask, minhash, shingle_hashes

# a covert template: every sentence has several wordings; order and filler vary per letter
_COVERT = [
    ("本人{n}，在贵行办理的{p}因疫情期间收入中断导致逾期。", "本人{n}，名下贵行的{p}由于疫情影响收入骤减产生了逾期记录。",
     "我是{n}，贵行{p}因前期疫情收入下降造成几期逾期。"),
    ("该逾期并非本人主观恶意，我始终积极想办法还款。", "需要说明的是该逾期不是我故意的，本人一直在积极还款。"),
    ("按照人民银行有关通知精神，受疫情影响的客户不应报送不良征信。", "依据监管部门相关文件要求，对受疫情影响暂时失去收入的人群应给予征信保护。"),
    ("恳请贵行撤销本人征信上的逾期记录，并减免逾期期间的全部罚息。", "现申请贵行消除我征信报告中的逾期记录，并免除逾期期间产生的罚息和违约金。"),
    ("望贵行依法依规处理，否则我将向监管部门维护自身合法权益。", "希望贵行尽快处理，如不处理本人将通过法律途径投诉。"),
]
_FILLER = ("实在没有办法了。", "我反复与贵行协商未果。", "这条记录已经影响到我的工作和生活。", "")


def covert_letter(rng: random.Random, i: int) -> str:
    parts = [rng.choice(alts).format(n="某" + "甲乙丙丁戊己庚辛"[i % 8], p=rng.choice(("信用卡", "消费贷", "车贷")))
             for alts in _COVERT]
    body = parts[1:4]
    rng.shuffle(body)
    return parts[0] + rng.choice(_FILLER) + "".join(body) + rng.choice(_FILLER) + parts[4]


def test_paraphrases_are_not_near_duplicates_but_share_rare_phrasing():
    rng = random.Random(1)
    a, b = covert_letter(rng, 1), covert_letter(rng, 2)
    assert jaccard(minhash(mask(a)), minhash(mask(b))) < 0.5   # the near-duplicate tier cannot join them


def test_covert_campaign_without_shared_contacts_is_found():
    rng = random.Random(3)
    det = TemplateSurge()
    organic = organic_stream(rng, 2400, span_h=24.0 * 12)          # ~200 letters a day for 12 days
    covert = [ev(f"cv{i}", 24.0 * 5 + i * 24.0 / 4 + rng.uniform(0, 3), f"V{i}", text=covert_letter(rng, i),
                 inst=rng.choice(("bank-a", "bank-b", "cfc-d"))) for i in range(16)]  # 4 a day, 4 days
    findings = [f for e in merge(organic, covert) for f in det.update(e)]
    assert findings, "the covert campaign should be found"
    ids = set(f.event_ids[-1] for f in findings) | {f.trigger_id for f in findings}
    assert all(i.startswith("cv") for i in ids), "only covert letters may be flagged"
    assert findings[0].evidence["tier"] == "paraphrase"
    assert int(findings[0].trigger_id[2:]) < 10                   # within the first 10 letters


def test_organic_flow_alone_forms_no_paraphrase_alert():
    rng = random.Random(4)
    det = TemplateSurge()
    assert [f for e in organic_stream(rng, 2400, span_h=24.0 * 12) for f in det.update(e)] == []


def test_nothing_is_rare_before_a_reference_flow_exists():
    rs = RareShingles(min_docs=10)
    h = shingle_hashes(mask("一段足够长的投诉文本，用来测试稀有片段的判断是否正确。"), 3)
    assert rs.rare(h, 0.0).shape[0] == 0
    for i in range(20):
        rs.rare(shingle_hashes(mask(f"完全不同的内容第{i}号，关于信用卡年费和积分的问题。"), 3), float(i))
    fresh = shingle_hashes(mask("夜里突然收到陌生号码打来电话威胁恐吓我的父母。"), 3)
    assert rs.rare(fresh, 30.0).shape[0] == fresh.shape[0] > 0   # never seen: all rare
    common = shingle_hashes(mask("完全不同的内容，关于信用卡年费和积分的问题。"), 3)
    assert rs.rare(common, 31.0).shape[0] < common.shape[0] // 2  # seen in every letter: common


def test_rare_index_finds_the_closest_representative_and_forgets_removed_ones():
    mh = MinHasher(num_perm=64, bands=16, seed=5)
    base = np.arange(1, 200, dtype=np.uint64) * np.uint64(7919)
    idx = RareIndex()
    idx.add(1, mh.signature(base[:100]))
    idx.add(2, mh.signature(base[100:]))
    cid, sim = idx.best(mh.signature(base[10:110]))
    assert cid == 1 and 0.5 < sim < 1.0
    idx.remove(1)
    assert idx.best(mh.signature(base[:50]))[0] == -1 and len(idx) == 1


def test_rare_index_folded_key_collisions_do_not_count_as_shared_slots():
    # the index keys are 32-bit (value xor a per-slot constant): a signature whose
    # keys equal another's in *different* slots shares no slot and must not match
    from detectors.paraphrase import _slot_salts

    mh = MinHasher(num_perm=64, bands=16, seed=5)
    a = mh.signature(np.arange(1, 100, dtype=np.uint64) * np.uint64(104729))
    salts = _slot_salts(64)
    b = (np.roll(a, 1) ^ np.roll(salts, 1) ^ salts).astype(np.uint32)  # same keys, shifted a slot
    assert not np.any(a == b) and sorted(RareIndex._keys(a)[0]) == sorted(RareIndex._keys(b)[0])
    idx = RareIndex()
    idx.add(3, a)
    assert idx.best(b) == (-1, 0.0)
    idx.add(4, b)
    assert idx.best(a) == (3, 1.0) and idx.best(b) == (4, 1.0)


def test_rare_index_checkpoint_with_64_bit_keys_is_refiled():
    from detectors.postings import Postings

    mh = MinHasher(num_perm=64, bands=16, seed=5)
    sig = mh.signature(np.arange(1, 90, dtype=np.uint64))
    old = Postings()  # uint64 keys: (slot << 32) | value, as before the 32-bit index
    old.add(7, (np.arange(64, dtype=np.uint64) << np.uint64(32) | sig.astype(np.uint64)).tolist())
    ri = RareIndex.__new__(RareIndex)
    ri.__setstate__({"sigs": {7: sig}, "post": old})
    assert ri.post.keys.dtype == np.uint32 and ri.best(sig) == (7, 1.0)


def test_rare_windows_without_dedupe_counts_alike_and_keeps_repeats():
    """dedupe=False leaves the sort to the caller: the same sketch afterwards, and the
    rare windows with repeats, whose sorted unique set is what dedupe=True returns."""
    from detectors.textsig import rolling_hashes, sort_unique

    rng = random.Random(3)
    a, b = RareShingles(min_docs=5), RareShingles(min_docs=5)
    seen_repeats = False
    for i in range(40):
        text = mask(covert_letter(rng, i) * (1 + i % 2))  # every other letter twice: repeated windows
        (w,) = rolling_hashes(text, (3,))
        want = a.rare_windows(w, float(i))
        got = b.rare_windows(w, float(i), dedupe=False)
        assert np.array_equal(sort_unique(got), want)
        seen_repeats |= got.shape[0] > want.shape[0] > 0
        assert np.array_equal(a.counts, b.counts) and a.docs == b.docs
    assert seen_repeats
