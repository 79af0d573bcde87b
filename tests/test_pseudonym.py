from __future__ import annotations

import pickle

import pytest

from streamer.pseudonym import DEV_KEY, MissingKeyError, Pseudonymizer, normalise_value


def test_same_phone_in_different_formats_gets_one_pseudonym():
    p = Pseudonymizer("k1")
    a = p("phone", "13800138000")
    assert a == p("phone", "+86 138-0013-8000") == p("phone", "0086 13800138000") == p("phone", "１３８００１３８０００")
    assert a.startswith("phone:") and "13800138000" not in a
    assert a != p("phone", "13800138001")


def test_key_changes_every_pseudonym():
    assert Pseudonymizer("k1")("cust", "C-1") != Pseudonymizer("k2")("cust", "C-1")


def test_namespaces_are_separate():
    p = Pseudonymizer("k")
    assert p("email", "x") != p("wechat", "x")


def test_email_is_case_insensitive():
    assert normalise_value("email", " A@B.com ") == "a@b.com"


def test_missing_key_is_refused_unless_dev_allowed(monkeypatch):
    monkeypatch.delenv("SURGEWATCH_PSEUDONYM_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="SURGEWATCH_PSEUDONYM_KEY"):
        Pseudonymizer.from_env()
    assert Pseudonymizer.from_env(allow_dev_key=True).is_dev_key
    monkeypatch.setenv("SURGEWATCH_PSEUDONYM_KEY", "secret")
    assert not Pseudonymizer.from_env().is_dev_key


def test_secret_never_pickles():
    with pytest.raises(TypeError):
        pickle.dumps(Pseudonymizer(DEV_KEY))


# --- the fast paths must give exactly what the plain definitions give --------------------------

import hashlib  # noqa: E402
import hmac  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import unicodedata  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from streamer.pseudonym import DIGEST_HEX  # noqa: E402

KINDS = ["phone", "email", "wechat", "address", "representative", "organization", "cust"]


def _reference_normalise(kind: str, value: str) -> str:
    """The definition, written plainly (NFKC always, regexes): what the fast paths must equal."""
    v = unicodedata.normalize("NFKC", value).strip()
    if kind == "phone":
        digits = re.sub(r"\D+", "", v)
        if digits.startswith("0086"):
            digits = digits[4:]
        elif digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        return digits or v
    v = re.sub(r"\s+", "", v)
    return v.casefold() if kind in ("email", "wechat") else v


def _reference_pseudonym(key: bytes, namespace: str, value: str) -> str:
    norm = _reference_normalise(namespace, value)
    digest = hmac.new(key, f"{namespace}\x00{norm}".encode(), hashlib.sha256).hexdigest()
    return f"{namespace}:{digest[:DIGEST_HEX]}"


EDGE_VALUES = ["13800138000", "8613800138000", "008613800138000", "0086", "86", "861380013800", "0", "",
               " 138 0013 8000 ", "+86-138-0013-8000", "１３８００１３８０００", "١٣٨", "²³", "A@B.Com", " a b\tc\n",
               "x\x1cy\x1fz", "ﬁ", "Ａ Ｂ", "\u3000abc\u00a0", "微信号abc", "ß@ẞ.de", "C-30926430", "—", "\u2028"]


@pytest.mark.parametrize("kind", KINDS)
def test_normalise_matches_the_reference_on_edge_values(kind):
    for v in EDGE_VALUES:
        assert normalise_value(kind, v) == _reference_normalise(kind, v), (kind, v)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(KINDS), st.one_of(st.text(max_size=30), st.from_regex(r"[0-9 +\-]{0,16}", fullmatch=True),
                                         st.text(alphabet="0123456789８６ \u3000\t+-", max_size=16)))
def test_normalise_matches_the_reference(kind, value):
    assert normalise_value(kind, value) == _reference_normalise(kind, value)


def test_white_space_removal_agrees_with_the_regex_on_every_code_point():
    space = re.compile(r"\s+")
    bad = [cp for cp in range(sys.maxunicode + 1)
           if "".join(f"a{chr(cp)}b".split()) != space.sub("", f"a{chr(cp)}b")]
    assert bad == []


@pytest.mark.parametrize("key", ["k", DEV_KEY, "x" * 64, "y" * 65, "z" * 200, b"\x00\xff" * 40, "ключ-密钥"])
def test_pseudonyms_are_bit_identical_to_hmac_new(key):
    raw_key = key.encode() if isinstance(key, str) else key
    p = Pseudonymizer(key)
    values = EDGE_VALUES + [f"138{i:08d}" for i in range(300)] + [f"用户{i}@例子.com" for i in range(50)]
    for kind in KINDS:
        for v in values:
            assert p(kind, v) == _reference_pseudonym(raw_key, kind, v), (kind, v)


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=1, max_size=150), st.sampled_from(KINDS), st.text(max_size=40))
def test_pseudonyms_match_hmac_for_any_key(key, kind, value):
    assert Pseudonymizer(key)(kind, value) == _reference_pseudonym(key, kind, value)


def test_prepared_namespaces_cover_every_contact_kind_and_unknown_ones_still_match_hmac():
    """The states prepared per namespace must cover what the parser hashes (``cust`` and every
    contact kind of the contract); any other namespace takes the general path, with the same bits."""
    from streamer.contract import CONTACT_KINDS
    from streamer.pseudonym import PREFIXED_NAMESPACES

    assert set(PREFIXED_NAMESPACES) == set(CONTACT_KINDS) | {"cust"}
    p = Pseudonymizer(DEV_KEY)
    for ns in ("contact", "x", "cust\x00", "phone2", ""):
        for v in ("13800138000", "C-1", "a b"):
            assert p.pseudonym(ns, v) == p(ns, v) == _reference_pseudonym(DEV_KEY.encode(), ns, v), (ns, v)
