"""Parsing and validation: every rejection names the field at fault."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from streamer.contract import InvalidEvent, decode, parse, validate
from streamer.testing import TEST_PSEUDO, raw_event

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract"


def _examples() -> list[dict]:
    p = CONTRACT / "examples" / "events.jsonl"
    if not p.exists():
        pytest.skip(f"shared contract not found at {CONTRACT}")
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def test_contract_examples_are_valid_and_pseudonymised():
    for doc in _examples():
        ev = parse(json.dumps(doc, ensure_ascii=False).encode(), TEST_PSEUDO)
        assert ev.event_id == doc["event_id"]
        assert ev.complainant.startswith("cust:") and doc["complainant"]["id"] not in ev.complainant
        for c, raw in zip(ev.contacts, doc.get("contacts", [])):
            assert c.key.startswith(raw["kind"] + ":") and raw["value"] not in c.key


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("event_id"), "event_id"),
    (lambda d: d.update(event_id=""), "event_id"),
    (lambda d: d.update(event_id=7), "event_id"),
    (lambda d: d.update(ts="2024-03-04T10:00:00"), "ts"),
    (lambda d: d.update(ts="yesterday"), "ts"),
    (lambda d: d.update(ts="3024-03-04T10:00:00+08:00"), "ts"),
    (lambda d: d.update(channel="fax"), "channel"),
    (lambda d: d.update(category=None), "category"),
    (lambda d: d.pop("complainant"), "complainant"),
    (lambda d: d.update(complainant={"id": "x", "age": 200}), "complainant.age"),
    (lambda d: d.update(complainant={"id": "x", "age": True}), "complainant.age"),
    (lambda d: d.update(complainant={"age": 3}), "complainant.id"),
    (lambda d: d.update(contacts=[{"kind": "phone", "value": "1"}, {"kind": "phone", "value": "2", "role": "boss"}]),
     "contacts[1].role"),
    (lambda d: d.update(contacts=[{"kind": "fax", "value": "1"}]), "contacts[0].kind"),
    (lambda d: d.update(contacts=[{"kind": "phone", "value": "x" * 300}]), "contacts[0].value"),
    (lambda d: d.update(contacts=[{"kind": "phone", "value": "1"}] * 33), "contacts"),
    (lambda d: d.update(text="x" * 70000), "text"),
    (lambda d: d.update(demands=["waive_fees", "everything"]), "demands[1]"),
    (lambda d: d.update(amount=-5), "amount"),
    (lambda d: d.update(amount="100"), "amount"),
    (lambda d: d.update(attachments=[{"kind": "medical_certificate", "sha256": "XYZ"}]), "attachments[0].sha256"),
    (lambda d: d.update(attachments=[{"issuer": "h"}]), "attachments[0].kind"),
    (lambda d: d.update(schema="complaint.v2"), "schema"),
    (lambda d: d.update(repeat_of=5), "repeat_of"),
])
def test_invalid_field_is_named(mutate, field):
    doc = raw_event(contacts=[("phone", "13800000000", "self")], text="hello")
    mutate(doc)
    with pytest.raises(InvalidEvent) as ei:
        validate(doc)
    assert ei.value.field == field, str(ei.value)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,2]", b"\xff\xfe", b'"a string"', b"{\"a\":"])
def test_undecodable_messages_are_invalid_at_the_root(raw):
    with pytest.raises(InvalidEvent) as ei:
        decode(raw)
    assert ei.value.field == "$"


def test_agrees_with_the_json_schema_on_mutations():
    """The hand-written validator accepts and rejects what the normative schema does."""
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = CONTRACT / "complaint-event.v1.schema.json"
    if not schema_path.exists():
        pytest.skip("shared contract not found")
    schema = json.loads(schema_path.read_text())
    checker = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    base = _examples()[1]
    variants = [base]
    for key, val in [("channel", "fax"), ("amount", -1), ("amount", 12.5), ("demands", ["refund"]),
                     ("demands", ["nope"]), ("text", 5), ("institution", ""), ("institution", "x" * 65),
                     ("repeat_of", "bank-a-1"), ("attachments", [{"kind": "other"}]),
                     ("attachments", [{"kind": "other", "sha256": "a" * 64}]),
                     ("attachments", [{"kind": "other", "sha256": "A" * 64}]),
                     ("contacts", []), ("contacts", [{"kind": "email", "value": "a@b.c", "role": "self"}]),
                     ("contacts", [{"kind": "email", "value": ""}])]:
        d = copy.deepcopy(base)
        d[key] = val
        variants.append(d)
    for d in variants:
        schema_ok = checker.is_valid(d)
        try:
            validate(d)
            ours = True
        except InvalidEvent:
            ours = False
        assert ours == schema_ok, (d, schema_ok)


# --- the timestamp fast path agrees with the exact definition ---------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from streamer import contract  # noqa: E402
from streamer.contract import _parse_ts_exact, parse_ts  # noqa: E402

_digits = st.sampled_from("0123456789")
_odd_digits = st.sampled_from("0123456789٣２")  # Arabic-Indic and full-width digits must not pass as ASCII


def _n(width, lo, hi):
    return st.integers(lo, hi).map(lambda x: str(x).zfill(width))


@st.composite
def _timestamps(draw):
    y, mo, d = draw(_n(4, 1985, 2105)), draw(_n(2, 0, 13)), draw(_n(2, 0, 32))
    h, mi, s = draw(_n(2, 0, 25)), draw(_n(2, 0, 61)), draw(_n(2, 0, 61))
    sep = draw(st.sampled_from("TTTt x"))
    frac = draw(st.one_of(st.just(""), st.builds(lambda ds: "." + "".join(ds),
                                                  st.lists(st.one_of(_digits, _odd_digits), max_size=8)),
                          st.just(",123")))
    zone = draw(st.one_of(st.sampled_from(["Z", "z", "", "+08:00", "-05:30", "+00:00", "-00:00", "+0800", "+08:00:30"]),
                          st.builds(lambda sg, hh, mm: f"{sg}{hh}:{mm}", st.sampled_from("+-"), _n(2, 0, 25), _n(2, 0, 61))))
    text = f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{zone}"
    if draw(st.integers(0, 4)) == 0 and text:  # one stray character somewhere
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(":-T+. 0９")) + text[i + 1:]
    return text


def _outcome(fn, v):
    try:
        return repr(fn(v, "ts"))
    except InvalidEvent as e:
        return f"{e.field}: {e.reason}"


@settings(max_examples=4000, deadline=None)
@given(_timestamps())
def test_timestamp_fast_path_is_the_exact_parse(v):
    exact = _outcome(_parse_ts_exact, v)
    assert _outcome(parse_ts, v) == exact
    assert _outcome(parse_ts, v) == exact  # again: now through the tables the first call may have filled


def test_timestamp_tables_give_the_same_float_as_the_first_parse():
    v = "2031-07-15T13:45:59-09:30"
    parse_ts(v)  # learns the offset
    contract._REST.clear()
    first = parse_ts(v)
    assert v[13:] in contract._REST and parse_ts(v) == first == _parse_ts_exact(v, "ts")
    assert parse_ts("2031-07-15T14:45:59-09:30") == first + 3600


@pytest.mark.parametrize("v", ["2024-03-04T00:03:07+08:00", "2024-03-04T00:03:07.5+08:00", "2024-02-29T23:59:59.123456Z",
                               "2023-02-29T10:00:00Z", "2024-03-04T24:00:00Z", "2024-03-04T00:60:00Z", "2024-03-04T00:00:00+24:00",
                               "1989-12-31T23:59:59+00:00", "2100-12-31T23:59:59-23:59", "2101-01-01T00:00:00Z",
                               "2024-03-04T00:03:07.1234567+08:00", "2024-03-04T00:03:07.+08:00", "2024-03-04T00:03:07.5",
                               "２024-03-04T00:03:07Z", "2024-03-04T00:03:07\uff0b08:00", 20240304, None])
def test_timestamp_fast_path_edge_cases(v):
    assert _outcome(parse_ts, v) == _outcome(_parse_ts_exact, v)


# --- the validator's fast checks change no verdict and no message ---------------------------

class _Str(str):
    pass


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["complainant"].update(region=None), "complainant.region: must be a string, got null"),
    (lambda d: d["complainant"].update(region="r" * 33), "complainant.region: is longer than 32 characters (33)"),
    (lambda d: d.update(text=None), "text: must be a string, got null"),
    (lambda d: d.update(repeat_of=None), "repeat_of: must be a string, got null"),
    (lambda d: d.update(demands=None), "demands: must be an array, got null"),
    (lambda d: d.update(demands=["refund"] * 17), "demands: has 17 items, at most 16 allowed"),
    (lambda d: d.update(contacts=None), "contacts: must be an array, got null"),
    (lambda d: d.update(contacts={"kind": "phone"}), "contacts: must be an array, got dict"),
    (lambda d: d.update(contacts=[{"kind": "phone", "value": ""}]), "contacts[0].value: must not be empty"),
    (lambda d: d.update(contacts=[{"kind": "phone", "value": "1"}, "x"]), "contacts[1]: must be an object, got str"),
    (lambda d: d.update(contacts=[{"kind": ["phone"], "value": "1"}]),
     "contacts[0].kind: ['phone'] is not one of address, email, organization, phone, representative, wechat"),
    (lambda d: d.update(channel={"a": 1}),
     "channel: {'a': 1} is not one of app, branch, email, hotline, letter, other, regulator, social"),
    (lambda d: d.update(institution="b" * 65), "institution: is longer than 64 characters (65)"),
])
def test_exact_messages_behind_the_fast_checks(mutate, message):
    doc = raw_event(contacts=[("phone", "13800000000", "self")], text="hello")
    mutate(doc)
    with pytest.raises(InvalidEvent) as ei:
        validate(doc)
    assert str(ei.value) == message


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(contacts=[{"kind": "phone", "value": "1", "role": None}]),  # explicit null role: accepted today
    lambda d: d.update(contacts=[{"kind": _Str("phone"), "value": _Str("1"), "role": _Str("self")}]),
    lambda d: d.update(channel=_Str("app"), event_id=_Str("e"), demands=[_Str("refund")]),
    lambda d: d.update(repeat_of="e-0", text="x" * 65536, contacts=[{"kind": "phone", "value": "1"}] * 32),
    lambda d: d["complainant"].update(region="r" * 32),
])
def test_rare_valid_shapes_still_pass(mutate):
    doc = raw_event(contacts=[("phone", "13800000000", "self")], text="hello")
    mutate(doc)
    validate(doc)
