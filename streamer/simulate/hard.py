"""Extra generators for the ``hard`` profile: quieter abuse, louder innocence.

Campaigns (labelled, should be found):

* ``forged_certificates`` -- hardship complaints in the complainants' own words,
  no shared phone, but all attaching certificates sealed by one issuer
  (a hospital or village committee) within days.
* ``fanout`` -- each debtor complains to 4+ institutions within a day or two.
* ``repeat_pressure`` -- a handful of debtors re-file at the same institution
  every day or two, each complaint pointing at the previous one.
* ``impersonation_calls`` -- one agency phone calls the hotlines of several
  institutions for many different debtors over a few days, claiming to be the
  debtor's spouse or relative. The intake system records that phone as the
  representative's -- or, caller ID taken for the customer's own, as ``self``.
  Texts are short, varied agent summaries; no letter template to find.

Decoys (legitimate, must not alert):

* ``legal_aid`` -- a legal-aid clinic representing a few clients in the window.
* ``branch_landline`` -- a branch types its own landline for elderly customers.
* ``product_victims`` -- investors of one defaulted product complain together.
* ``fee_policy`` -- a real fee change draws a wave of diverse fee complaints.
* ``impersonation`` -- victims of one scam number all report that number.
"""
from __future__ import annotations

from collections.abc import Callable

from streamer.simulate.campaigns import truth_entry
from streamer.simulate.clock import HOURLY_WEIGHTS, sample_time_in_day, working_time
from streamer.simulate.decoys import decoy_truth
from streamer.simulate.draft import Context, Draft, owed_amount, sha256_hex, small_amount
from streamer.simulate.grammar import fill
from streamer.simulate.organic import organic_contacts, organic_demands_amount
from streamer.simulate.texts import app_text, hotline_summary, letter_text, organic_text

__all__ = ["HARD_CAMPAIGNS", "HARD_DECOYS", "impersonation_calls"]

_ISSUERS = (("某县人民医院", "某县人民医院诊断证明专用章"), ("某镇某村村民委员会", "某村村民委员会公章"),
            ("某市中心医院", "某市中心医院门诊专用章"))


def forged_certificates(ctx: Context, spec_id: str, *, n: int, first_day: int, n_days: int) -> dict:
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    issuer, seal = rng.choice(_ISSUERS)
    kind = "hardship_certificate" if "村" in issuer else "medical_certificate"
    insts, drafts = list(ctx.institutions), []
    for _ in range(n):
        day = min(ctx.profile.days - 1, first_day + rng.randrange(n_days))
        t, inst, cust = ctx.clamp(working_time(rng, day)), rng.choice(insts), pop.customer((22, 40))
        ch = rng.choice(("letter", "email", "regulator", "app"))
        text = letter_text(rng, "hardship_relief", ctx.slots(rng, inst, t, cust), ch)
        drafts.append(ctx.add(Draft(
            t=t, institution=inst, channel=ch, category="hardship_relief", complainant=cust.complainant(rng),
            contacts=organic_contacts(rng, pop, cust, ch), text=text,
            demands=["stop_interest", "installments"], amount=owed_amount(rng, 40000, 0.7),
            attachments=[{"kind": kind, "issuer": issuer, "seal_text": seal, "sha256": sha256_hex(rng)}], label=spec_id)))
    return truth_entry(ctx, spec_id, "forged_certificates", drafts, f"{n} certificates sealed {seal!r}, own wording")


def fanout(ctx: Context, spec_id: str, *, n_debtors: int, first_day: int, n_days: int, k: tuple[int, int] = (4, 5)) -> dict:
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    insts, drafts = list(ctx.institutions), []
    for _ in range(n_debtors):
        cust = pop.customer((22, 45))
        day = first_day + rng.randrange(n_days)
        for inst in rng.sample(insts, min(len(insts), rng.randint(*k))):
            t = ctx.clamp(working_time(rng, min(ctx.profile.days - 1, day + (rng.random() < 0.3)), 8.5, 21.0))
            ch = rng.choice(("letter", "email", "regulator", "app", "hotline"))
            cat = rng.choice(("collection", "hardship_relief", "interest_fees"))
            text = organic_text(rng, ch, cat, ctx.slots(rng, inst, t, cust), p_english=0, p_generic=0, p_no_text=0)
            demands, amount = organic_demands_amount(rng, cat, "letter")
            drafts.append(ctx.add(Draft(t=t, institution=inst, channel=ch, category=cat,
                                        complainant=cust.complainant(rng), contacts=organic_contacts(rng, pop, cust, ch),
                                        text=text, demands=demands, amount=amount, label=spec_id)))
    return truth_entry(ctx, spec_id, "fanout", drafts, "each debtor complains to 4+ institutions within ~1 day")


def repeat_pressure(ctx: Context, spec_id: str, *, n_debtors: int, first_day: int, n_repeats: tuple[int, int] = (4, 7)) -> dict:
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    drafts: list[Draft] = []
    for _ in range(n_debtors):
        cust, inst = pop.customer((22, 45)), rng.choice(list(ctx.institutions))
        day, prev = first_day + rng.randrange(2), None
        for _ in range(rng.randint(*n_repeats)):
            if day >= ctx.profile.days:
                break
            t = ctx.clamp(working_time(rng, day, 8.5, 20.0))
            ch = rng.choice(("hotline", "app", "regulator", "email"))
            text = hotline_summary(rng, "collection", ctx.slots(rng, inst, t, cust)) if ch == "hotline" else \
                app_text(rng, "collection", ctx.slots(rng, inst, t, cust))
            prev = ctx.add(Draft(t=t, institution=inst, channel=ch, category="collection",
                                 complainant=cust.complainant(rng), contacts=organic_contacts(rng, pop, cust, ch),
                                 text=("第{}次投诉：".format(len([d for d in drafts if d.complainant['id'] == cust.cid]) + 1)) + text,
                                 demands=["stop_interest", "stop_collection"], amount=owed_amount(rng),
                                 repeat_of=prev, label=spec_id))
            drafts.append(prev)
            day += rng.randint(1, 2)
    return truth_entry(ctx, spec_id, "repeat_pressure", drafts, "debtors re-filing every 1-2 days, chained repeat_of")


_CALL_TEXT = (
    "[[自称客户{rel}来电|自称客户{rel}致电|来电人自称客户{rel}|来电人称系客户{rel}|客户{rel}来电]]，"
    "[[称客户|反映客户|称其家人]][[因病住院|失业在家|生意失败|突发重病|车祸受伤|收入中断]][[，|，目前|，现]][[无力还款|暂时无法还款|无法按期还款]]，"
    "要求[[停息挂账|停止计息|将欠款分60期偿还|本金分期偿还]][[、减免罚息|、减免罚息和违约金|、停止催收|、不上征信|]]"
    "[[|，称客户本人不方便接听电话|，拒绝提供客户本人联系方式|，表示已委托其全权处理|，情绪激动|，称不处理将向监管投诉]]。"
)
_CALL_RELATIVES = ("配偶", "丈夫", "妻子", "爱人", "家属", "儿子", "女儿", "姐姐", "哥哥")
_CALL_DEMANDS = (["stop_interest", "waive_fees"], ["stop_interest", "installments"],
                 ["stop_interest", "waive_fees", "stop_collection"], ["installments", "stop_collection"])


def impersonation_calls(ctx: Context, spec_id: str, *, n_debtors: int, first_day: int, n_days: int,
                        institutions: tuple[str, ...] | None = None, p_self_label: float = 0.4,
                        p_own_phone: float = 0.3, p_second_call: float = 0.2) -> dict:
    """One agency phone calling hotlines for ``n_debtors`` debtors, posing as their spouse or relative."""
    rng, pop = ctx.rng(f"campaign:{spec_id}"), ctx.population(f"campaign:{spec_id}")
    phone = pop.agency_phone()
    insts = list(institutions or ctx.institutions)
    if len(insts) < 2:
        raise ValueError("impersonation_calls needs at least two institutions")
    last = min(ctx.profile.days, first_day + n_days)
    drafts: list[Draft] = []
    for i in range(n_debtors):
        cust = pop.customer((22, 48))
        day = first_day + rng.randrange(max(1, last - first_day))
        first = insts[i % len(insts)] if i < len(insts) else rng.choice(insts)  # every institution early on
        targets = [first] + ([rng.choice([x for x in insts if x != first])] if rng.random() < p_second_call else [])
        for inst in targets:
            t = ctx.clamp(working_time(rng, min(last - 1, day + (rng.random() < 0.3)), 9.0, 20.5))
            cat = "collection" if rng.random() < 0.6 else "hardship_relief"
            role = "self" if rng.random() < p_self_label else "representative"
            contacts = [{"kind": "phone", "value": phone, "role": role}]
            if rng.random() < p_own_phone:  # the agent reads out the debtor's own number
                contacts.append({"kind": "phone", "value": cust.phone, "role": "self"})
            slots = ctx.slots(rng, inst, t, cust) | {"rel": rng.choice(_CALL_RELATIVES)}
            text = fill(_CALL_TEXT, rng, slots) if rng.random() < 0.92 else None
            drafts.append(ctx.add(Draft(
                t=t, institution=inst, channel="hotline", category=cat, complainant=cust.complainant(rng),
                contacts=contacts, text=text, demands=list(rng.choice(_CALL_DEMANDS)) if rng.random() < 0.6 else [],
                amount=owed_amount(rng, 30000, 0.8) if rng.random() < 0.4 else None, label=spec_id)))
    return truth_entry(ctx, spec_id, "impersonation_calls", drafts,
                       f"one phone calls hotlines for {n_debtors} debtors posing as spouse/relative",
                       shared_contacts={"phones": [phone]})


def legal_aid(ctx: Context, spec_id: str, *, n_clients: int = 4) -> dict:
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    phone, name = pop.phone(), pop.masked_name("律师")
    org = f"{pop.region()[2]}法律援助中心"
    drafts = []
    for _ in range(n_clients):
        cust, inst = pop.customer((35, 75)), rng.choice(list(ctx.institutions))
        t = ctx.clamp(working_time(rng, rng.randrange(ctx.profile.days)))
        cat = rng.choice(("collection", "interest_fees", "fraud", "credit_report"))
        demands, amount = organic_demands_amount(rng, cat, "letter")
        drafts.append(ctx.add(Draft(
            t=t, institution=inst, channel="letter", category=cat, complainant=cust.complainant(rng),
            contacts=[{"kind": "phone", "value": cust.phone, "role": "self"},
                      {"kind": "representative", "value": name, "role": "representative"},
                      {"kind": "phone", "value": phone, "role": "representative"},
                      {"kind": "organization", "value": org, "role": "representative"}],
            text=letter_text(rng, cat, ctx.slots(rng, inst, t, cust)), demands=demands, amount=amount,
            attachments=[{"kind": "authorization", "issuer": org, "seal_text": f"{org}公章"}], label=spec_id)))
    return decoy_truth(spec_id, "legal_aid", drafts, f"legal-aid clinic representing {n_clients} clients")


def branch_landline(ctx: Context, spec_id: str, *, institution: str, per_day: float = 1.5) -> dict:
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    landline = f"0731-8{rng.randrange(10**6, 10**7)}"
    drafts = []
    for day in range(ctx.profile.days):
        for _ in range(max(0, round(rng.gauss(per_day, 1)))):
            cust, t = pop.customer((65, 88)), ctx.clamp(working_time(rng, day, 9, 16.5))
            cat = rng.choice(("service", "interest_fees", "fraud", "other", "collection"))
            drafts.append(ctx.add(Draft(
                t=t, institution=institution, channel="branch", category=cat, complainant=cust.complainant(rng),
                contacts=[{"kind": "phone", "value": landline, "role": rng.choice(("self", "unknown"))}],
                text=organic_text(rng, "branch", cat, ctx.slots(rng, institution, t, cust), p_english=0, p_generic=0, p_no_text=0),
                label=spec_id)))
    return decoy_truth(spec_id, "branch_landline", drafts, "branch staff enter the branch landline for elderly customers")


_PRODUCT_TEXT = (
    "[[我|本人]]在贵{unit}[[购买|买]]的“{prod}”[[到期无法兑付|逾期兑付|暴雷了]]，[[投了|本金]]{big}元，"
    "[[客户经理|理财经理]]当初[[说是保本的|承诺稳健收益|说风险很低]]，[[要求|请]]贵{unit}[[给个说法|退还本金|承担责任]]。"
)


def product_victims(ctx: Context, spec_id: str, *, institution: str, n: int, day: int) -> dict:
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    prod = f"{rng.choice(('稳盈', '安享', '鑫利', '恒丰'))}{rng.randint(1, 9)}号集合资产管理计划"
    drafts = []
    for _ in range(n):
        cust = pop.customer((45, 78))
        t = ctx.clamp(sample_time_in_day(rng, min(ctx.profile.days - 1, day + rng.randrange(3)), HOURLY_WEIGHTS))
        slots = ctx.slots(rng, institution, t, cust) | {"prod": prod, "big": rng.randrange(5, 200) * 10000}
        ch = rng.choice(("hotline", "branch", "letter", "regulator", "social"))
        drafts.append(ctx.add(Draft(
            t=t, institution=institution, channel=ch, category="other", complainant=cust.complainant(rng),
            contacts=organic_contacts(rng, pop, cust, ch), text=fill(_PRODUCT_TEXT, rng, slots),
            demands=["refund", "compensation"], amount=slots["big"], label=spec_id)))
    return decoy_truth(spec_id, "product_victims", drafts, f"investors of defaulted product {prod!r}")


def fee_policy(ctx: Context, spec_id: str, *, institution: str, n: int, first_day: int, n_days: int) -> dict:
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    fee = rng.choice(("短信通知服务费", "小额账户管理费", "跨行转账手续费"))
    drafts = []
    for _ in range(n):
        day = min(ctx.profile.days - 1, first_day + int(n_days * rng.random() ** 1.5))
        t, cust = sample_time_in_day(rng, day), pop.customer()
        ch = rng.choice(("hotline", "app", "hotline", "branch", "social"))
        slots = ctx.slots(rng, institution, t, cust) | {"fee": fee}
        text = organic_text(rng, ch, "interest_fees", slots, p_english=0, p_generic=0, p_no_text=0.1)
        if text and rng.random() < 0.6:
            text = fill(f"[[贵{{unit}}新开始收取|突然开始扣|今天被扣了]]{fee}{{small}}元，[[为什么|凭什么]]？", rng, slots) + text
        drafts.append(ctx.add(Draft(
            t=t, institution=institution, channel=ch, category="interest_fees", complainant=cust.complainant(rng),
            contacts=organic_contacts(rng, pop, cust, ch), text=text, demands=["refund"],
            amount=small_amount(rng), label=spec_id)))
    return decoy_truth(spec_id, "fee_policy", drafts, f"new {fee} draws diverse complaints")


def impersonation(ctx: Context, spec_id: str, *, n: int, first_day: int, n_days: int) -> dict:
    rng, pop = ctx.rng(f"decoy:{spec_id}"), ctx.population(f"decoy:{spec_id}")
    scam = pop.agency_phone()
    insts, drafts = list(ctx.institutions), []
    for _ in range(n):
        t = sample_time_in_day(rng, min(ctx.profile.days - 1, first_day + rng.randrange(n_days)))
        cust, inst = pop.customer(), rng.choice(insts)
        ch = rng.choice(("hotline", "app", "hotline"))
        text = fill("[[接到|收到]]{scam}[[冒充|自称]][[贵{unit}客服|贵{unit}工作人员|征信中心]]的[[电话|来电]]，[[要求|让我]][[注销校园贷账户|转账到安全账户|下载会议软件]]，[[差点被骗|已报警|被骗了{small}元]]。",
                    rng, ctx.slots(rng, inst, t, cust) | {"scam": scam})
        drafts.append(ctx.add(Draft(
            t=t, institution=inst, channel=ch, category="fraud", complainant=cust.complainant(rng),
            contacts=organic_contacts(rng, pop, cust, ch) + [{"kind": "phone", "value": scam, "role": "unknown"}],
            text=text, demands=["other"], label=spec_id)))
    return decoy_truth(spec_id, "impersonation", drafts, "victims reporting the same scam caller number")


HARD_CAMPAIGNS: dict[str, Callable[..., dict]] = {
    "forged_certificates": forged_certificates, "fanout": fanout, "repeat_pressure": repeat_pressure,
    "impersonation_calls": impersonation_calls,
}
HARD_DECOYS: dict[str, Callable[..., dict]] = {
    "legal_aid": legal_aid, "branch_landline": branch_landline, "product_victims": product_victims,
    "fee_policy": fee_policy, "impersonation": impersonation,
}
