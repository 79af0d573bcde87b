"""Organic complaint texts by channel: hotline summaries, app/social posts, letters.

Channel shapes length the way real intake does: call-centre agents write a
one-line summary (or nothing), app and social posts are a sentence or two,
letters / e-mails / regulator referrals are multi-sentence narratives. All of
it is drawn from ``lexicon`` with uniform alternative choice, so two organic
letters almost never share a long run of text.
"""
from __future__ import annotations

import random
from collections.abc import Mapping

from streamer.simulate.grammar import fill
from streamer.simulate.lexicon import (
    ENGLISH, GENERIC_HOTLINE, HOTLINE_ISSUE, HOTLINE_PREFIX, HOTLINE_TAIL, HOTLINE_WHEN, LETTER_CLOSE,
    LETTER_DEMAND, LETTER_FEEL, LETTER_INTRO, LETTER_OPEN, LETTER_PROBLEM, SOCIAL_TAIL,
)

__all__ = ["hotline_summary", "branch_summary", "app_text", "social_text", "letter_text", "english_text",
           "generic_hotline", "organic_text"]

_BRANCH_PREFIX = ("客户到网点反映", "客户临柜投诉", "客户在营业厅反映", "客户至支行投诉称", "客户到店称", "网点接待客户，客户反映")
_REGULATOR_PREFIX = ("", "", "【监管转办】", "【转办件】", "金融监管局转来投诉：", "12378热线转办：")


def _pick(rng: random.Random, seq: tuple[str, ...] | list[str]) -> str:
    return seq[rng.randrange(len(seq))]


def hotline_summary(rng: random.Random, category: str, slots: Mapping[str, object]) -> str:
    """An agent's one-line summary of a call."""
    markup = _pick(rng, HOTLINE_PREFIX) + _pick(rng, HOTLINE_WHEN) + _pick(rng, HOTLINE_ISSUE[category]) + _pick(rng, HOTLINE_TAIL) + "。"
    return fill(markup, rng, slots)


def branch_summary(rng: random.Random, category: str, slots: Mapping[str, object]) -> str:
    markup = _pick(rng, _BRANCH_PREFIX) + _pick(rng, HOTLINE_ISSUE[category]) + _pick(rng, HOTLINE_TAIL) + "。"
    return fill(markup, rng, slots)


def generic_hotline(rng: random.Random) -> str:
    return _pick(rng, GENERIC_HOTLINE)


def app_text(rng: random.Random, category: str, slots: Mapping[str, object]) -> str:
    """One problem sentence, sometimes a feeling and a demand."""
    parts = [_pick(rng, LETTER_PROBLEM[category])]
    if rng.random() < 0.35:
        parts.append(_pick(rng, LETTER_FEEL))
    if rng.random() < 0.5:
        parts.append(_pick(rng, LETTER_DEMAND[category]))
    return fill("".join(parts), rng, slots)


def social_text(rng: random.Random, category: str, slots: Mapping[str, object]) -> str:
    return fill("@{inst_cn} " + _pick(rng, LETTER_PROBLEM[category]) + _pick(rng, SOCIAL_TAIL), rng, slots)


def letter_text(rng: random.Random, category: str, slots: Mapping[str, object], channel: str = "letter") -> str:
    """A multi-sentence narrative: greeting, intro, 1-3 problems, feeling, demands, closing."""
    problems = list(LETTER_PROBLEM[category])
    rng.shuffle(problems)
    k = 1 + (rng.random() < 0.6) + (rng.random() < 0.25)
    demands = list(LETTER_DEMAND[category])
    rng.shuffle(demands)
    parts = [_pick(rng, LETTER_OPEN), _pick(rng, LETTER_INTRO), *problems[:k], _pick(rng, LETTER_FEEL),
             *demands[: 1 + (rng.random() < 0.4)], _pick(rng, LETTER_CLOSE)]
    head = _pick(rng, _REGULATOR_PREFIX) if channel == "regulator" else ""
    sep = "\n" if rng.random() < 0.3 else ""
    return head + fill(sep.join(p for p in parts if p), rng, slots)


def english_text(rng: random.Random, category: str, slots: Mapping[str, object]) -> str:
    return fill(_pick(rng, ENGLISH[category]), rng, slots)


def organic_text(rng: random.Random, channel: str, category: str, slots: Mapping[str, object], *,
                 p_english: float, p_generic: float, p_no_text: float) -> str | None:
    """The text of one genuine complaint for its channel (``None``: no text recorded)."""
    if channel in ("app", "email", "social") and rng.random() < p_english * 2.5:
        return english_text(rng, category, slots)
    if channel == "hotline":
        r = rng.random()
        if r < p_no_text:
            return None
        if r < p_no_text + p_generic:
            return generic_hotline(rng)
        return hotline_summary(rng, category, slots)
    if channel == "branch":
        return branch_summary(rng, category, slots)
    if channel == "app":
        return app_text(rng, category, slots)
    if channel == "social":
        return social_text(rng, category, slots)
    if channel == "other":
        return hotline_summary(rng, category, slots) if rng.random() < 0.7 else None
    return letter_text(rng, category, slots, channel)
