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
