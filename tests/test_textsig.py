"""Masking, shingling, MinHash and LSH banding of complaint texts."""
from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest

from detectors.textsig import (
    PH_DATE,
    PH_EMAIL,
    PH_ID,
    PH_NAME,
    PH_NUM,
    MinHasher,
    band_keys,
    jaccard,
    mask,
    minhash,
    shingle_hashes,
    signature_hex,
)

LETTER = (
    "本人{name}，身份证号{idno}，联系电话{phone}，于{date}向贵行借款￥{amount}元，分{periods}期。"
    "贵行催收人员多次骚扰本人亲友，严重侵犯本人隐私，要求停息挂账并停止一切催收行为。邮箱{email}。"
)


def _letter(name, idno, phone, date, amount, periods, email):
    return LETTER.format(name=name, idno=idno, phone=phone, date=date, amount=amount, periods=periods, email=email)


def test_variable_parts_are_masked_and_raw_values_removed():
    raw = dict(name="张三", idno="11010519491231002X", phone="138-0013-8000", date="2023年4月3日",
               amount="52,000.00", periods="36", email="ZS@qq.com")
    m = mask(_letter(**raw))
    for v in ("张三", "110105", "13800138000", "0013", "2023", "52", "zs@qq.com", "qq"):
        assert v not in m
    for ph in (PH_NAME, PH_ID, PH_DATE, PH_NUM, PH_EMAIL):
        assert ph in m
    assert "停息挂账" in m  # the template wording survives


def test_two_copies_of_a_template_mask_identically():
    a = _letter("张三", "11010519491231002X", "13800138000", "2023年4月3日", "52,000.00", "36", "a@b.com")
    b = _letter("欧阳娜娜", "430102199001011234", "+86 139 1234 5678", "2024-01-15", "8000", "60", "x.y@163.com")
    assert mask(a) == mask(b)


def test_mask_normalises_width_case_punctuation_and_space():
    assert mask("ＡＢＣ，ｄｅｆ！  贵行 ") == mask("abc def贵行")
    assert mask("") == ""


def test_other_name_forms():
    m = mask("代理人刘某某，联系人：王先生。I am writing, my name is John Smith.")
    assert "刘" not in m and "王" not in m and "john" not in m and "smith" not in m


def test_shingles_are_deterministic_sorted_unique():
    h1 = shingle_hashes("abcdefabcdef", 4)
    h2 = shingle_hashes("abcdefabcdef", 4)
    assert h1.dtype == np.uint64
    assert np.array_equal(h1, h2)
    assert np.all(np.diff(h1.astype(np.float64)) > 0) or len(h1) == 1
    assert len(h1) == 6  # abcd bcde cdef defa efab fabc (then repeats)
    assert len(shingle_hashes("ab", 4)) == 1 and len(shingle_hashes("", 4)) == 0


def _true_jaccard(a: str, b: str, k: int = 4) -> float:
    sa, sb = set(shingle_hashes(a, k).tolist()), set(shingle_hashes(b, k).tolist())
    return len(sa & sb) / len(sa | sb)


def test_minhash_estimates_jaccard():
    rng = random.Random(3)
    hasher = MinHasher(num_perm=128, bands=32)
    alphabet = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你对生能而子那得"
    base = "".join(rng.choice(alphabet) for _ in range(400))
    for frac in (0.0, 0.05, 0.2, 0.5, 1.0):
        chars = list(base)
        for i in rng.sample(range(len(chars)), int(frac * len(chars))):
            chars[i] = rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        other = "".join(chars)
        est = jaccard(hasher.signature(shingle_hashes(base)), hasher.signature(shingle_hashes(other)))
        assert est == pytest.approx(_true_jaccard(base, other), abs=0.12)


def test_signatures_are_stable_across_instances_pickles_and_processes():
    text = mask(_letter("李四", "1", "2", "3月1日", "5", "6", "q@q.cn"))
    sig = minhash(text)
    assert np.array_equal(sig, MinHasher().signature(shingle_hashes(text)))
    assert np.array_equal(sig, pickle.loads(pickle.dumps(MinHasher())).signature(shingle_hashes(text)))
    code = ("from detectors.textsig import minhash, signature_hex, mask;"
            f"print(signature_hex(minhash({text!r})))")
    outs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True, cwd=os.path.dirname(os.path.dirname(__file__))).stdout.strip())
    assert outs == {signature_hex(sig)}


def test_lsh_bands_find_near_duplicates_not_strangers():
    a = mask(_letter("张三", "1", "2", "3月1日", "5", "6", "q@q.cn"))
    b = mask(_letter("李四", "9", "8", "4月2日", "7", "9", "z@z.cn") + "请尽快处理。")
    c = mask("手机银行从早上开始一直登录不上，转账也失败，耽误了给员工发工资，客服电话还打不通，太耽误事了。")
    ka, kb, kc = (set(band_keys(minhash(t))) for t in (a, b, c))
    assert ka & kb
    assert not (ka & kc)


def test_empty_signature_and_bad_banding():
    assert np.all(minhash("") == 0xFFFFFFFF)
    with pytest.raises(ValueError):
        MinHasher(num_perm=64, bands=10)


def test_effective_length_counts_latin_at_a_third():
    from detectors.textsig import effective_length

    assert effective_length("abcdef") == 2
    assert effective_length("停息挂账") == 4
    assert effective_length("停息abc") == 3
    # a short English complaint is not a long distinctive letter; a Chinese letter of the same size is
    assert effective_length(mask("I waited two hours at the branch and the staff were rude. Please improve.")) < 40


def test_a_hasher_from_an_old_checkpoint_keeps_the_permutation_scheme():
    # hashers pickled before one-permutation hashing have no ``scheme`` attribute:
    # they must keep producing the signatures their stored representatives have
    old = MinHasher()
    del old.__dict__["scheme"]
    old = pickle.loads(pickle.dumps(old))
    perm = MinHasher(scheme="perm")
    h = shingle_hashes(mask(_letter("李四", "1", "2", "3月1日", "5", "6", "q@q.cn")))
    assert np.array_equal(old.signature(h), perm.signature(h))
    assert not np.array_equal(old.signature(h), MinHasher().signature(h))


def test_both_schemes_estimate_jaccard_and_ignore_order_and_repeats():
    rng = random.Random(9)
    alphabet = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你对生能而子那得"
    base = "".join(rng.choice(alphabet) for _ in range(300))
    other = base[:200] + "".join(rng.choice(alphabet) for _ in range(100))
    for scheme in ("oph", "perm"):
        hasher = MinHasher(num_perm=128, bands=32, scheme=scheme)
        h = shingle_hashes(base)
        shuffled = np.concatenate([h[::-1], h[:10]])
        assert np.array_equal(hasher.signature(h), hasher.signature(shuffled))
        est = jaccard(hasher.signature(h), hasher.signature(shingle_hashes(other)))
        assert est == pytest.approx(_true_jaccard(base, other), abs=0.12)
    with pytest.raises(ValueError):
        MinHasher(scheme="nope")


def _short_cases() -> list[str]:
    """Texts around the length thresholds, incl. the characters that make masking longer
    than one might think: U+0130 (lower-cases to two), NFKC expansions (㎏ -> kg,
    ﬃ -> ffi, ① -> 1, ㈱ -> (株), ½ -> 1⁄2), full-width letters, placeholders' sources."""
    rng = random.Random(3)
    pieces = ["客户来电查询还款金额", "İ", "İstanbul", "㎏", "㍻", "ﬃ", "①②③", "㈱", "½", "ＡＢＣ１２３", "¥5,000元",
              "2024年3月1日", "本人张三，", "王先生", "李某某", "my name is john smith ", "a@b.cn", "13800138000",
              "。，！ ", "\u3000", "x", "Hello World ", "伍万贰仟元", "_", "\ue000", "𠀀", "e\u0301"]
    out = ["", "İ" * 20, "㎏" * 20, "㍻" * 20, "㍻" * 19, "ﬃ" * 13, "x" * 39, "汉" * 39, "汉" * 40, "a" * 119]
    for _ in range(3000):
        out.append("".join(rng.choice(pieces) for _ in range(rng.randrange(1, 8))))
    return out


def test_surely_short_never_skips_a_text_that_masks_long_enough():
    from detectors.textmask import effective_length, surely_short

    seen_short = 0
    for text in _short_cases():
        n = effective_length(mask(text))
        for min_chars in (1, 5, 10, 24, 39, 40, 41, 60):
            if surely_short(text, min_chars):
                seen_short += 1
                assert n < min_chars, (text, min_chars)
            if len(text) >= min_chars:  # a raw text this long is never taken as short
                assert not surely_short(text, min_chars)
    assert seen_short > 5000  # the shortcut does fire (most of these texts are short)
    # NFKC can lengthen a text into more hanzi (㍻ -> 平成): 20 characters that mask to 40
    assert effective_length(mask("㍻" * 20)) == 40 and not surely_short("㍻" * 20, 40)
    assert surely_short("㍻" * 19, 40)
    assert not surely_short("İ" * 20, 40)  # lower() makes it 40 characters (before the strip)


def test_surely_short_spares_nfkc_when_no_character_expands(monkeypatch):
    """Full-width punctuation ("，" -> ",") makes a Chinese record non-NFKC but cannot lengthen
    it: surely_short answers without normalising, and the expanding-character class agrees
    with unicodedata on every BMP character."""
    import unicodedata

    from detectors import textmask

    rx = textmask._expanding()
    for c in range(0x10000):
        assert (rx.search(chr(c)) is None) == (len(unicodedata.normalize("NFKD", chr(c))) == 1), hex(c)
    assert rx.search("\U0001d400") is not None  # outside the BMP: always normalised
    text = "客户来电称催收人员上门催收，已提交专员处理："
    assert not unicodedata.is_normalized("NFKC", text)
    real = unicodedata.normalize

    def no_nfkc(form: str, s: str) -> str:
        assert form != "NFKC", s  # the shortcut must not need it here
        return real(form, s)

    monkeypatch.setattr(textmask.unicodedata, "normalize", no_nfkc)
    assert textmask.surely_short(text, 40) and not textmask.surely_short(text, len(text))
    with pytest.raises(AssertionError):
        textmask.surely_short("㍻，" * 5, 40)  # an expanding character: normalised


def test_batch_densification_borrows_as_the_full_probe_order_does():
    """textbatch._borrow (first probe steps for all, the rest for the few left) picks the
    same bin as argmax over each whole probe order, also when no bin is full; and the
    batch signatures of texts with few windows (many empty bins, so the fallback runs)
    equal the one-text ones."""
    from detectors.paraphrase import RareShingles
    from detectors.textbatch import _borrow, features, features_batch
    from detectors.textsig import MinHasher

    h = MinHasher()
    rng = np.random.default_rng(0)
    for frac in (0.05, 0.3, 0.6, 0.9, 0.99, 1.0):
        full = rng.random((300, 64)) > frac
        full[0] = False  # no full bin at all: argmax gives the first probe
        te, be = np.nonzero(~full)
        order = h.probe[be]
        want = order[np.arange(te.shape[0]), full[te[:, None], order].argmax(axis=1)]
        assert (_borrow(h.probe, full, te, be) == want).all(), frac
    texts = ["".join(chr(0x4E00 + int(c)) for c in rng.integers(0, 500, n)) for n in (4, 5, 9, 20, 40, 120)]
    batch = features_batch(texts, h, 4, 3, RareShingles())
    for text, f in zip(texts, batch):
        assert (f.sig == features(text, h, 4, 3).sig).all()


def test_mask_many_gives_mask_of_each_text_and_primes_its_cache():
    """The batch path (placeholders per text, then one NUL-joined numpy strip) against
    ``mask`` one text at a time, on texts built from every rule's trigger, NULs of their
    own, placeholders and placeholder runs at the ends of texts (runs must not join across
    texts), underscores, astral characters, texts that are all punctuation, and a lone
    surrogate (the whole batch then goes one text at a time)."""
    from detectors import textmask
    from detectors.maskbatch import mask_many

    rng = random.Random(5)
    pieces = ["客户来电查询还款金额", "本人张三", "本人张三，", "我叫李四", "姓名：王五\n", "委托人赵六", "联系人王",
              "刘某某", "王先生", "李女士", "伍万贰仟元", "三十六期", "两个月", "¥5,000元", "2024年3月1日", "13800138000",
              "a@b.cn", "my name is john smith", "name: j. smith", "i am bob", "。，！ ", "\u3000", "\n", "_", "\x00",
              "\ue000", "\ue000\ue000", "𠀀", "🙂", "ΑΣ", "Σ", "İ", "ＡＢＣ１２３", "①", "㍻", "e\u0301", "x", "1", "元"]
    texts = ["", "\x00", "本人张三", "5", "元", "5元", "Σ", "a" * 300, "汉" * 300 + "本人张三"]
    for _ in range(4000):
        texts.append("".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12))))
    want = [textmask.mask.__wrapped__(t) for t in texts]  # uncached, one at a time
    for lo in range(0, len(texts), 500):  # batches, with repeats across and within them
        batch, wanted = texts[lo:lo + 500] + texts[lo:lo + 20], want[lo:lo + 500] + want[lo:lo + 20]
        textmask.mask.cache_clear()
        assert mask_many(batch) == wanted
        hits = textmask.mask.cache_info().hits
        assert [textmask.mask(t) for t in batch] == wanted
        assert textmask.mask.cache_info().hits == hits + len(batch), "the batch's masks are in the LRU"
    lone = ["本人张三" + "\ud800", "伍万贰仟元"]
    assert mask_many(lone) == [textmask.mask.__wrapped__(t) for t in lone]


def test_surely_short_many_is_surely_short_of_each_text():
    """One search over the batch, ``surely_short`` only where an expanding character is:
    the same answers, also for expanding characters at a text's first or last place,
    several in one text, and texts of either side of the length bound."""
    from detectors.maskbatch import surely_short_many
    from detectors.textmask import surely_short

    cases = _short_cases() + ["㍻" + "汉" * 10, "汉" * 10 + "㍻", "㍻㍻" + "汉" * 5, "ﬃ" * 14, "", "İ" * 21]
    random.Random(9).shuffle(cases)
    for min_chars in (24, 40):
        for lo in range(0, len(cases), 700):
            batch = cases[lo:lo + 700]
            assert surely_short_many(batch, min_chars) == [surely_short(t, min_chars) for t in batch]
    assert surely_short_many([], 40) == []
