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
