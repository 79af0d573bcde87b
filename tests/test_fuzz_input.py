"""Property-based: no message, however broken, stops the stream or vanishes.

Thousands of generated bad messages -- wrong types, missing fields, huge
strings, invalid UTF-8, deep nesting, NaN, unknown enums, naive or absurd
timestamps -- each either reaches the detectors or lands in the dead-letter
sink with a field and a reason; a good event after them is still processed.
"""
from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.contract import InvalidEvent, _accept_fast, _check_exact, decode, validate
from streamer.pipeline import Pipeline
from streamer.testing import TEST_PSEUDO, MemorySink, raw_event

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=50))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                                 st.dictionaries(st.text(max_size=10), inner, max_size=5)),
                           max_leaves=30)
FIELDS = ["event_id", "ts", "institution", "channel", "category", "complainant", "contacts", "text",
          "demands", "amount", "attachments", "repeat_of", "schema"]
bad_ts = st.one_of(st.just("2024-03-04T10:00:00"), st.just("2024-13-40T99:00:00+08:00"), st.just("9999-01-01T00:00:00Z"),
                   st.just("1900-01-01T00:00:00Z"), st.text(max_size=30), st.integers())


def _mutated(draw_base: dict, field: str, value) -> dict:
    d = dict(draw_base)
    if value is _DELETE:
        d.pop(field, None)
    else:
        d[field] = value
    return d


_DELETE = object()


@st.composite
def broken_documents(draw):
    base = raw_event(contacts=[("phone", "13800000000", "self")], text="正文", ts=draw(st.floats(0, 1000)))
    field = draw(st.sampled_from(FIELDS))
    value = draw(st.one_of(st.just(_DELETE), json_values, bad_ts if field == "ts" else json_values,
                           st.builds(lambda c, n: c * n, st.characters(), st.integers(60_000, 70_000)) if field == "text" else json_values))
    return _mutated(base, field, value)


def _dumps(v) -> bytes:
    """stdlib json: allows big integers, NaN and lone surrogates (-> invalid UTF-8)."""
    return json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _deep(n: int) -> bytes:
    return b'{"a":' * n + b"1" + b"}" * n


raw_messages = st.one_of(
    st.binary(max_size=300),                                   # arbitrary bytes, invalid UTF-8
    st.builds(_dumps, broken_documents()),
    st.builds(_deep, st.integers(1, 2000)),                    # deeply nested JSON
    st.just(b'{"event_id": "x", "amount": NaN}'),
    st.builds(_dumps, json_values),                           # any JSON at all
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw_messages)
def test_every_message_is_processed_or_dead_lettered(raw):
    dlq, alerts = MemorySink(), MemorySink()
    p = Pipeline([], TEST_PSEUDO, alert_sinks=[alerts], dead_letter_sinks=[dlq])
    ev = p.process(raw, {"offset": 1})
    if ev is None:
        assert len(dlq.records) == 1
        rec = dlq.records[0]
        assert rec["field"] and rec["reason"] and rec["origin"] == {"offset": 1}
        orjson.dumps(rec)  # always serialisable
    else:
        assert dlq.records == []
        assert math.isfinite(ev.ts)
    good = raw_event(ts=2000)
    assert p.process(orjson.dumps(good)) is not None


@settings(max_examples=1500, deadline=None)
@given(broken_documents())
def test_validator_only_raises_invalid_event(doc):
    try:
        validate(doc)
    except InvalidEvent as e:
        assert e.field.split("[")[0].split(".")[0] in FIELDS + ["$"]


def test_out_of_order_events_within_lateness_are_processed():
    p = Pipeline([], TEST_PSEUDO, max_lateness=48 * 3600)
    assert p.process(orjson.dumps(raw_event(ts=100))) is not None
    assert p.process(orjson.dumps(raw_event(ts=60))) is not None   # 40 h late: fine
    assert p.process(orjson.dumps(raw_event(ts=10))) is None       # 90 h late: dead-lettered


def test_decode_rejects_deep_nesting_without_crashing():
    try:
        decode(_deep(100_000))
    except InvalidEvent as e:
        assert e.field == "$"


# values at the edges of each rule, by where they go
_TOP_EDGES = {
    "schema": ["complaint.v1", "complaint.v2", None], "event_id": ["", "e" * 128, "e" * 129, 7],
    "ts": ["2024-03-04T00:03:07.5Z", "2024-03-04T00:03:07", "2024-03-04T00:03:07+24:00", 5],
    "institution": ["", "b" * 64, "b" * 65], "channel": ["app", "fax", None], "category": ["fraud", "", None],
    "contacts": [[], None, [{"kind": "phone", "value": "1"}] * 32, [{"kind": "phone", "value": "1"}] * 33, ["x"]],
    "text": ["", "x" * 65536, "x" * 65537, None], "demands": [[], None, ["refund"] * 16, ["refund"] * 17, ["x"], [None]],
    "amount": [0, -1, -0.0, 1e308, float("inf"), float("nan"), True, 10**400, "1", None],
    "attachments": [[], [{"kind": "other"}], [{"kind": "x"}], None], "repeat_of": ["", "e" * 128, "e" * 129, None, 5],
}
_COMPLAINANT_EDGES = {"id": ["", "i" * 128, "i" * 129, 5], "age": [-1, 0, 130, 131, True, 30.0, None],
                      "region": ["", "r" * 32, "r" * 33, None]}
_CONTACT_EDGES = {"kind": ["phone", "fax", None], "value": ["", "x" * 256, "x" * 257, 5],
                  "role": ["self", "unknown", "boss", None], "note": [1]}


@st.composite
def nested_mutations(draw):
    """A valid document with one or two values replaced (mostly by edge values) or removed.

    A wrongly accepted value only shows when the rest of the document is valid,
    hence few changes and values chosen at the edges of the rules."""
    doc = raw_event(contacts=[("phone", "13800000000", "self"), ("email", "a@b.c", "representative")], text="t",
                    demands=["refund"], amount=draw(st.sampled_from([0, 5, 2.5, 1e308])))
    for _ in range(draw(st.integers(1, 2))):
        where = draw(st.sampled_from(["top", "complainant", 0, 1]))
        obj, edges = ((doc, _TOP_EDGES) if where == "top" else (doc.get("complainant"), _COMPLAINANT_EDGES)
                      if where == "complainant" else (doc.get("contacts"), _CONTACT_EDGES))
        if isinstance(where, int):  # a contact, if the first change left the list as it was
            obj = obj[where] if isinstance(obj, list) and len(obj) == 2 else None
        if not isinstance(obj, dict):
            continue
        key = draw(st.sampled_from(sorted(edges)))
        if draw(st.integers(0, 4)) == 0:
            obj.pop(key, None)
        else:
            obj[key] = draw(st.sampled_from(edges[key])) if draw(st.integers(0, 3)) else draw(json_values)
    return doc


def _fast_check_agrees(doc: dict) -> None:
    """The fast tier of ``check`` may say "not sure" (None) at will, but what it
    accepts the exact check must accept with the same time; it raises only for
    a bad ``ts`` and then with the exact check's message."""
    try:
        fast = _accept_fast(doc)
    except InvalidEvent as e:
        with pytest.raises(InvalidEvent) as exact:
            _check_exact(doc)
        assert str(exact.value) == str(e)
        return
    if fast is not None:
        assert _check_exact(doc) == fast


@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_mutations())
def test_fast_check_accepts_only_what_the_exact_check_accepts(doc):
    _fast_check_agrees(doc)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_documents())
def test_fast_check_on_broken_top_level_fields(doc):
    _fast_check_agrees(doc)


def test_fast_check_accepts_the_usual_document():  # else the test above would prove nothing
    doc = raw_event(contacts=[("phone", "13800000000", "self")], text="t", demands=["refund"], amount=5)
    doc["repeat_of"] = "e-0"
    assert _accept_fast(doc) == _check_exact(doc)
    assert _accept_fast(doc) is not None
