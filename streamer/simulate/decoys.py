"""Decoys: legitimate patterns that look suspicious and must NOT be alerted.

* ``app_outage`` -- a real surge: hundreds of diverse service complaints at one
  institution within hours. Volume spikes, but texts are diverse, contacts are
  the complainants' own, nobody is represented.
* ``generic_hotline`` -- one boilerplate agent summary typed for unrelated
  callers all day, every day: identical text, but steady and uncoordinated.
* ``shared_address`` -- a couple at one address (sometimes one landline-like
  shared mobile): a contact reused by exactly two people.

Organic family representatives and lawyers are reported in truth too (type
``family_representative`` / ``lawyer``) for diagnosing false positives.
"""
from __future__ import annotations

from collections.abc import Callable

from streamer.simulate.clock import HOUR, DAY, EVENING_HEAVY_WEIGHTS, HOURLY_WEIGHTS, sample_time_in_day
from streamer.simulate.draft import Context, Draft
from streamer.simulate.grammar import fill
from streamer.simulate.organic import organic_contacts, organic_demands_amount
from streamer.simulate.texts import organic_text

__all__ = ["app_outage", "generic_hotline", "shared_address", "decoy_truth", "DECOY_GENERATORS"]

_OUTAGE_APP = (
    "[[手机银行|APP|掌上银行|手机APP|网银]][[从{hh}点开始|刚才|今天上午|半小时前|一直|到现在还]][[登录不上|闪退|转账失败|提示系统繁忙|无法还款|打不开|收不到验证码|白屏|卡在加载页面|显示网络异常]]",
    "[[转账|还款|缴费|付款|扫码支付]][[一直失败|提示交易异常|转圈圈|扣了钱没到账|显示处理中]]，[[用的是|在]][[手机银行|APP|你们的APP]]",
    "[[你们|贵行|银行]][[系统|APP|服务器]][[是不是崩了|怎么回事|又出问题了|瘫痪了吗]]？[[登录|转账|查账单]][[都不行|一直报错|没反应]]",
)
_OUTAGE_CONSEQUENCE = (
    "", "[[耽误了|影响了|导致没法]][[还信用卡|交房租|给员工发工资|缴费|付货款|还房贷|转账给家人|交学费]]",
    "[[今天是|明天就是]]还款日，[[逾期了算谁的|不能因此算我逾期|罚息谁承担]]", "[[客服电话|热线]]也[[打不通|一直占线|排队几百人]]",
    "[[等了一上午|试了十几次|重装了也不行|换了网络也不行]]",
)
_OUTAGE_TAIL = ("", "", "！", "。[[请尽快修复|尽快处理|给个说法|什么时候能好？|太耽误事了]]", "，[[太差劲了|无语|气死了]]。")
_OUTAGE_HOTLINE = (
    "[[客户来电反映|客户来电称|来电人反映|客户致电反映]][[手机银行|APP|网银]][[无法登录|转账失败|闪退|提示系统繁忙|交易异常]][[，|，已告知系统故障正在处理，|，要求尽快恢复，|，已致歉，]][[客户不满|要求补偿|要求回电|情绪激动|已安抚]]。",
)


def decoy_truth(spec_id: str, kind: str, drafts: list[Draft], notes: str, **extra: object) -> dict:
    return {"id": spec_id, "type": kind, "event_ids": drafts, "notes": notes,
            "institutions": sorted({d.institution for d in drafts}), **extra}


def app_outage(ctx: Context, spec_id: str, *, institution: str, day: int, start_hour: float, hours: float, n: int) -> dict:
    """``n`` diverse service complaints at one institution within a few hours."""
    rng = ctx.rng(f"decoy:{spec_id}")
    pop = ctx.population(f"decoy:{spec_id}")
    t0 = day * DAY + int(start_hour * HOUR)
    span = int(hours * HOUR)
    drafts = []
    for _ in range(n):
        # front-loaded: most complaints arrive early in the outage
        t = ctx.clamp(t0 + int(span * rng.random() ** 1.6))
        cust = pop.customer()
        channel = "app" if rng.random() < 0.55 else ("hotline" if rng.random() < 0.85 else "social")
        slots = ctx.slots(rng, institution, t, cust)
        slots["hh"] = int(start_hour)
        if channel == "hotline":
            text = fill(_OUTAGE_HOTLINE[0], rng, slots) if rng.random() < 0.9 else None
        else:
            pieces = [rng.choice(_OUTAGE_APP), rng.choice(_OUTAGE_CONSEQUENCE)]
            if rng.random() < 0.3:
                pieces.reverse()
            text = fill("，".join(p for p in pieces if p) + rng.choice(_OUTAGE_TAIL), rng, slots)
            if channel == "social":
                text = fill("@{inst_cn} ", rng, slots) + text
        drafts.append(ctx.add(Draft(
            t=t, institution=institution, channel=channel, category="service",
            complainant=cust.complainant(rng), contacts=organic_contacts(rng, pop, cust, channel), text=text,
            demands=["other"] if rng.random() < 0.6 else ["compensation"], label=spec_id)))
    return decoy_truth(spec_id, "app_outage", drafts, f"{n} diverse service complaints in {hours:g} h at {institution}")


def generic_hotline(ctx: Context, spec_id: str, *, text: str, per_day: float) -> dict:
    """The same boilerplate summary for unrelated callers at a steady rate."""
    rng = ctx.rng(f"decoy:{spec_id}")
    pop = ctx.population(f"decoy:{spec_id}")
    names = list(ctx.institutions)
    weights = [i.share for i in ctx.institutions.values()]
    drafts = []
    for day in range(ctx.profile.days):
        for _ in range(max(0, round(rng.gauss(per_day, per_day ** 0.5)))):
            t = sample_time_in_day(rng, day, HOURLY_WEIGHTS)
            cust = pop.customer()
            drafts.append(ctx.add(Draft(
                t=t, institution=rng.choices(names, weights=weights)[0], channel="hotline",
                category="interest_fees" if rng.random() < 0.3 else "other",
                complainant=cust.complainant(rng), contacts=organic_contacts(rng, pop, cust, "hotline"),
                text=text, label=spec_id)))
    return decoy_truth(spec_id, "generic_hotline", drafts, f"identical summary {text!r} from unrelated callers, ~{per_day:g}/day")


def shared_address(ctx: Context, spec_id: str, *, share_phone: bool = False, n_each: tuple[int, int] = (1, 3)) -> dict:
    """Two spouses at one address, each complaining once or a few times."""
    rng = ctx.rng(f"decoy:{spec_id}")
    pop = ctx.population(f"decoy:{spec_id}")
    a, b = pop.customer(age_range=(30, 60)), pop.customer(age_range=(30, 60))
    b.region, b.city = a.region, a.city
    a.address = b.address = pop.address()
    if share_phone:
        b.phone = a.phone  # the household's one number
    drafts = []
    names = list(ctx.institutions)
    for cust in (a, b):
        inst = rng.choice(names)
        for _ in range(rng.randint(*n_each)):
            t = sample_time_in_day(rng, rng.randrange(ctx.profile.days), EVENING_HEAVY_WEIGHTS)
            channel = rng.choice(("letter", "hotline", "app", "email", "branch"))
            category = rng.choice(("collection", "interest_fees", "service", "hardship_relief"))
            contacts = [{"kind": "phone", "value": cust.phone, "role": "self"},
                        {"kind": "address", "value": cust.address, "role": "self"}]
            slots = ctx.slots(rng, inst, t, cust)
            text = organic_text(rng, channel, category, slots, p_english=0.0, p_generic=0.05, p_no_text=0.1)
            demands, amount = organic_demands_amount(rng, category, channel)
            drafts.append(ctx.add(Draft(t=t, institution=inst, channel=channel, category=category,
                                        complainant=cust.complainant(rng), contacts=contacts, text=text,
                                        demands=demands, amount=amount, label=spec_id)))
    return decoy_truth(spec_id, "shared_address", drafts,
                  "married couple sharing an address" + (" and a phone" if share_phone else ""))


DECOY_GENERATORS: dict[str, Callable[..., dict]] = {
    "app_outage": app_outage,
    "generic_hotline": generic_hotline,
    "shared_address": shared_address,
}
