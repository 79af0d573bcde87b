"""Masking for text signatures: the variable parts of a letter become placeholders.

``mask`` replaces numbers, amounts, dates, phone / id numbers, e-mails and
Chinese names (after 本人 / 我叫 / 姓名, ``张某``-style) by one placeholder
character each, then NFKC-folds, lower-cases and drops punctuation and white
space, so two copies of a template that differ only in name, amount and dates
mask to (nearly) the same string. ``effective_length`` measures the result in
Chinese-character equivalents. Moved out of ``detectors.textsig``, which
re-exports every name.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

__all__ = ["mask", "effective_length", "surely_short", "PH_NUM", "PH_NAME", "PH_ID", "PH_EMAIL", "PH_DATE"]

# Placeholders: private-use code points, so they never collide with real text
# and survive the punctuation strip below.
PH_NUM = "\ue000"  # a number / amount / count
PH_NAME = "\ue001"  # a person's name
PH_ID = "\ue002"  # a phone, id card, account or other long digit string
PH_EMAIL = "\ue003"  # an e-mail address
PH_DATE = "\ue004"  # a date or time

_CN_DIGITS = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟萬億"
_CJK = "\u4e00-\u9fff"

_NEEDS_NFKC = re.compile("[\uff10-\uff19\uff20-\uff3a\uff41-\uff5a\u2150-\u218f\u2460-\u24ff\u3200-\u33ff\uf900-\ufaff\ufb00-\ufb4f]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# One pass finds every numeric span (the hot path: one regex scan, not one per
# number format); _num_class then decides what the span is.
# It opens with one character class (the optional currency sign folded into it,
# a look-behind then telling a sign, which needs a digit next, from a digit), so
# the regex engine skips ahead to candidate characters instead of trying the
# optional sign at every position: same matches as ``[¥￥$+]?\d...``.
_NUM_SPAN = re.compile(r"[¥￥$+\d](?:(?<=\d)|\d)(?:[\d \t,，.:：/\-年月日号份xX万千百亿]*[\d年月日号份xX万千百亿])?")
_DATE_CHARS = frozenset("年月日号:：")
_AMOUNT_CHARS = frozenset(",，.¥￥$万千百亿")
_DATE_SHAPE = re.compile(r"\d{2,4}[/\-.]\d{1,2}[/\-.]\d{1,2}")


def _num_class(m: re.Match) -> str:
    span = m.group()
    if not _DATE_CHARS.isdisjoint(span) or _DATE_SHAPE.search(span):
        return PH_DATE
    if not _AMOUNT_CHARS.isdisjoint(span):
        return PH_NUM
    n = 0
    for ch in span:
        if ch.isdigit():
            n += 1
    return PH_ID if n >= 7 else PH_NUM


# (guard substrings, pattern, replacement): a mask runs only if one guard occurs.
_MASKS: list[tuple[tuple[str, ...], re.Pattern, str]] = [
    # Chinese numerals in amounts / counts / durations (伍万贰仟元, 三十六期, 两个月)
    (
        tuple("元块万期月年天次笔倍岁"),
        re.compile(rf"[{_CN_DIGITS}]+(?=\s*(?:元|块|万|期|个月|年|天|次|笔|倍|岁))"),
        PH_NUM,
    ),
    # names introduced by a cue: 本人张三，/ 我叫李四 / 姓名：王五 / 委托人赵六
    (
        ("本人", "我叫", "我是", "名叫", "姓名", "户名", "委托人", "代理人", "借款人", "持卡人", "受托人", "联系人"),
        re.compile(
            rf"(本人|我叫|我是|名叫|姓名|户名|委托人|代理人|借款人|持卡人|受托人|联系人)"
            rf"[:：]?\s*[{_CJK}]{{2,4}}(?=[，,。、；;\s（(：:]|身份证|先生|女士|$)"
        ),
        "\\1" + PH_NAME,
    ),
    # 张某 / 刘某某 / 王先生 / 李女士
    (("某",), re.compile(rf"[{_CJK}]某{{1,2}}"), PH_NAME),
    (("先生", "女士", "小姐"), re.compile(rf"[{_CJK}]{{1,2}}(?=先生|女士|小姐)"), PH_NAME),
    # latin-script names after a cue ("my name is john smith", "name: j. smith")
    (("name", "i am "), re.compile(r"(my name is |name: ?|i am )[a-z][a-z.'-]*(?: [a-z][a-z.'-]*)?"), "\\1" + PH_NAME),
]
# drop everything that is not a word character or a placeholder (punctuation,
# spaces), then underscores (a word character) with str.replace: one class
# without an alternation is a third cheaper per character
_STRIP = re.compile(r"[^\w\ue000-\ue0ff]+")
# collapse runs of the same placeholder ("￥ 52,000 元 (伍万)" -> one)
_RUNS = re.compile(r"([\ue000-\ue0ff])\1+")


#: masks computed elsewhere (``maskbatch.mask_many``) on their way into ``mask``'s LRU (``prime``)
_PRIMED: dict[str, str] = {}


@functools.lru_cache(maxsize=1024)
def mask(text: str) -> str:
    """Masked, normalised form of ``text`` (see module doc).

    Cached (an LRU): several detectors mask the same event's text one after
    the other, and the regex passes are the costliest part of it. Its size
    covers a whole batch (``TemplateSurge.prepare`` masks up to a poll's
    ~1,000 texts before the other detectors' ``update`` asks again), at up to
    ~4 KB an entry for 1,000-character letters.
    """
    if _PRIMED:
        primed = _PRIMED.pop(text, None)
        if primed is not None:
            return primed
    if not text:
        return ""
    s = placeholders(text)
    if len(s) >= _LONG:
        out = _strip_long(s)
        if out is not None:
            return out
    s = _STRIP.sub("", s)
    if "_" in s:
        s = s.replace("_", "")
    return _RUNS.sub(r"\1", s)


def prime(masks: dict[str, str]) -> None:
    """Put masks computed elsewhere (text -> ``mask(text)``) into ``mask``'s LRU, so the
    detectors that ask for them next find them there. (``functools.lru_cache`` takes no
    entries from outside: each text is looked up once with its result waiting in
    ``_PRIMED``.)"""
    _PRIMED.update(masks)
    try:
        for text in masks:
            mask(text)
    finally:
        _PRIMED.clear()


def placeholders(text: str) -> str:
    """``mask``'s work up to the strip: ``text`` NFKC-normalised where that matters,
    lower-cased, and its variable parts replaced by placeholders."""
    # NFKC only matters for characters that survive masking and the punctuation
    # strip (full-width letters/digits/@, circled and parenthesised numbers,
    # compatibility ideographs); Chinese text always has full-width punctuation,
    # so testing for those first saves the normalisation on most letters.
    s = unicodedata.normalize("NFKC", text) if _NEEDS_NFKC.search(text) else text
    s = s.lower()
    if "@" in s:
        s = _EMAIL.sub(PH_EMAIL, s)
    s = _NUM_SPAN.sub(_num_class, s)
    for guards, rx, ph in _MASKS:
        for g in guards:
            if g in s:
                s = rx.sub(ph, s)
                break
    return s


# From this length on, the strip and the run collapse are done on the code
# points with numpy (a table lookup per character), which beats the two regex
# scans once the text is long enough to pay for the calls' fixed cost.
_LONG = 256
_KEEP: np.ndarray | None = None


def _keep_table() -> np.ndarray:
    """Per BMP code point: does it survive the strip? (``\\w`` is ``isalnum() or _``
    in ``re``; placeholders stay, underscores go.) Built on first use."""
    global _KEEP
    if _KEEP is None:
        t = np.fromiter((chr(c).isalnum() for c in range(0x10000)), dtype=bool, count=0x10000)
        t[0xE000:0xE100] = True
        t[ord("_")] = False
        _KEEP = t
    return _KEEP


def _strip_long(s: str) -> str | None:
    """``_STRIP`` + underscores + ``_RUNS`` on code points; None if ``s`` has a
    character outside the BMP (the regexes handle those)."""
    cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
    if cps.max() > 0xFFFF:
        return None
    # (take: fancy indexing by the uint32 code points is ~3x slower, see maskbatch)
    return collapse_runs(cps[_keep_table().take(cps)]).tobytes().decode("utf-32-le")


def collapse_runs(c: np.ndarray) -> np.ndarray:
    """Code points ``c`` with every placeholder equal to the one before it dropped (a run
    of one placeholder counts once). Shared with ``maskbatch``, whose NUL separators
    between texts are no placeholders, so a run there ends with its text."""
    if c.shape[0] > 1:
        dup = c[1:] == c[:-1]
        dup &= (c[1:] >> 8) == 0xE0
        if dup.any():
            c = c[np.concatenate(([True], ~dup))]
    return c


def effective_length(masked: str, ascii_per_char: int = 3) -> int:
    """Length of a masked text in "Chinese-character equivalents": a Latin
    letter or digit carries about a third of what a hanzi does, so an English
    sentence is not mistaken for a long, distinctive letter."""
    n_ascii = len(masked.encode("ascii", "ignore"))
    return len(masked) - n_ascii + n_ascii // ascii_per_char


def surely_short(text: str, min_chars: int) -> bool:
    """True when ``effective_length(mask(text)) < min_chars`` is certain without masking.

    Why it is a bound: ``effective_length(m) <= len(m)`` (an ASCII character
    counts a third); ``mask`` works on ``text`` or its NFKC form, lower-cases
    it (``str.lower`` lengthens only U+0130, to two characters), and after
    that every rule replaces one or more characters by one placeholder (a name
    rule keeps its cue and puts one placeholder for a name of two or more), or
    only deletes. So the masked text is no longer than the longer of the two
    forms plus one per U+0130. Most hotline records are this short and skip
    the regex passes (tests/test_textsig.py checks it against ``mask``).
    """
    if len(text) + text.count("\u0130") >= min_chars:
        return False
    if text.isascii() or unicodedata.is_normalized("NFKC", text):  # (ASCII is NFKC)
        return True
    if _expanding().search(text) is None:  # NFKC cannot make it longer (see _expanding)
        return True
    nf = unicodedata.normalize("NFKC", text)
    return len(nf) + nf.count("\u0130") < min_chars


_EXPANDING: re.Pattern | None = None


def _expanding() -> re.Pattern:
    """A character whose NFKD form is more than one character (or any outside the BMP).

    Why it is enough for ``surely_short``: NFKD decomposes character by
    character (then only reorders), and NFKC composes that, each composition
    merging two characters into one; a U+0130 in the NFKC form is such a
    merger (its NFKD is I + U+0307). So ``len(nf) + nf.count("\u0130")`` is at
    most the sum of the characters' NFKD lengths, which is ``len(text)`` when
    this finds nothing. Most Chinese texts are not NFKC only because of
    full-width punctuation ("，" is ","), which maps one to one: the search
    (~0.3 us) spares their normalisation (~11 us for a 25-character record).
    Built on first use (~50 ms) from the running ``unicodedata``.
    """
    global _EXPANDING
    if _EXPANDING is None:
        ranges: list[list[int]] = []
        for c in range(0x10000):
            if len(unicodedata.normalize("NFKD", chr(c))) > 1:
                if ranges and ranges[-1][1] == c - 1:
                    ranges[-1][1] = c
                else:
                    ranges.append([c, c])
        cls = "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)
        _EXPANDING = re.compile(f"[{cls}\U00010000-\U0010FFFF]")
    return _EXPANDING
