"""Genuine surges of the ``holdout`` profile: real volume that must NOT alert.

Why these four: each is a way an honest feed produces many similar complaints
at once, and each differs from the tuned profiles' decoys.

* ``login_outage`` -- the app stops logging people in one evening: hundreds of
  distinct customers within hours, texts a few characters long and nearly
  identical ("app登录不了", "cannot log in") -- unlike ``decoys.app_outage``,
  whose texts are long and diverse.
* ``fee_change_wave`` -- a fee goes up; for days customers paste the
  institution's own SMS notice and react in their own words.
* ``branch_closure`` -- elderly customers of one branch, all naming it, over a
  week, at the counter and on the hotline.
* ``self_help_template`` -- a 征信异议申请书 template published online, copied
  by unrelated people at a steady low rate for the whole window: identical
  text, but no rise, no shared contact.

Truth entries use ``decoys.decoy_truth``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from streamer.simulate.clock import DAY, EVENING_HEAVY_WEIGHTS, HOUR, HOURLY_WEIGHTS, date_cn, sample_time_in_day
from streamer.simulate.decoys import decoy_truth
from streamer.simulate.draft import Context, Draft
from streamer.simulate.grammar import fill
from streamer.simulate.holdout_common import choice_w, office_time
from streamer.simulate.holdout_texts import (
    BRANCH_CALL, BRANCH_TEXT, FEE_CALL, FEE_NOTICE, FEE_REACTION, LOGIN_CALL, LOGIN_EN, LOGIN_TAIL, LOGIN_ZH,
    SELF_HELP_REASONS, SELF_HELP_TEMPLATE,
)
from streamer.simulate.organic import organic_contacts

__all__ = ["HOLDOUT_DECOYS"]

_ROADS = ("五一路", "车站北路", "迎宾大道", "新民街", "建国路", "桐梓坡路")


def login_outage(ctx: Context, spec_id: str, *, institution: str, day: int, start_hour: float, hours: float, n: int,
                 p_english: float = 0.12) -> dict:
    """``n`` distinct customers typing a few near-identical words within ``hours``."""
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    t0, span = day * DAY + int(start_hour * HOUR), int(hours * HOUR)
    drafts = []
    for _ in range(n):
        t = ctx.clamp(t0 + int(span * rng.random() ** 1.4))
        cust = pop.customer()
        ch = choice_w(rng, (("app", 0.55), ("hotline", 0.3), ("social", 0.1), ("email", 0.05)))
        if ch == "hotline":
            text = fill(LOGIN_CALL[0], rng, {}) if rng.random() < 0.7 else None
        else:
            words = rng.choice(LOGIN_EN) if rng.random() < p_english else rng.choice(LOGIN_ZH)
            text = words + rng.choice(LOGIN_TAIL)
            if ch == "social":
                text = f"@{ctx.institutions[institution].display} {text}"
        drafts.append(ctx.add(Draft(t=t, institution=institution, channel=ch, category="service",
                                    complainant=cust.complainant(rng), contacts=organic_contacts(rng, pop, cust, ch),
                                    text=text, demands=["other"] if rng.random() < 0.8 else [], label=spec_id)))
    return decoy_truth(spec_id, "login_outage", drafts, f"{n} near-identical short login complaints in {hours:g} h")


def fee_change_wave(ctx: Context, spec_id: str, *, institution: str, n: int, first_day: int, n_days: int,
                    fee_new: str, fee_amount: int) -> dict:
    """A fee rise: customers quote the notice and react, front-loaded over ``n_days``."""
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    notice = fill(FEE_NOTICE, rng, {"inst_cn": ctx.institutions[institution].display,
                                    "notice_date": date_cn(ctx.start, first_day * DAY, with_year=False),
                                    "fee_new": fee_new, "fee_amount": fee_amount})
    drafts = []
    for _ in range(n):
        day = min(ctx.profile.days - 1, first_day + int(n_days * rng.random() ** 1.8))
        ch = choice_w(rng, (("hotline", 0.4), ("app", 0.3), ("social", 0.12), ("branch", 0.1), ("letter", 0.08)))
        t = office_time(ctx, rng, day) if ch == "letter" else sample_time_in_day(rng, day, HOURLY_WEIGHTS)
        cust = pop.customer((25, 80))
        slots = ctx.slots(rng, institution, t, cust) | {"notice": notice, "fee_new": fee_new, "fee_amount": fee_amount}
        if ch == "hotline":
            text = fill(FEE_CALL[0], rng, slots) if rng.random() < 0.85 else None
        else:
            text = fill(rng.choice(FEE_REACTION), rng, slots)
        drafts.append(ctx.add(Draft(t=t, institution=institution, channel=ch, category="interest_fees",
                                    complainant=cust.complainant(rng), contacts=organic_contacts(rng, pop, cust, ch),
                                    text=text, demands=["refund"] if rng.random() < 0.5 else ["waive_fees"],
                                    amount=fee_amount if rng.random() < 0.4 else None, label=spec_id)))
    return decoy_truth(spec_id, "fee_change_wave", drafts, f"{fee_new} raised to {fee_amount}: {n} complaints", notice=notice)


def branch_closure(ctx: Context, spec_id: str, *, institution: str, n: int, first_day: int, n_days: int) -> dict:
    """Elderly customers of one closing branch complain over ``n_days``."""
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    _, _, city, districts = pop.region()
    branch = f"{city}{rng.choice(districts)}{rng.choice(_ROADS)}支行"
    close_date = date_cn(ctx.start, (first_day + n_days + 7) * DAY, with_year=False)
    drafts = []
    for _ in range(n):
        day = first_day + rng.randrange(n_days)
        ch = choice_w(rng, (("branch", 0.45), ("hotline", 0.4), ("letter", 0.1), ("social", 0.05)))
        t = office_time(ctx, rng, day) if ch in ("branch", "letter") else sample_time_in_day(rng, day, HOURLY_WEIGHTS)
        cust = pop.customer((58, 88))
        slots = {"branch": branch, "close_date": close_date}
        text = fill(BRANCH_CALL[0] if ch == "hotline" else rng.choice(BRANCH_TEXT), rng, slots)
        drafts.append(ctx.add(Draft(t=t, institution=institution, channel=ch, category="service",
                                    complainant=cust.complainant(rng), contacts=organic_contacts(rng, pop, cust, ch),
                                    text=text, demands=["other"], label=spec_id)))
    return decoy_truth(spec_id, "branch_closure", drafts, f"closure of {branch}: {n} elderly customers", branch=branch)


def self_help_template(ctx: Context, spec_id: str, *, per_day: float) -> dict:
    """A published 征信异议 template, copied by strangers at a steady rate all window long."""
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    names, weights = list(ctx.institutions), [i.share for i in ctx.institutions.values()]
    drafts = []
    for day in range(ctx.profile.days):
        for _ in range(max(0, round(rng.gauss(per_day, math.sqrt(per_day))))):
            inst, cust = rng.choices(names, weights=weights)[0], pop.customer((22, 60))
            ch = choice_w(rng, (("letter", 0.35), ("email", 0.35), ("app", 0.2), ("regulator", 0.1)))
            t = office_time(ctx, rng, day) if ch in ("letter", "regulator") else sample_time_in_day(rng, day, EVENING_HEAVY_WEIGHTS)
            slots = ctx.slots(rng, inst, t, cust) | {"own_reason": rng.choice(SELF_HELP_REASONS)}
            text = fill(SELF_HELP_TEMPLATE, rng, slots)
            if rng.random() < 0.3:  # some drop the title line when pasting
                text = text.split("\n", 1)[1]
            drafts.append(ctx.add(Draft(t=t, institution=inst, channel=ch, category="credit_report",
                                        complainant=cust.complainant(rng), contacts=organic_contacts(rng, pop, cust, ch),
                                        text=text, demands=["credit_repair"], label=spec_id)))
    return decoy_truth(spec_id, "self_help_template", drafts, f"public 征信异议 template copied ~{per_day:g}/day by strangers")


HOLDOUT_DECOYS: dict[str, Callable[..., dict]] = {
    "login_outage": login_outage, "fee_change_wave": fee_change_wave, "branch_closure": branch_closure,
    "self_help_template": self_help_template,
}
