"""Scenario profiles: a profile is *only* parameters.

Campaigns and decoys are listed as ``GeneratorSpec(kind, id, params)`` and
resolved against generator registries at run time, so a harder profile is a
new parameter set that may name extra generator kinds -- no change to the
orchestration code. Unknown parameters are rejected by the generators
(they take keyword arguments), which catches typos in profiles early.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["InstitutionSpec", "GeneratorSpec", "Profile", "PROFILES"]


@dataclass(frozen=True, slots=True)
class InstitutionSpec:
    """A receiving institution. ``share`` is its fraction of organic volume;
    ``kind`` ('bank' / 'cfc') selects wording (贵行 vs 贵司) and products."""

    name: str
    display: str
    kind: str
    share: float


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    """One campaign or decoy: ``kind`` names a registered generator, ``id`` is its truth id."""

    kind: str
    id: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Profile:
    """All knobs of one scenario."""

    name: str
    days: int
    weekday_rate: float  # organic complaints per weekday, all institutions together
    institutions: tuple[InstitutionSpec, ...]
    campaigns: tuple[GeneratorSpec, ...]
    decoys: tuple[GeneratorSpec, ...]
    start: str = "2024-03-04T00:00:00+08:00"  # a Monday
    weekend_factor: float = 0.55
    category_mix: tuple[tuple[str, float], ...] = (
        ("collection", 0.30), ("interest_fees", 0.18), ("service", 0.24), ("credit_report", 0.10),
        ("hardship_relief", 0.08), ("fraud", 0.05), ("other", 0.05),
    )
    channel_mix: tuple[tuple[str, float], ...] = (
        ("hotline", 0.50), ("app", 0.15), ("letter", 0.05), ("email", 0.04), ("branch", 0.08),
        ("regulator", 0.11), ("social", 0.06), ("other", 0.01),
    )
    p_repeat: float = 0.03  # organic complainant complains a second time
    p_family_rep: float = 0.006  # a relative's phone acts for the customer
    p_lawyer: float = 0.004  # a lawyer represents the customer
    p_english: float = 0.02
    p_generic_hotline: float = 0.10  # share of hotline summaries that are boilerplate
    p_hotline_no_text: float = 0.18


_INST5 = (
    InstitutionSpec("bank-a", "A银行", "bank", 0.36),
    InstitutionSpec("bank-b", "B银行", "bank", 0.24),
    InstitutionSpec("bank-c", "C银行", "bank", 0.16),
    InstitutionSpec("cfc-d", "D消费金融", "cfc", 0.14),
    InstitutionSpec("cfc-e", "E消费金融", "cfc", 0.10),
)

#: The held-out feed adds a rural commercial bank and reshuffles shares.
_INST6 = (
    InstitutionSpec("bank-a", "A银行", "bank", 0.30),
    InstitutionSpec("bank-b", "B银行", "bank", 0.22),
    InstitutionSpec("bank-c", "C银行", "bank", 0.14),
    InstitutionSpec("cfc-d", "D消费金融", "cfc", 0.12),
    InstitutionSpec("cfc-e", "E消费金融", "cfc", 0.10),
    InstitutionSpec("bank-f", "F农商银行", "bank", 0.12),
)

PROFILES: dict[str, Profile] = {
    "small": Profile(
        name="small", days=3, weekday_rate=1250.0, institutions=_INST5[:4],
        campaigns=(
            GeneratorSpec("agency_letters", "agency-1", {
                "template": "stop_interest", "n_debtors": 26, "first_day": 0, "n_days": 3,
                "institutions": ("bank-a", "bank-b", "cfc-d"), "n_phones": 2, "shared_address": True,
                "medical": False}),
            GeneratorSpec("covert_template", "covert-1", {
                "per_day": (3, 5), "first_day": 0, "n_days": 3}),
        ),
        decoys=(
            GeneratorSpec("app_outage", "outage-1", {"institution": "bank-b", "day": 1, "start_hour": 10.2,
                                                      "hours": 2.5, "n": 140}),
            GeneratorSpec("generic_hotline", "generic-1", {"text": "客户来电查询还款金额", "per_day": 30}),
            GeneratorSpec("shared_address", "couple-1", {}),
            GeneratorSpec("shared_address", "couple-2", {"share_phone": True}),
        ),
    ),
    "default": Profile(
        name="default", days=12, weekday_rate=1650.0, institutions=_INST5,
        campaigns=(
            GeneratorSpec("agency_letters", "agency-1", {
                "template": "stop_interest", "n_debtors": 46, "first_day": 1, "n_days": 5,
                "institutions": ("bank-a", "bank-b", "cfc-d", "cfc-e"), "n_phones": 3, "shared_address": True,
                "medical": False}),
            GeneratorSpec("agency_letters", "agency-2", {
                "template": "medical_relief", "n_debtors": 24, "first_day": 7, "n_days": 4,
                "institutions": ("bank-c", "cfc-d"), "n_phones": 1, "shared_address": False,
                "medical": True}),
            GeneratorSpec("covert_template", "covert-1", {"per_day": (2, 6), "first_day": 2, "n_days": 8}),
        ),
        decoys=(
            GeneratorSpec("app_outage", "outage-1", {"institution": "bank-a", "day": 3, "start_hour": 9.6,
                                                      "hours": 3.0, "n": 260}),
            GeneratorSpec("generic_hotline", "generic-1", {"text": "客户来电查询还款金额", "per_day": 35}),
            GeneratorSpec("shared_address", "couple-1", {}),
            GeneratorSpec("shared_address", "couple-2", {"share_phone": True}),
            GeneratorSpec("shared_address", "couple-3", {}),
        ),
    ),
    "hard": Profile(
        name="hard", days=14, weekday_rate=1650.0, institutions=_INST5,
        campaigns=(
            # a low-rate agency: few letters a day over two weeks, more paraphrase, phones often labelled self
            GeneratorSpec("agency_letters", "agency-slow", {
                "template": "stop_interest", "n_debtors": 22, "first_day": 1, "n_days": 12,
                "institutions": ("bank-a", "bank-c", "cfc-d", "cfc-e"), "n_phones": 3, "shared_address": False,
                "medical": False, "p_swap": 0.25, "p_self_label": 0.45, "p_repeat": 0.25}),
            GeneratorSpec("covert_template", "covert-1", {
                "per_day": (1, 3), "first_day": 1, "n_days": 12, "p_swap": 0.6, "p_reorder": 0.85,
                "p_filler": 0.4, "max_typos": 4}),
            GeneratorSpec("forged_certificates", "certs-1", {"n": 26, "first_day": 4, "n_days": 5}),
            GeneratorSpec("fanout", "fanout-1", {"n_debtors": 8, "first_day": 6, "n_days": 4}),
            GeneratorSpec("repeat_pressure", "repeat-1", {"n_debtors": 5, "first_day": 2}),
            # one phone calls hotlines for many debtors posing as a spouse / relative
            GeneratorSpec("impersonation_calls", "calls-1", {
                "n_debtors": 22, "first_day": 3, "n_days": 5, "institutions": ("bank-a", "bank-b", "cfc-d", "cfc-e"),
                "p_self_label": 0.4}),
        ),
        decoys=(
            GeneratorSpec("app_outage", "outage-1", {"institution": "bank-a", "day": 3, "start_hour": 9.6,
                                                      "hours": 3.0, "n": 260}),
            GeneratorSpec("app_outage", "outage-2", {"institution": "cfc-d", "day": 9, "start_hour": 19.5,
                                                      "hours": 2.0, "n": 120}),
            GeneratorSpec("generic_hotline", "generic-1", {"text": "客户来电查询还款金额", "per_day": 35}),
            GeneratorSpec("shared_address", "couple-1", {}),
            GeneratorSpec("shared_address", "couple-2", {"share_phone": True}),
            GeneratorSpec("shared_address", "couple-3", {"share_phone": True}),
            GeneratorSpec("shared_address", "couple-4", {}),
            GeneratorSpec("legal_aid", "legal-aid-1", {"n_clients": 4}),
            GeneratorSpec("legal_aid", "legal-aid-2", {"n_clients": 3}),
            GeneratorSpec("branch_landline", "landline-1", {"institution": "bank-b", "per_day": 1.5}),
            GeneratorSpec("product_victims", "product-1", {"institution": "bank-c", "n": 45, "day": 5}),
            GeneratorSpec("fee_policy", "fee-1", {"institution": "bank-b", "n": 180, "first_day": 7, "n_days": 4}),
            GeneratorSpec("impersonation", "scam-1", {"n": 30, "first_day": 2, "n_days": 6}),
        ),
    ),
    # Held out: measure generalisation, never tune on it (see docs/holdout.md). Generators and wording
    # live in holdout.py / holdout_decoys.py / holdout_texts.py and are used by no other profile.
    "holdout": Profile(
        name="holdout", days=21, weekday_rate=1450.0, institutions=_INST6, start="2024-09-11T00:00:00+08:00",
        weekend_factor=0.6, p_english=0.03,
        category_mix=(("collection", 0.27), ("interest_fees", 0.20), ("service", 0.26), ("credit_report", 0.11),
                      ("hardship_relief", 0.07), ("fraud", 0.05), ("other", 0.04)),
        channel_mix=(("hotline", 0.46), ("app", 0.20), ("letter", 0.04), ("email", 0.04), ("branch", 0.07),
                     ("regulator", 0.12), ("social", 0.06), ("other", 0.01)),
        campaigns=(
            GeneratorSpec("drip_agency", "drip-1", {
                "per_day": (1, 2), "first_day": 0, "n_days": 21, "institutions": ("bank-a", "bank-c", "cfc-d", "bank-f")}),
            GeneratorSpec("burst_agency", "burst-1", {"n": 20, "day": 9, "institutions": ("bank-b", "cfc-e", "bank-a")}),
            GeneratorSpec("multichannel_agency", "multi-1", {
                "n_debtors": 14, "first_day": 4, "n_days": 7, "institutions": ("bank-b", "bank-f")}),
            GeneratorSpec("english_agency", "english-1", {
                "n_debtors": 12, "first_day": 13, "n_days": 6, "institutions": ("bank-a", "bank-b", "cfc-d")}),
            GeneratorSpec("repair_paraphrase", "repair-1", {"per_day": (1, 3), "first_day": 6, "n_days": 12}),
        ),
        decoys=(
            GeneratorSpec("login_outage", "outage-login", {"institution": "bank-b", "day": 5, "start_hour": 19.7,
                                                            "hours": 2.5, "n": 240}),
            GeneratorSpec("fee_change_wave", "fee-wave", {"institution": "bank-c", "n": 220, "first_day": 10,
                                                          "n_days": 5, "fee_new": "借记卡年费", "fee_amount": 10}),
            GeneratorSpec("branch_closure", "branch-close", {"institution": "bank-f", "n": 80, "first_day": 14,
                                                             "n_days": 6}),
            GeneratorSpec("self_help_template", "selfhelp-1", {"per_day": 2.0}),
            GeneratorSpec("generic_hotline", "generic-1", {"text": "客户来电查询分期账单", "per_day": 30}),
            GeneratorSpec("shared_address", "couple-1", {}),
            GeneratorSpec("shared_address", "couple-2", {"share_phone": True}),
            GeneratorSpec("legal_aid", "legal-aid-1", {"n_clients": 4}),
        ),
    ),
}
