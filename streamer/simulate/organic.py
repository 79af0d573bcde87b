"""The genuine majority: organic complaint flow across institutions.

Arrivals are a day-by-day Poisson-like count (weekends lower, a little
day-to-day noise) spread over an hourly intensity curve per channel; letters
and regulator referrals arrive in office hours on working days. Customers
mostly complain once; a few come back (sometimes formally as ``repeat_of``).
Genuine representation exists and must stay unremarkable: a relative's phone
acting for one customer, a lawyer acting for one or two clients.
"""
from __future__ import annotations

import math
import random

from streamer.simulate.clock import EVENING_HEAVY_WEIGHTS, HOURLY_WEIGHTS, DAY, is_weekend, sample_time_in_day, working_time
from streamer.simulate.draft import Context, Draft, owed_amount, small_amount
from streamer.simulate.lexicon import DEMANDS_BY_CATEGORY
from streamer.simulate.population import Customer, Population
from streamer.simulate.texts import organic_text

__all__ = ["generate_organic", "organic_contacts", "organic_demands_amount"]

_OWED_CATEGORIES = frozenset(("collection", "hardship_relief", "credit_report"))


def _cum(pairs: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    names, cum, acc = [], [], 0.0
    for n, w in pairs:
        acc += w
        names.append(n)
        cum.append(acc)
    return names, cum


def _arrivals(ctx: Context, rng: random.Random) -> list[tuple[int, str]]:
    """(time, channel) of every organic complaint, sorted by time."""
    p = ctx.profile
    ch_names, ch_cum = _cum(p.channel_mix)
    out: list[tuple[int, str]] = []
    for day in range(p.days):
        weekend = is_weekend(ctx.start, day)
        mean = p.weekday_rate * (p.weekend_factor if weekend else 1.0) * rng.uniform(0.92, 1.08)
        n = max(0, round(rng.gauss(mean, math.sqrt(mean))))
        for _ in range(n):
            ch = rng.choices(ch_names, cum_weights=ch_cum)[0]
            if ch in ("letter", "regulator") and weekend:
                ch = "email" if rng.random() < 0.5 else "app"
            if ch in ("letter", "regulator"):
                t = working_time(rng, day)
            elif ch == "branch":
                t = working_time(rng, day, 9.0, 17.0 if not weekend else 16.0)
            else:
                t = sample_time_in_day(rng, day, EVENING_HEAVY_WEIGHTS if ch in ("app", "social", "email") else HOURLY_WEIGHTS)
            out.append((t, ch))
    out.sort()
    return out


def organic_contacts(rng: random.Random, pop: Population, cust: Customer, channel: str) -> list[dict]:
    """The customer's own contact points as an intake system would record them."""
    contacts: list[dict] = []
    if rng.random() < (0.95 if channel == "hotline" else 0.8):
        contacts.append({"kind": "phone", "value": cust.phone, "role": "self"})
    if channel == "email" or (cust.email and rng.random() < 0.3):
        if cust.email is None:
            cust.email = pop.email()
        contacts.append({"kind": "email", "value": cust.email, "role": "self"})
    if channel == "letter" and rng.random() < 0.8 or (cust.address and rng.random() < 0.1):
        if cust.address is None:
            cust.address = pop.address()
        contacts.append({"kind": "address", "value": cust.address, "role": "self"})
    return contacts


def organic_demands_amount(rng: random.Random, category: str, channel: str) -> tuple[list[str], int | None]:
    opts = DEMANDS_BY_CATEGORY[category]
    demands = list(opts[rng.randrange(len(opts))]) if (channel != "hotline" or rng.random() < 0.5) else []
    amount: int | None = None
    if category in _OWED_CATEGORIES and rng.random() < 0.6:
        amount = owed_amount(rng)
    elif category in ("interest_fees", "fraud") and rng.random() < 0.6:
        amount = small_amount(rng)
    elif category == "service" and rng.random() < 0.1:
        amount = small_amount(rng)
    return demands, amount


class _Lawyers:
    """Law-firm lawyers; each takes one or two clients in the window."""

    def __init__(self, rng: random.Random, pop: Population) -> None:
        self.rng, self.pop = rng, pop
        self.open: list[dict] = []

    def pick(self) -> dict:
        if self.open and self.rng.random() < 0.4:
            lw = self.open.pop(self.rng.randrange(len(self.open)))
        else:
            firm = self.pop.rng.choice("正诚信德明华君恒和泰金盛") + self.pop.rng.choice("律衡理法正信达安通") + "律师事务所"
            lw = {"phone": self.pop.phone(), "name": self.pop.masked_name("律师"), "firm": self.pop.name()[0] + firm}
            self.open.append(lw)
        return lw


def generate_organic(ctx: Context) -> None:
    p = ctx.profile
    rng = ctx.rng("organic")
    pop = ctx.population("organic")
    lawyers = _Lawyers(rng, pop)
    inst_names = [i.name for i in p.institutions]
    inst_cum, acc = [], 0.0
    for i in p.institutions:
        acc += i.share
        inst_cum.append(acc)
    cat_names, cat_cum = _cum(p.category_mix)
    once: list[tuple[Customer, Draft]] = []  # customers with exactly one complaint so far
    relatives: dict[str, str] = {}  # customer id -> relative's phone
    family = ctx.organic_groups.setdefault("family_representative", [])
    lawyer_events = ctx.organic_groups.setdefault("lawyer", [])

    for t, channel in _arrivals(ctx, rng):
        prev: Draft | None = None
        if once and rng.random() < p.p_repeat:
            cust, prev = once.pop(rng.randrange(len(once)))
            if prev.t >= t:
                prev = None
        else:
            cust = pop.customer()
        if prev is not None and rng.random() < 0.65:
            inst, category = prev.institution, prev.category
            repeat_of: Draft | None = prev
        else:
            inst = rng.choices(inst_names, cum_weights=inst_cum)[0]
            category = rng.choices(cat_names, cum_weights=cat_cum)[0]
            repeat_of = None

        contacts = organic_contacts(rng, pop, cust, channel)
        group: list[Draft] | None = None
        r = rng.random()
        if cust.cid in relatives or r < p.p_family_rep:
            phone = relatives.setdefault(cust.cid, pop.phone())
            contacts.append({"kind": "phone", "value": phone, "role": "representative"})
            if rng.random() < 0.4:
                contacts.append({"kind": "representative", "value": pop.name(), "role": "representative"})
            group = family
        elif r < p.p_family_rep + p.p_lawyer and channel not in ("hotline", "app", "social"):
            lw = lawyers.pick()
            contacts += [
                {"kind": "representative", "value": lw["name"], "role": "representative"},
                {"kind": "phone", "value": lw["phone"], "role": "representative"},
                {"kind": "organization", "value": lw["firm"], "role": "representative"},
            ]
            group = lawyer_events

        slots = ctx.slots(rng, inst, t, cust)
        text = organic_text(rng, channel, category, slots, p_english=p.p_english,
                            p_generic=p.p_generic_hotline, p_no_text=p.p_hotline_no_text)
        if repeat_of is not None and text and rng.random() < 0.5:
            text = ("再次投诉：" if rng.random() < 0.5 else "此前已投诉过，至今未解决。") + text
        demands, amount = organic_demands_amount(rng, category, channel)
        d = ctx.add(Draft(t=t, institution=inst, channel=channel, category=category,
                          complainant=cust.complainant(rng), contacts=contacts, text=text,
                          demands=demands, amount=amount, repeat_of=repeat_of))
        if group is not None:
            group.append(d)
        cust.n_complaints += 1
        if cust.n_complaints == 1 and t < ctx.horizon - DAY // 2:
            once.append((cust, d))
