"""Labelled campaigns: what the detectors are supposed to find.

``agency_letters`` -- a 代理投诉 / 停息挂账 agency files one letter template
for many debtors, fans out to several institutions, reuses its own phones,
representative name and office address, and sometimes attaches certificates
from one (forged) hospital. Letters are >90 % identical: only name, amount,
product, dates and a few synonym swaps / optional sentences vary.

``covert_template`` -- a quieter operation: no shared contact at all (each
debtor gives only an own phone), a trickle of 2-6 letters a day across all
institutions, heavily paraphrased (synonyms, reordered sentences, filler,
typos). Only the text gives it away.

Generators take ``(ctx, spec_id, **params)`` and return a truth entry; they are
registered in ``CAMPAIGN_GENERATORS`` so profiles can name them.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from streamer.simulate.clock import DAY, is_weekend, iso, working_time
from streamer.simulate.draft import Context, Draft, owed_amount, sha256_hex
from streamer.simulate.grammar import Sentence, add_typos, render_template
from streamer.simulate.population import HOSPITALS, Customer

__all__ = ["TEMPLATES", "agency_letters", "covert_template", "CAMPAIGN_GENERATORS", "truth_entry"]

S = Sentence

#: Agency letter templates. Canonical wording first in every ``[[..]]`` site.
TEMPLATES: dict[str, tuple[Sentence, ...]] = {
    "stop_interest": (
        S("尊敬的{inst_cn}[[领导|负责人]]："),
        S("本人{name}，系贵{unit}{product}[[客户|借款人]]，[[因{illness}|由于{illness}]]，[[目前已完全丧失还款能力|现已丧失还款能力]]，[[并非恶意拖欠|绝非恶意逃废债务]]。"),
        S("近期贵{unit}[[委托的|外包的]]催收人员多次以爆通讯录、[[上门|恐吓]]等方式[[骚扰|滋扰]]本人及家人，严重影响本人正常生活及身体康复。"),
        S("上述行为已违反《商业银行信用卡业务监督管理办法》及《[[银行业金融机构外包风险管理指引|互联网金融逾期债务催收自律公约]]》相关规定。"),
        S("本人已附[[医院诊断证明|相关证明材料]]，请贵{unit}予以核实。", p_keep=0.5),
        S("根据相关规定，本人现正式申请：一、停息挂账，停止计收利息、罚息及违约金；二、将剩余本金{amount}元分{periods}期偿还；三、[[立即停止|停止]]一切催收行为。"),
        S("本人愿意在能力范围内[[积极|诚意]]还款，望贵{unit}[[体谅|酌情考虑]]。", p_keep=0.4),
        S("如贵{unit}在{days}个工作日内[[不予处理|未予答复]]，本人将向国家金融监督管理总局及当地金融监管局[[反映|投诉]]，由此产生的一切后果由贵{unit}承担。"),
        S("申请人：{name}\n{date}"),
    ),
    "medical_relief": (
        S("致{inst_cn}："),
        S("我是{name}，在贵{unit}办理的{product}目前尚欠本金{amount}元。"),
        S("{month}月[[本人|我]]{illness}，[[长期|一直]]在院治疗，已花光全部积蓄，[[家庭陷入困境|生活难以为继]]，现附{hospital}诊断证明。"),
        S("依据《民法典》第五百三十三条情势变更原则及监管部门关于[[困难客户|受困群体]]帮扶的要求，贵{unit}应当给予[[合理|必要]]的还款安排。"),
        S("现申请：减免全部罚息、复利及违约金，本金分{periods}期[[偿还|归还]]，停止一切[[催收|电话催收]]及上门行为，并不得上报不良征信。"),
        S("本人已委托代理人全权处理此事，请勿再联系本人及家属。", p_keep=0.7),
        S("请于{days}日内书面答复，逾期未复视为同意。"),
        S("申请人：{name}  {date}"),
    ),
}

#: Covert credit-repair template: many alternatives per site, movable middle sentences.
COVERT: tuple[Sentence, ...] = (
    S("本人{name}，[[在贵{unit}办理的|于贵{unit}申请的|名下贵{unit}的]]{product}[[因|由于|受]][[疫情期间收入中断|疫情影响收入骤减|前期疫情导致收入下降]][[导致|造成|产生了]][[逾期|逾期记录|几期逾期]]。"),
    S("[[该逾期|这次逾期|此次逾期]][[并非本人主观恶意|不是我故意的|并非主观故意拖欠]]，[[本人|我]][[一直有还款意愿|始终积极还款|也一直在想办法还款]]。", movable=True),
    S("[[根据|按照|依据]][[银保监会|监管部门|人民银行]][[相关文件精神|有关通知要求|相关政策]]，[[对受疫情影响的客户|受疫情影响暂时失去收入的人群]][[不应报送逾期记录|可以不报送不良信息|应给予征信保护]]。", movable=True),
    S("[[本人|我]][[已多次|之前多次|反复]][[与贵{unit}协商|联系贵{unit}客服|致电贵{unit}]][[未果|均无结果|没有得到解决]]。", movable=True),
    S("[[这条记录|该不良记录|征信上的逾期]][[严重影响了|已经影响到]][[本人|我]]的[[贷款申请|工作和生活|房贷审批]]。", p_keep=0.6, movable=True),
    S("[[现要求|现申请|恳请]]贵{unit}[[撤销|删除|消除]][[本人|我]]征信[[上的|报告中的]]逾期记录，并[[减免|免除|退还]]逾期期间[[产生的|收取的]][[全部罚息|罚息和违约金|所有罚息]]。"),
    S("[[望贵{unit}依法依规处理|希望贵{unit}尽快处理|请贵{unit}予以支持]]，[[否则|不然|如不处理]][[本人|我]]将[[通过法律途径|向监管部门|向人民银行征信中心]][[维护自身合法权益|投诉|提出异议]]。"),
)

_ILLNESSES = ("突发重症住院治疗", "确诊重度抑郁症", "突发脑梗住院", "确诊乳腺癌", "患尿毒症需长期透析",
              "车祸导致腰椎骨折", "确诊白血病", "患重度焦虑症无法工作")
_AGENCY_CHANNELS = (("letter", 0.45), ("regulator", 0.25), ("email", 0.2), ("app", 0.1))
_COVERT_CHANNELS = (("letter", 0.35), ("email", 0.25), ("regulator", 0.25), ("app", 0.15))


def _choice_w(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _office_time(ctx: Context, rng: random.Random, day: int) -> int:
    """Office-hours time on ``day``, moved to the next working day on weekends."""
    while is_weekend(ctx.start, day) and day + 1 < ctx.profile.days:
        day += 1
    return ctx.clamp(working_time(rng, day))


def truth_entry(ctx: Context, spec_id: str, kind: str, drafts: list[Draft], notes: str, **extra: Any) -> dict:
    ts = sorted(d.t for d in drafts)
    entry = {"id": spec_id, "type": kind, "event_ids": drafts, "start": iso(ctx.start, ts[0]) if ts else None,
             "end": iso(ctx.start, ts[-1]) if ts else None, "notes": notes,
             "institutions": sorted({d.institution for d in drafts}),
             "n_complainants": len({d.complainant["id"] for d in drafts})}
    entry.update(extra)
    return entry


def agency_letters(ctx: Context, spec_id: str, *, template: str, n_debtors: int, first_day: int, n_days: int,
                   institutions: tuple[str, ...], n_phones: int = 2, shared_address: bool = False,
                   medical: bool = False, p_swap: float = 0.06, p_self_label: float = 0.2,
                   p_repeat: float = 0.15) -> dict:
    """An agency filing near-identical letters for ``n_debtors`` debtors at several institutions."""
    rng = ctx.rng(f"campaign:{spec_id}")
    pop = ctx.population(f"campaign:{spec_id}")
    last = min(ctx.profile.days, first_day + n_days)
    phones = [pop.agency_phone() for _ in range(n_phones)]
    rep_name = pop.masked_name(rng.choice(("某", "某", "经理", "老师", "主任")))
    region = pop.region()
    office = pop.office_address(region) if shared_address else None
    org = f"{region[2][:-1]}{rng.choice(('安信', '融达', '诚和', '汇通', '普惠'))}{rng.choice(('法务咨询', '债务咨询', '信息咨询'))}有限公司"
    hospital = rng.choice(HOSPITALS)
    forged_hashes = [sha256_hex(rng) for _ in range(3)]  # the same forged scans get reused
    illness_pool = rng.sample(_ILLNESSES, 3)
    sentences = TEMPLATES[template]
    drafts: list[Draft] = []
    # batch times: the agency mails / uploads in a few sessions per day
    for i in range(n_debtors):
        cust: Customer = pop.customer(age_range=(21, 38) if rng.random() < 0.8 else (39, 55))
        amount = owed_amount(rng, 45000, 0.7)
        illness = illness_pool[rng.randrange(len(illness_pool))]
        k = 1 + (rng.random() < 0.55) + (rng.random() < 0.25)
        targets = [institutions[i % len(institutions)]] + rng.sample(institutions, len(institutions))
        targets = list(dict.fromkeys(targets))[:k]
        day0 = first_day + rng.randrange(max(1, last - first_day))
        for j, inst in enumerate(targets):
            day = min(last - 1, day0 + (rng.random() < 0.3) * j)
            t = _office_time(ctx, rng, day)
            slots = ctx.slots(rng, inst, t, cust)
            slots.update(illness=illness, amount=amount, days=rng.choice((7, 10, 15)) if j == 0 else 15,
                         hospital=hospital)
            text = render_template(sentences, rng, slots, p_swap=p_swap)
            phone = phones[(i + j) % len(phones)] if rng.random() < 0.8 else phones[0]
            role = "self" if rng.random() < p_self_label else _choice_w(rng, (("representative", 0.7), ("unknown", 0.3)))
            contacts = [{"kind": "phone", "value": phone, "role": role}]
            if rng.random() < 0.35:
                contacts.insert(0, {"kind": "phone", "value": cust.phone, "role": "self"})
            if rng.random() < 0.85:
                contacts.append({"kind": "representative", "value": rep_name, "role": "representative"})
            if office and rng.random() < 0.7:
                contacts.append({"kind": "address", "value": office, "role": rng.choice(("representative", "unknown", "self"))})
            if rng.random() < 0.25:
                contacts.append({"kind": "organization", "value": org, "role": "representative"})
            attachments = []
            if medical or rng.random() < 0.15:
                attachments.append({"kind": "medical_certificate", "issuer": hospital,
                                    "seal_text": f"{hospital}诊断证明专用章",
                                    "sha256": forged_hashes[rng.randrange(3)] if rng.random() < 0.4 else sha256_hex(rng)})
            if rng.random() < 0.5:
                attachments.append({"kind": "authorization", "issuer": org, "seal_text": f"{org}合同专用章"})
            demands = (["stop_interest", "installments", "waive_fees", "stop_collection"] if template == "stop_interest"
                       else ["waive_fees", "installments", "stop_collection", "credit_repair"])
            d = ctx.add(Draft(t=t, institution=inst, channel=_choice_w(rng, _AGENCY_CHANNELS),
                              category="collection" if rng.random() < 0.7 else "interest_fees",
                              complainant=cust.complainant(rng), contacts=contacts, text=text,
                              demands=demands, amount=amount, attachments=attachments, label=spec_id))
            drafts.append(d)
            # repeat pressure: the same letter again a few days later
            if rng.random() < p_repeat and d.t + 2 * DAY < ctx.horizon:
                t2 = _office_time(ctx, rng, d.t // DAY + rng.randrange(2, 5))
                if t2 > d.t:
                    drafts.append(ctx.add(Draft(
                        t=t2, institution=inst, channel=d.channel, category=d.category,
                        complainant=dict(d.complainant), contacts=list(d.contacts),
                        text="再次申请：" + text, demands=list(demands), amount=amount,
                        attachments=list(attachments), repeat_of=d, label=spec_id)))
    return truth_entry(ctx, spec_id, "agency_letters", drafts,
                       f"template {template!r}; {n_debtors} debtors; shared phones, representative name"
                       + (", office address" if office else "") + (", forged certificates" if medical else ""),
                       shared_contacts={"phones": phones, "representative": rep_name, "address": office,
                                        "organization": org},
                       hospital=hospital if medical else None)


def covert_template(ctx: Context, spec_id: str, *, per_day: tuple[int, int], first_day: int, n_days: int,
                    institutions: tuple[str, ...] | None = None, p_swap: float = 0.45, p_reorder: float = 0.6,
                    p_filler: float = 0.25, max_typos: int = 3) -> dict:
    """A low-rate, paraphrased credit-repair template with no shared contact points."""
    rng = ctx.rng(f"campaign:{spec_id}")
    pop = ctx.population(f"campaign:{spec_id}")
    insts = list(institutions or ctx.institutions)
    last = min(ctx.profile.days, first_day + n_days)
    drafts: list[Draft] = []
    i = 0
    for day in range(first_day, last):
        for _ in range(rng.randint(*per_day)):
            inst = insts[i % len(insts)] if i < len(insts) else rng.choice(insts)
            i += 1
            cust = pop.customer(age_range=(23, 45))
            t = ctx.clamp(working_time(rng, day, 8.5, 21.0))
            slots = ctx.slots(rng, inst, t, cust)
            text = render_template(COVERT, rng, slots, p_swap=p_swap, p_reorder=p_reorder, p_filler=p_filler)
            text = add_typos(text, rng, rng.randrange(max_typos + 1))
            ch = _choice_w(rng, _COVERT_CHANNELS)
            contacts = [{"kind": "phone", "value": cust.phone, "role": "self"}]
            if ch == "email":
                contacts.append({"kind": "email", "value": cust.email or pop.email(), "role": "self"})
            drafts.append(ctx.add(Draft(
                t=t, institution=inst, channel=ch, category="credit_report",
                complainant=cust.complainant(rng), contacts=contacts, text=text,
                demands=["credit_repair", "waive_fees"] if rng.random() < 0.7 else ["credit_repair"],
                amount=owed_amount(rng, 20000, 0.8) if rng.random() < 0.5 else None, label=spec_id)))
    return truth_entry(ctx, spec_id, "covert_template", drafts,
                       "credit-repair template, no shared contacts, paraphrased (synonyms, reorder, filler, typos)")


CAMPAIGN_GENERATORS: dict[str, Callable[..., dict]] = {
    "agency_letters": agency_letters,
    "covert_template": covert_template,
}
