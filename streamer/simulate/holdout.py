"""Campaign generators of the held-out ``holdout`` profile (labelled; should be found).

Why these exist: the small/default/hard profiles are what detectors were tuned
on. A real feed differs in rate, duration, wording and channel, so this
profile plants campaigns whose *shape* was chosen before looking at any
detector and whose text comes from ``holdout_texts`` (written fresh):

* ``drip_agency`` -- 1-2 new debtors a working day (about three complaints with
  second institutions and re-filings) for three weeks, titled applications
  with numbered sections; the agency rotates its phones week by week, signs
  with one of two aliases, and also rings the hotline and files through the
  regulator. About a third of its debtors re-file two or three more times.
* ``burst_agency`` -- twenty applications uploaded in one afternoon, one phone
  (often typed in as the debtor's own), office address on some.
* ``multichannel_agency`` -- each debtor: a letter, a hotline chase-up call a
  few days later, then a regulator referral; village hardship certificates.
* ``english_agency`` -- English hardship notices from a debt-settlement firm:
  shared firm e-mail, three rotating phones.
* ``repair_paraphrase`` -- a 征信修复 template with no shared contact at all,
  heavily paraphrased with its own filler and typos.

Truth entries use ``campaigns.truth_entry``, so ``evaluate`` scores them like
every other profile. Shared helpers live in ``holdout_common``.
"""
from __future__ import annotations

from collections.abc import Callable

from streamer.simulate.campaigns import truth_entry
from streamer.simulate.clock import DAY, HOUR, is_weekend
from streamer.simulate.draft import Context, Draft, owed_amount, sha256_hex
from streamer.simulate.grammar import add_typos, fill, render_template
from streamer.simulate.holdout_common import agency_slots, choice_w, insert_filler, office_time
from streamer.simulate.organic import organic_contacts
from streamer.simulate.holdout_texts import (
    BURST_LETTER, DRIP_CALL, DRIP_LETTER, ENGLISH_LETTER, HARDSHIPS, MULTI_CALL, MULTI_LETTER, MULTI_REFERRAL_HEAD,
    REPAIR_FILLERS, REPAIR_SENTENCES, VILLAGE_ISSUERS,
)

__all__ = ["HOLDOUT_CAMPAIGNS"]

_DEBT_DEMANDS = ["stop_interest", "installments", "waive_fees", "stop_collection"]


def drip_agency(ctx: Context, spec_id: str, *, per_day: tuple[int, int], first_day: int, n_days: int,
                institutions: tuple[str, ...], n_phones: int = 6, phones_per_week: int = 3,
                channels: tuple[tuple[str, float], ...] = (("letter", 0.5), ("regulator", 0.3), ("hotline", 0.2)),
                p_second_inst: float = 0.5, p_refile: float = 0.33, p_swap: float = 0.2,
                p_self_label: float = 0.35) -> dict:
    """A slow agency over weeks; its phone pool slides by a week so no number dominates."""
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    phones = [pop.agency_phone() for _ in range(n_phones)]
    aliases = [pop.masked_name(s) for s in ("老师", "经理")]
    wechat = f"wx_{rng.choice(('zhaiwu', 'xieshang', 'tingxi'))}{rng.randrange(1000, 9999)}"
    last = min(ctx.profile.days, first_day + n_days)
    drafts: list[Draft] = []
    for day in range(first_day, last):
        if is_weekend(ctx.start, day):  # the agency files on working days; weekend mail would pile onto Monday
            continue
        week_pool = [phones[(day // 7 * (phones_per_week - 1) + k) % n_phones] for k in range(phones_per_week)]
        for _ in range(rng.randint(*per_day)):
            cust = pop.customer((23, 50))
            amount, hardship = owed_amount(rng, 38000, 0.7), rng.choice(HARDSHIPS)
            insts = [rng.choice(institutions)]
            if rng.random() < p_second_inst:
                insts.append(rng.choice([i for i in institutions if i != insts[0]]))
            for inst in insts:
                t = office_time(ctx, rng, day)
                phone, rep = rng.choice(week_pool), rng.choice(aliases)
                slots = agency_slots(ctx, rng, inst, t, cust, amount=amount, rep=rep, agent_phone=phone,
                                     hardship=hardship)
                ch = choice_w(rng, channels)
                if ch == "hotline":
                    text = fill(DRIP_CALL, rng, slots)
                else:
                    text = render_template(DRIP_LETTER, rng, slots, p_swap=p_swap)
                    if ch == "regulator":
                        text = fill(rng.choice(MULTI_REFERRAL_HEAD), rng, slots) + text
                role = "self" if rng.random() < p_self_label else choice_w(rng, (("representative", 0.6), ("unknown", 0.4)))
                contacts = [{"kind": "phone", "value": phone, "role": role}]
                if rng.random() < 0.4:
                    contacts.insert(0, {"kind": "phone", "value": cust.phone, "role": "self"})
                if rng.random() < 0.6:
                    contacts.append({"kind": "representative", "value": rep, "role": "representative"})
                if rng.random() < 0.25:
                    contacts.append({"kind": "wechat", "value": wechat, "role": rng.choice(("representative", "unknown"))})
                cat = choice_w(rng, (("collection", 0.6), ("hardship_relief", 0.25), ("interest_fees", 0.15)))
                d = ctx.add(Draft(t=t, institution=inst, channel=ch, category=cat,
                                  complainant=cust.complainant(rng), contacts=contacts, text=text,
                                  demands=list(_DEBT_DEMANDS[:rng.randint(2, 4)]), amount=amount, label=spec_id))
                drafts.append(d)
                if inst == insts[0] and rng.random() < p_refile:  # re-file the same complaint 2-3 more times
                    prev, d_day = d, day
                    for k in range(rng.randint(2, 3)):
                        d_day += rng.randint(2, 4)
                        if d_day >= last:
                            break
                        t2 = office_time(ctx, rng, d_day)
                        if t2 <= prev.t:
                            break
                        prev = ctx.add(Draft(t=t2, institution=inst, channel=d.channel, category=d.category,
                                             complainant=dict(d.complainant), contacts=list(d.contacts),
                                             text=f"（第{k + 2}次提交，前次未获答复）" + text,
                                             demands=list(d.demands), amount=amount, repeat_of=prev, label=spec_id))
                        drafts.append(prev)
    return truth_entry(ctx, spec_id, "drip_agency", drafts,
                       f"{per_day} new debtors/day for {last - first_day} days; {n_phones} phones rotating weekly; "
                       "letters + hotline + regulator; a third re-file 2-3 times",
                       shared_contacts={"phones": phones, "representative": aliases, "wechat": wechat})


def burst_agency(ctx: Context, spec_id: str, *, n: int, day: int, institutions: tuple[str, ...],
                 start_hour: float = 14.0, hours: float = 4.0, p_self_label: float = 0.6, p_swap: float = 0.1) -> dict:
    """``n`` applications uploaded in one sitting by one agency."""
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    phone, rep, office = pop.agency_phone(), pop.masked_name("主任"), pop.office_address()
    drafts: list[Draft] = []
    for i in range(n):
        cust = pop.customer((21, 42))
        inst = institutions[i % len(institutions)]
        t = ctx.clamp(day * DAY + int((start_hour + hours * rng.random()) * HOUR))
        slots = agency_slots(ctx, rng, inst, t, cust, amount=owed_amount(rng, 26000, 0.6), rep=rep, agent_phone=phone)
        contacts = [{"kind": "phone", "value": phone, "role": "self" if rng.random() < p_self_label else "unknown"}]
        if rng.random() < 0.5:
            contacts.append({"kind": "address", "value": office, "role": rng.choice(("self", "unknown"))})
        drafts.append(ctx.add(Draft(
            t=t, institution=inst, channel=choice_w(rng, (("email", 0.6), ("app", 0.4))), category="hardship_relief",
            complainant=cust.complainant(rng), contacts=contacts,
            text=render_template(BURST_LETTER, rng, slots, p_swap=p_swap), demands=["stop_interest", "installments",
                                                                                   "credit_repair"],
            amount=slots["amount"], label=spec_id)))
    return truth_entry(ctx, spec_id, "burst_agency", drafts, f"{n} applications in {hours:g} h on day {day}",
                       shared_contacts={"phones": [phone], "address": office})


def multichannel_agency(ctx: Context, spec_id: str, *, n_debtors: int, first_day: int, n_days: int,
                        institutions: tuple[str, ...], n_phones: int = 4, p_certificate: float = 0.4) -> dict:
    """Letter, then a hotline chase-up, then a regulator referral per debtor."""
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    phones = [pop.agency_phone() for _ in range(n_phones)]
    reps = [pop.masked_name(s) for s in ("律师助理", "顾问", "专员")]
    issuer, seal = rng.choice(VILLAGE_ISSUERS)
    scans = [sha256_hex(rng) for _ in range(2)]
    last = min(ctx.profile.days, first_day + n_days)
    drafts: list[Draft] = []
    for i in range(n_debtors):
        cust, amount = pop.customer((25, 55)), owed_amount(rng, 52000, 0.6)
        inst = institutions[i % len(institutions)] if i < len(institutions) else rng.choice(institutions)
        day = first_day + rng.randrange(max(1, last - first_day))
        rep, phone = rng.choice(reps), phones[i % n_phones]
        attach = ([{"kind": "hardship_certificate", "issuer": issuer, "seal_text": seal,
                    "sha256": rng.choice(scans) if rng.random() < 0.5 else sha256_hex(rng)}]
                  if rng.random() < p_certificate else [])
        prev: Draft | None = None
        for step, ch in enumerate(("letter", "hotline", "regulator")):
            t = office_time(ctx, rng, day) if ch != "hotline" else ctx.clamp(day * DAY + int(rng.uniform(9, 20) * HOUR))
            if prev is not None and t <= prev.t or t >= ctx.horizon - 1 or (step and rng.random() < 0.15):
                break
            slots = agency_slots(ctx, rng, inst, t, cust, amount=amount, rep=rep, agent_phone=phone)
            if ch == "hotline":
                text = fill(MULTI_CALL, rng, slots)
            else:
                text = render_template(MULTI_LETTER, rng, slots, p_swap=0.2)
                if ch == "regulator":
                    text = fill(rng.choice(MULTI_REFERRAL_HEAD), rng, slots) + text
            contacts = [{"kind": "phone", "value": phone, "role": rng.choice(("representative", "self", "unknown"))},
                        {"kind": "representative", "value": rep, "role": "representative"}]
            prev = ctx.add(Draft(t=t, institution=inst, channel=ch, category="collection" if step else "hardship_relief",
                                 complainant=cust.complainant(rng), contacts=contacts, text=text,
                                 demands=["waive_fees", "installments", "stop_collection"], amount=amount,
                                 attachments=list(attach) if ch != "hotline" else [],
                                 repeat_of=prev if ch == "regulator" else None, label=spec_id))
            drafts.append(prev)
            day = min(ctx.profile.days - 1, day + rng.randint(1, 3))  # chase-ups may run past the window
    return truth_entry(ctx, spec_id, "multichannel_agency", drafts,
                       f"{n_debtors} debtors: letter -> hotline chase-up -> regulator referral; seals {seal!r}",
                       shared_contacts={"phones": phones, "representative": reps})


def english_agency(ctx: Context, spec_id: str, *, n_debtors: int, first_day: int, n_days: int,
                   institutions: tuple[str, ...], n_phones: int = 3) -> dict:
    """English hardship notices from one debt-settlement firm."""
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    phones = [pop.agency_phone() for _ in range(n_phones)]
    firm = rng.choice(("Harbor", "Bluestone", "Evergreen")) + " Debt Relief Consulting"
    email = f"cases@{firm.split()[0].lower()}relief.cn"
    rep = rng.choice(("Ms. Lin", "Mr. Chen", "Kevin Zhou"))
    last = min(ctx.profile.days, first_day + n_days)
    drafts: list[Draft] = []
    for i in range(n_debtors):
        cust = pop.customer((24, 45))
        inst = institutions[i % len(institutions)]
        t = office_time(ctx, rng, first_day + rng.randrange(max(1, last - first_day)))
        slots = agency_slots(ctx, rng, inst, t, cust, amount=owed_amount(rng, 60000, 0.6), rep=rep,
                             agent_phone=phones[i % n_phones]) | {"agent_email": email, "firm": firm}
        ch = "email" if rng.random() < 0.7 else "letter"
        contacts = [{"kind": "email", "value": email, "role": "representative" if rng.random() < 0.6 else "unknown"},
                    {"kind": "phone", "value": slots["agent_phone"], "role": rng.choice(("representative", "self"))}]
        drafts.append(ctx.add(Draft(
            t=t, institution=inst, channel=ch, category=rng.choice(("collection", "hardship_relief")),
            complainant=cust.complainant(rng), contacts=contacts,
            text=render_template(ENGLISH_LETTER, rng, slots, p_swap=0.2, p_reorder=0.3),
            demands=["stop_interest", "installments", "stop_collection"], amount=slots["amount"], label=spec_id)))
    return truth_entry(ctx, spec_id, "english_agency", drafts, f"English hardship notices by {firm!r}",
                       shared_contacts={"phones": phones, "email": email, "representative": rep})


def repair_paraphrase(ctx: Context, spec_id: str, *, per_day: tuple[int, int], first_day: int, n_days: int,
                      p_swap: float = 0.5, p_reorder: float = 0.7, p_filler: float = 0.4, max_typos: int = 3) -> dict:
    """征信修复 letters with no shared contact: only the (paraphrased) text links them."""
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    insts = list(ctx.institutions)
    last = min(ctx.profile.days, first_day + n_days)
    drafts: list[Draft] = []
    for day in range(first_day, last):
        for _ in range(rng.randint(*per_day)):
            cust, inst = pop.customer((22, 44)), rng.choice(insts)
            t = ctx.clamp(day * DAY + int(rng.uniform(8.0, 22.0) * HOUR))
            text = render_template(REPAIR_SENTENCES, rng, ctx.slots(rng, inst, t, cust), p_swap=p_swap, p_reorder=p_reorder)
            if rng.random() < p_filler:
                text = insert_filler(text, rng, REPAIR_FILLERS)
            text = add_typos(text, rng, rng.randrange(max_typos + 1))
            ch = choice_w(rng, (("email", 0.35), ("app", 0.3), ("letter", 0.2), ("regulator", 0.15)))
            drafts.append(ctx.add(Draft(
                t=t, institution=inst, channel=ch, category="credit_report", complainant=cust.complainant(rng),
                contacts=organic_contacts(rng, pop, cust, ch), text=text, demands=["credit_repair"], label=spec_id)))
    return truth_entry(ctx, spec_id, "repair_paraphrase", drafts, "征信修复 template, own contacts only, paraphrased")


HOLDOUT_CAMPAIGNS: dict[str, Callable[..., dict]] = {
    "drip_agency": drip_agency, "burst_agency": burst_agency, "multichannel_agency": multichannel_agency,
    "english_agency": english_agency, "repair_paraphrase": repair_paraphrase,
}
