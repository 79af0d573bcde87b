"""Certificate issuers and seals: normalised names, stable keys, plausibility rules.

Forged hardship evidence gives itself away in its seal more often than in its
wording: a seal that names another organisation than the issuer, an
administrative order no real place has ("某某村某某街道": a village cannot
contain a street office), a seal type that cannot certify a diagnosis
(门诊专用章, 财务专用章), or a village committee issuing a medical
certificate. These rules are deliberately few and each is named in the
evidence, so an analyst can check it; ``issuer_surge`` weighs them.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

#: attachment kind -> issuer class (kinds not listed are ignored)
KIND_CLASS: dict[str, str] = {
    "medical_certificate": "medical",
    "hardship_certificate": "hardship",
    "unemployment_certificate": "unemployment",
    "authorization": "authorization",
}

__all__ = ["KIND_CLASS", "normalise_issuer", "issuer_key", "seal_reasons", "split_seal", "display_name"]


# ---------------------------------------------------------------- normalising


def normalise_issuer(name: str | None) -> str:
    """NFKC, case-folded, with white space, punctuation and symbols removed."""
    if not name:
        return ""
    s = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in s if unicodedata.category(ch)[0] in "LN")


def issuer_key(norm: str, cls: str) -> str:
    """``issuer:<16 hex>:<class>`` -- blake2b of the normalised name (stable, unsalted)."""
    h = hashlib.blake2b(norm.encode("utf-8"), digest_size=8, person=b"sw-issuer-v1").hexdigest()
    return f"issuer:{h}:{cls}"


# Seal-type suffixes, longest first (the seal's organisation is what precedes them).
_SEAL_TYPES = (
    "诊断证明专用章", "疾病证明专用章", "医疗证明专用章", "医学证明专用章", "证明专用章", "医务专用章", "医疗专用章",
    "门诊专用章", "住院专用章", "挂号专用章", "收费专用章", "财务专用章", "发票专用章", "合同专用章", "业务专用章",
    "专用章", "公章", "印章", "之章", "章",
)
_WRONG_TYPES = {
    "medical": frozenset({"门诊专用章", "财务专用章", "收费专用章", "发票专用章", "合同专用章", "挂号专用章"}),
    "hardship": frozenset({"诊断证明专用章", "疾病证明专用章", "医疗证明专用章", "医学证明专用章", "门诊专用章",
                           "住院专用章", "挂号专用章", "收费专用章", "财务专用章", "发票专用章", "合同专用章",
                           "医务专用章", "医疗专用章"}),
    "unemployment": frozenset({"诊断证明专用章", "疾病证明专用章", "医疗证明专用章", "医学证明专用章", "门诊专用章",
                               "住院专用章", "挂号专用章", "收费专用章", "财务专用章", "发票专用章", "医务专用章",
                               "医疗专用章"}),
}
_MEDICAL_WORDS = ("医院", "卫生院", "保健院", "卫生中心", "诊所", "医疗", "卫生服务", "医学", "卫生室", "门诊部", "疾控")
_HOSPITAL_WORDS = ("医院", "卫生院", "保健院", "诊所", "门诊部")
_ORG_SUFFIXES = (  # multi-character only: a two-character personal name must never match
    "医院", "卫生院", "保健院", "中心", "诊所", "卫生室", "门诊部", "委员会", "村委会", "居委会", "办事处", "人民政府",
    "政府", "民政局", "保障局", "管理局", "派出所", "研究所", "公司", "集团", "事务所", "研究院", "学院", "大学", "学校",
    "银行", "协会", "基金会", "社区", "工会",
)

# Words that contain an administrative character without being an administrative unit.
_ADMIN_NEUTRAL = ("村镇银行", "村镇", "乡镇", "城乡", "乡村", "市场", "城市", "超市", "都市", "市民", "市级", "市属",
                  "镇江", "区域", "小区", "新区", "园区", "县城", "县级", "区级", "省立", "省级", "省属", "新村",
                  "镇级", "村级", "村民", "居民")
_ADMIN_RE = re.compile(r"居委会|居民委员会|社区|街道|省|市|州|县|区|乡|镇|村")
_ADMIN_LEVEL = {"省": 1, "市": 2, "州": 2, "县": 3, "区": 3, "乡": 4, "镇": 4, "街道": 4, "村": 5, "社区": 5,
                "居委会": 5, "居民委员会": 5}


def split_seal(seal: str) -> tuple[str, str]:
    """(organisation, seal type) of a normalised seal text."""
    for t in _SEAL_TYPES:
        if seal.endswith(t) and len(seal) > len(t):
            return seal[: -len(t)], t
    return seal, ""


def _admin_reversed(name: str) -> bool:
    for w in _ADMIN_NEUTRAL:
        if w in name:
            name = name.replace(w, "◇" * len(w))
    levels = [_ADMIN_LEVEL[m.group(0)] for m in _ADMIN_RE.finditer(name) if m.start() > 0]
    deepest = 0
    for lv in levels:
        if lv < deepest:
            return True
        deepest = max(deepest, lv)
    return False


def seal_reasons(kind: str, issuer: str | None, seal_text: str | None) -> list[str]:
    """Implausibility codes (sorted) for one certificate; see the module doc."""
    cls = KIND_CLASS.get(kind)
    iss = normalise_issuer(issuer)
    seal = normalise_issuer(seal_text)
    out: set[str] = set()
    org, stype = split_seal(seal) if seal else ("", "")
    if iss and org and org not in iss and iss not in org:
        out.add("seal_issuer_mismatch")
    if (iss and _admin_reversed(iss)) or (org and _admin_reversed(org)):
        out.add("admin_order_reversed")
    if stype and stype in _WRONG_TYPES.get(cls or "", ()):
        out.add("wrong_seal_type")
    if iss and cls == "medical" and not any(w in iss for w in _MEDICAL_WORDS):
        out.add("issuer_kind_mismatch")
    if iss and cls == "hardship" and any(w in iss for w in _HOSPITAL_WORDS):
        out.add("issuer_kind_mismatch")
    return sorted(out)


def display_name(issuer: str | None) -> str | None:
    """The issuer's name for a responder, only if it looks like an organisation."""
    if not issuer:
        return None
    s = "".join(unicodedata.normalize("NFKC", issuer).split())
    if not s or len(s) > 40 or any(ch.isdigit() for ch in s):
        return None
    if not any(s.endswith(x) for x in _ORG_SUFFIXES):
        return None
    return s
