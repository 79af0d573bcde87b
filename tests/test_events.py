"""The parser's positional fast constructors build exactly what the dataclasses build."""
from __future__ import annotations

import dataclasses
import pickle

import pytest

from streamer.events import Attachment, Contact, Event, _positional_builder, make_attachment, make_contact, make_event

EV_VALUES = ("e-1", 1709481787.5, "2024-03-04T00:03:07.5+08:00", "bank-a", "hotline", "collection", "cust:0011",
             41, "310", (Contact("phone", "phone:ab", "self"),), "text", ("refund",), 12.5,
             (Attachment("other", "h", None, "a" * 64),), "e-0")


@pytest.mark.parametrize("cls, make, values", [
    (Event, make_event, EV_VALUES),
    (Contact, make_contact, ("phone", "phone:ab", "representative")),
    (Attachment, make_attachment, ("medical_certificate", "issuer", "seal", None)),
])
def test_builder_equals_the_dataclass(cls, make, values):
    a, b = make(*values), cls(*values)
    assert type(a) is cls and a == b and hash(a) == hash(b) and repr(a) == repr(b)
    for f in dataclasses.fields(cls):
        assert getattr(a, f.name) == getattr(b, f.name), f.name
    assert pickle.loads(pickle.dumps(a)) == b
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(a, dataclasses.fields(cls)[0].name, "x")


def test_builder_takes_every_field_but_factories_and_gives_fresh_defaults():
    assert make_event.__code__.co_varnames[:make_event.__code__.co_argcount] == tuple(
        f.name for f in dataclasses.fields(Event) if f.default_factory is dataclasses.MISSING)
    a, b = make_event(*EV_VALUES), make_event(*EV_VALUES)
    assert a.extra == {} and a.extra is not b.extra
    with pytest.raises(TypeError):
        make_event(*EV_VALUES[:-1])  # no silent defaults on the hot path


def test_builder_refuses_classes_whose_layout_a_twin_cannot_match():
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True, frozen=True)
    class Derived(Contact):
        extra_field: int = 0

    for cls in (NoSlots, Derived):
        with pytest.raises(TypeError, match="twin-class builder"):
            _positional_builder(cls)
