"""Small helpers shared by the ``holdout`` campaign and decoy generators.

Kept apart from ``campaigns.py`` on purpose: the held-out profile must not
change a single random draw of the tuned profiles, so it gets its own helpers
(and its own ``rng`` streams via ``Context.rng``) instead of editing shared ones.
"""
from __future__ import annotations

import random
from typing import Any

from streamer.simulate.clock import is_weekend, working_time
from streamer.simulate.draft import Context
from streamer.simulate.holdout_texts import HARDSHIPS, HARDSHIPS_EN
from streamer.simulate.population import Customer

__all__ = ["choice_w", "office_time", "agency_slots", "insert_filler", "inst_en"]


def choice_w(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    """One name from ``(name, weight)`` pairs."""
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def office_time(ctx: Context, rng: random.Random, day: int) -> int:
    """Office hours of ``day``, moved to Monday if it falls on a weekend (mail rooms, regulators)."""
    while is_weekend(ctx.start, day) and day + 1 < ctx.profile.days:
        day += 1
    return ctx.clamp(working_time(rng, day, 8.5, 18.0))


def inst_en(name: str) -> str:
    """English display name, e.g. ``bank-a`` -> ``Bank A``, ``cfc-d`` -> ``Consumer Finance D``."""
    kind, _, letter = name.partition("-")
    return f"Bank {letter.upper()}" if kind == "bank" else f"Consumer Finance {letter.upper()}"


def agency_slots(ctx: Context, rng: random.Random, institution: str, t: int, cust: Customer, **extra: Any) -> dict[str, Any]:
    """``Context.slots`` plus the slots holdout letters use (account tail, English names, hardship)."""
    slots = ctx.slots(rng, institution, t, cust)
    slots.update(tail=f"{rng.randrange(10000):04d}", inst_en=inst_en(institution), hardship=rng.choice(HARDSHIPS),
                 hardship_en=rng.choice(HARDSHIPS_EN))
    slots.update(extra)
    return slots


def insert_filler(text: str, rng: random.Random, fillers: tuple[str, ...]) -> str:
    """Insert one filler phrase after a random sentence end (。) -- or in front if there is none."""
    cuts = [i + 1 for i, c in enumerate(text[:-1]) if c == "。"]
    at = rng.choice(cuts) if cuts else 0
    return text[:at] + rng.choice(fillers) + text[at:]
