"""Draft events and the generation context shared by all generators.

Generators never write ids or timestamps strings directly: they emit ``Draft``
objects (integer event time, a *reference* to the draft they repeat, a truth
label) into the ``Context``. Only the final pass in ``core`` sorts everything,
numbers the ids per institution in time order (as a real complaint system
would) and resolves ``repeat_of`` references. That separation is what lets
independent generators interleave without coordinating ids.

Each generator draws from its own ``random.Random`` seeded by
``"{seed}:{name}"`` (string seeds are hashed deterministically by CPython), so
adding a generator to a profile does not perturb the streams of the others.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamer.simulate.clock import DAY, date_cn, parse_start
from streamer.simulate.lexicon import FEES, PRODUCTS_BANK, PRODUCTS_CFC, PRODUCTS_EN, REASONS
from streamer.simulate.population import Customer, Population, Registry, person_name
from streamer.simulate.profiles import InstitutionSpec, Profile

__all__ = ["Draft", "Context", "owed_amount", "small_amount", "sha256_hex"]


@dataclass(slots=True)
class Draft:
    """One complaint before ids are assigned. ``t``: seconds after scenario start."""

    t: int
    institution: str
    channel: str
    category: str
    complainant: dict
    contacts: list[dict] = field(default_factory=list)
    text: str | None = None
    demands: list[str] = field(default_factory=list)
    amount: float | int | None = None
    attachments: list[dict] = field(default_factory=list)
    repeat_of: "Draft | None" = None
    label: str | None = None  # truth group id (campaign / decoy), None = organic
    seq: int = -1
    event_id: str = ""


def owed_amount(rng: random.Random, median: float = 30000.0, sigma: float = 1.0) -> int:
    """Outstanding balance: log-normal, rounded to 100 yuan."""
    return int(min(900000, max(500, round(math.exp(rng.gauss(math.log(median), sigma)), -2))))


def small_amount(rng: random.Random) -> int:
    """A fee or disputed transaction: tens to a few thousand yuan."""
    return int(min(8000, max(10, round(math.exp(rng.gauss(math.log(280), 0.9))))))


def sha256_hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


class Context:
    """Shared state of one ``simulate`` run."""

    def __init__(self, profile: Profile, seed: int) -> None:
        self.profile = profile
        self.seed = seed
        self.start: datetime = parse_start(profile.start)
        self.horizon: int = profile.days * DAY
        self.registry = Registry()
        self.institutions: dict[str, InstitutionSpec] = {i.name: i for i in profile.institutions}
        self.drafts: list[Draft] = []
        #: organic sub-populations worth reporting in truth (family reps, lawyers)
        self.organic_groups: dict[str, list[Draft]] = {}

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def population(self, name: str) -> Population:
        """A people factory with its own stream over the run's shared registry."""
        return Population(self.rng(f"people:{name}"), self.registry)

    def add(self, d: Draft) -> Draft:
        if not 0 <= d.t < self.horizon:
            raise ValueError(f"draft time {d.t} outside scenario")
        if d.institution not in self.institutions:
            raise ValueError(f"unknown institution {d.institution!r}")
        d.seq = len(self.drafts)
        self.drafts.append(d)
        return d

    def clamp(self, t: int) -> int:
        return min(max(0, t), self.horizon - 1)

    # -- text slots -----------------------------------------------------------
    def slots(self, rng: random.Random, institution: str, t: int, customer: Customer | None = None) -> dict[str, Any]:
        """Slot values for the phrase grammar, consistent with institution and time."""
        inst = self.institutions[institution]
        products = PRODUCTS_BANK if inst.kind == "bank" else PRODUCTS_CFC
        back = t - rng.randrange(1, 40) * DAY // 2
        month_now = (self.start.month + (t // DAY) // 30 - 1) % 12 + 1
        return {
            "inst_cn": inst.display,
            "unit": "行" if inst.kind == "bank" else "司",
            "product": products[rng.randrange(len(products))],
            "product_en": PRODUCTS_EN[rng.randrange(len(PRODUCTS_EN))],
            "fee": FEES[rng.randrange(len(FEES))],
            "reason": REASONS[rng.randrange(len(REASONS))],
            "small": small_amount(rng),
            "n": rng.randrange(3, 200),
            "hour": rng.randrange(9, 12),
            "month": (month_now - rng.randrange(1, 6) - 1) % 12 + 1,
            "year": rng.randrange(2012, 2024),
            "years": rng.randrange(2, 12),
            "rate": rng.choice((18, 24, 30, 36)),
            "periods": rng.choice((12, 24, 36, 48, 60)),
            "months": rng.choice((3, 6, 12)),
            "date": date_cn(self.start, t),
            "date_short": date_cn(self.start, back, with_year=False),
            "name": customer.name if customer else person_name(rng),
            "age": customer.age if customer else rng.randrange(22, 65),
            "city": customer.city if customer else "本市",
        }
