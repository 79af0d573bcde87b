"""A tiny text-realisation language shared by organic texts, campaigns and decoys.

Why one mechanism for everything: the *same* markup that gives organic complaints
their diversity (pick any alternative) also gives campaign letters their mild
paraphrase (keep the canonical alternative unless a swap is drawn). Tuning
"how templated" a campaign looks is then a single probability, which is exactly
the knob a harder profile needs.

Markup:

* ``[[a|b|c]]`` -- alternatives. The first one is canonical.
* ``{slot}`` -- replaced from a ``slots`` mapping after alternatives are chosen
  (alternatives may themselves contain slots).

Paraphrase operators (``perturb``) model what agencies do to dodge exact-match
filters: synonym swaps (via alternatives), reordered sentences, inserted filler
and homophone typos.
"""
from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["realise", "fill", "Sentence", "render_template", "add_typos", "FILLERS"]

_ALT = re.compile(r"\[\[([^\[\]]*)\]\]")
_SLOT = re.compile(r"\{([a-z_0-9]+)\}")

#: Homophone / near-form substitutions typical of hand-typed Chinese.
_TYPOS: dict[str, tuple[str, ...]] = {
    "的": ("地", "得"), "在": ("再",), "再": ("在",), "已": ("以",), "以": ("已",),
    "账": ("帐",), "做": ("作",), "期": ("其",), "候": ("后",), "贷": ("货",),
    "催": ("摧",), "息": ("习",), "据": ("剧",), "决": ("绝",), "权": ("全",),
}

#: Filler openers inserted in front of a sentence by heavy paraphrase.
FILLERS: tuple[str, ...] = (
    "说实话，", "实在没有办法了，", "我想说明一下，", "恳请理解，", "另外，", "需要说明的是，",
    "坦白讲，", "我再强调一下，", "真心希望，", "我也很无奈，", "其实，",
)


def realise(markup: str, rng: random.Random, p_swap: float | None = None) -> str:
    """Choose alternatives. ``p_swap=None``: uniform choice (organic diversity);
    otherwise keep the canonical first alternative unless a swap (probability
    ``p_swap``) picks one of the others."""

    def pick(m: re.Match[str]) -> str:
        opts = m.group(1).split("|")
        if p_swap is None:
            return opts[rng.randrange(len(opts))]
        if len(opts) > 1 and rng.random() < p_swap:
            return opts[1 + rng.randrange(len(opts) - 1)]
        return opts[0]

    # Loop so alternatives nested inside chosen alternatives are resolved too.
    prev = None
    while prev != markup and "[[" in markup:
        prev = markup
        markup = _ALT.sub(pick, markup)
    return markup


def fill(markup: str, rng: random.Random, slots: Mapping[str, object], p_swap: float | None = None) -> str:
    """Realise alternatives, then substitute ``{slot}`` values (missing slot -> KeyError)."""
    text = realise(markup, rng, p_swap)
    return _SLOT.sub(lambda m: str(slots[m.group(1)]), text)


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a campaign template.

    ``p_keep`` < 1 makes it optional; ``movable`` sentences may be shuffled
    among themselves by heavier paraphrase (the fixed salutation and signature
    stay put, as they would in a real letter).
    """

    markup: str
    p_keep: float = 1.0
    movable: bool = False


def render_template(
    sentences: Sequence[Sentence],
    rng: random.Random,
    slots: Mapping[str, object],
    *,
    p_swap: float,
    p_reorder: float = 0.0,
    p_filler: float = 0.0,
    sep: str = "",
) -> str:
    """Render a campaign template with the given paraphrase strengths."""
    chosen = [s for s in sentences if s.p_keep >= 1.0 or rng.random() < s.p_keep]
    if p_reorder > 0 and rng.random() < p_reorder:
        idx = [i for i, s in enumerate(chosen) if s.movable]
        moved = [chosen[i] for i in idx]
        rng.shuffle(moved)
        for i, s in zip(idx, moved):
            chosen[i] = s
    parts: list[str] = []
    for s in chosen:
        text = fill(s.markup, rng, slots, p_swap)
        if s.movable and p_filler > 0 and rng.random() < p_filler:
            text = FILLERS[rng.randrange(len(FILLERS))] + text
        parts.append(text)
    return sep.join(parts)


def add_typos(text: str, rng: random.Random, n: int) -> str:
    """Replace up to ``n`` characters with a homophone typo, or double a comma."""
    chars = list(text)
    candidates = [i for i, c in enumerate(chars) if c in _TYPOS]
    rng.shuffle(candidates)
    for i in candidates[:n]:
        alts = _TYPOS[chars[i]]
        chars[i] = alts[rng.randrange(len(alts))]
    out = "".join(chars)
    if n and rng.random() < 0.3:
        out = out.replace("，", "，，", 1)
    return out
