"""Deterministic crafted event streams for the detector tests (not a test module).

Every builder takes an explicit ``random.Random`` seed and gives explicit event
and complainant ids, so two calls (or two processes) build identical streams.
"""
from __future__ import annotations

import random

from streamer.events import Event
from streamer.testing import make_event

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"

# An agency letter: only name, amount, periods, dates and the institution word vary.
AGENCY_LETTER = (
    "尊敬的{inst}领导：本人{name}，系贵{unit}信用卡客户，因突发重症住院治疗，目前已完全丧失还款能力，并非恶意拖欠。"
    "近期贵{unit}委托的催收人员多次以爆通讯录、上门等方式骚扰本人及家人，严重影响本人正常生活及身体康复。"
    "上述行为已违反《商业银行信用卡业务监督管理办法》相关规定。根据相关规定，本人现正式申请：一、停息挂账，"
    "停止计收利息、罚息及违约金；二、将剩余本金{amount}元分{periods}期偿还；三、立即停止一切催收行为。"
    "如贵{unit}在{days}个工作日内不予处理，本人将向国家金融监督管理总局投诉，由此产生的一切后果由贵{unit}承担。"
    "申请人：{name} {date}"
)

# Pools for diverse genuine texts (an outage surge, organic letters).
_OUTAGE_A = ("手机银行", "APP", "网银", "掌上银行", "手机APP")
_OUTAGE_B = ("登录不上", "闪退", "转账失败", "提示系统繁忙", "打不开", "收不到验证码", "白屏", "显示网络异常")
_OUTAGE_C = ("耽误了还信用卡", "交房租来不及了", "给员工发工资发不了", "货款付不出去", "学费交不了", "今天是还款日",
             "客服电话也打不通", "等了一上午", "试了十几次", "重装了也不行", "换了网络也不行", "太耽误事了")
_ORGANIC = (
    "我上个月已经按时还款，但账单显示逾期，要求核实。", "信用卡年费在未告知的情况下被扣除，要求退还。",
    "催收人员晚上十一点还在打电话，影响家人休息。", "分期手续费计算与宣传不一致，希望给出明细。",
    "网点工作人员态度恶劣，排队两个小时无人处理。", "征信报告出现一笔我不认识的贷款记录，要求调查。",
    "理财产品赎回一直未到账，客服无法给出答复。", "转账被风控冻结，提交材料后仍未解冻。",
    "我的账户被莫名开通了短信服务并收费。", "贷款提前还款被收取高额违约金，合同里没有约定。",
    "App 里的优惠活动不兑现，客服推诿。", "房贷利率调整后月供没有变化，要求解释。",
)


def name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def agency_letter(rng: random.Random, inst: str) -> str:
    unit = "行" if inst.startswith("bank") else "司"
    return AGENCY_LETTER.format(
        inst="A银行" if inst.startswith("bank") else "D消费金融", unit=unit, name=name(rng),
        amount=rng.randrange(8000, 90000), periods=rng.choice((24, 36, 48, 60)), days=rng.choice((7, 10, 15)),
        date=f"2024年3月{rng.randrange(1, 28)}日",
    )


def outage_text(rng: random.Random) -> str:
    return f"{rng.choice(_OUTAGE_A)}从{rng.randrange(8, 12)}点开始{rng.choice(_OUTAGE_B)}，{rng.choice(_OUTAGE_C)}，{rng.choice(_OUTAGE_C)}！"


def organic_letter(rng: random.Random) -> str:
    parts = rng.sample(_ORGANIC, 3)
    return f"我是{name(rng)}，{rng.randrange(2015, 2024)}年开户。" + "".join(parts) + f"金额{rng.randrange(100, 50000)}元。"


def ev(eid: str, hours: float, cust: str, *, inst: str = "bank-a", contacts=None, text: str | None = None,
       channel: str = "letter", category: str = "collection", attachments=None) -> Event:
    extra = {"attachments": attachments} if attachments else {}
    return make_event(event_id=eid, ts=hours, complainant=cust, institution=inst, contacts=contacts, text=text,
                      channel=channel, category=category, **extra)


def forged_certificate(tag: str) -> list[dict]:
    """The agency's forged diagnosis certificate: one county hospital, a fresh scan per debtor."""
    import hashlib
    return [{"kind": "medical_certificate", "issuer": "某县人民医院", "seal_text": "某县人民医院诊断证明专用章",
             "sha256": hashlib.sha256(tag.encode()).hexdigest()}]


def organic_stream(rng: random.Random, n: int, *, start_h: float = 0.0, span_h: float = 24.0 * 10,
                   prefix: str = "org") -> list[Event]:
    """Genuine complaints: own phones, diverse texts, a few short hotline summaries."""
    out = []
    for i in range(n):
        h = start_h + span_h * i / n
        cust = f"{prefix}-C{i:06d}"
        phone = f"139{rng.randrange(10**8):08d}"
        r = rng.random()
        if r < 0.4:
            text, ch = "客户来电查询还款金额", "hotline"
        elif r < 0.7:
            text, ch = organic_letter(rng), "letter"
        else:
            text, ch = outage_text(rng), "app"
        out.append(ev(f"{prefix}-{i:06d}", h, cust, inst=rng.choice(("bank-a", "bank-b", "cfc-d")),
                      contacts=[("phone", phone, "self")], text=text, channel=ch))
    return out


def agency_stream(rng: random.Random, n_debtors: int, *, start_h: float, per_day: float = 6.0,
                  phone: str = "17300000001", role: str = "representative", prefix: str = "ag",
                  fanout: int = 4) -> list[Event]:
    """An agency: one phone and one letter template for ``n_debtors`` debtors across institutions."""
    out = []
    insts = ("bank-a", "bank-b", "cfc-d", "cfc-e")
    for i in range(n_debtors):
        h = start_h + i * 24.0 / per_day
        inst = insts[i % len(insts)]
        own = f"138{rng.randrange(10**8):08d}"
        out.append(ev(f"{prefix}-{i:05d}", h, f"{prefix}-C{i:05d}", inst=inst,
                      contacts=[("phone", own, "self"), ("phone", phone, role), ("representative", "刘某", "representative")],
                      text=agency_letter(rng, inst), attachments=forged_certificate(f"{prefix}-{i:05d}")))
        # every other debtor is also filed at the other institutions within hours (fan-out)
        for j in range(1, fanout if i % 2 == 0 else 1):
            other = insts[(i + j) % len(insts)]
            out.append(ev(f"{prefix}-{i:05d}-{j}", h + 0.5 * j, f"{prefix}-C{i:05d}", inst=other,
                          contacts=[("phone", own, "self"), ("phone", phone, role)], text=agency_letter(rng, other)))
    return out


def merge(*streams: list[Event]) -> list[Event]:
    """Merge streams in event-time order (stable by event id)."""
    return sorted((e for s in streams for e in s), key=lambda e: (e.ts, e.event_id))


_CATEGORIES = ("interest_fees", "credit_report", "hardship_relief", "service", "fraud", "other")


def shift_stream(rng: random.Random, *, inst: str = "bank-z", days: int = 10, per_day: int = 120,
                 shift_day: int = 6, before: float = 0.3, after: float = 0.85, prefix: str = "shift") -> list[Event]:
    """One institution's whole flow, its collection share moving from ``before`` to ``after``
    on ``shift_day``: distinct complainants, no contacts, short hotline texts (a mix shift,
    not a campaign any other detector should see)."""
    out = []
    for i in range(days * per_day):
        h = 24.0 * i / per_day
        share = after if h >= 24.0 * shift_day else before
        cat = "collection" if rng.random() < share else rng.choice(_CATEGORIES)
        out.append(ev(f"{prefix}-{i:05d}", h, f"{prefix}-C{i:05d}", inst=inst, text="客户来电反映问题，已记录。",
                      channel="hotline", category=cat))
    return out


def mixed_stream(seed: int = 7, n_organic: int = 1500, n_debtors: int = 14, shift: bool = True) -> list[Event]:
    """Organic flow over 10 days, one agency campaign starting on day 3 and, at another
    institution, a category-mix shift (collection 30 % -> 85 %) from day 6."""
    rng = random.Random(seed)
    streams = [organic_stream(rng, n_organic), agency_stream(rng, n_debtors, start_h=24 * 3 + 9)]
    if shift:
        streams.append(shift_stream(random.Random(seed + 1)))
    return merge(*streams)
