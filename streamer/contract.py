"""Parse and validate complaint events against the v1 wire contract.

A hand-written validator mirroring ``shared/contract/complaint-event.v1.schema.json``
(kept in step by a test that runs both over the same documents): it is ~20x
faster than a generic JSON-Schema engine on the hot path and its errors name
the exact field (``contacts[2].role: 'boss' is not one of ...``), which is what
an operator reading the dead-letter topic needs.

The ``ts`` rule lives in ``timestamps`` (``parse_ts``), the error type in
``invalid`` and the building of the pseudonymised ``Event`` in ``convert``;
this module composes them (``parse``) and re-exports ``InvalidEvent``,
``to_event`` and ``parse_ts`` so callers and tests import from one place.
"""
from __future__ import annotations

import math
import sys
from typing import Any

import orjson

from streamer.convert import to_event
from streamer.events import Event
from streamer.invalid import InvalidEvent
from streamer.invalid import short_repr as _fmt
from streamer.pseudonym import Pseudonymizer
# _HOUR_BASE and _REST are the live tables of parse_ts, read inline by _accept_fast;
# _parse_ts_exact, MIN_YEAR and MAX_YEAR are re-exported for tests and callers.
from streamer.timestamps import _HOUR_BASE, _REST, MAX_YEAR, MIN_YEAR, _parse_ts_exact, parse_ts  # noqa: F401

__all__ = ["InvalidEvent", "parse", "validate", "check", "to_event", "decode", "CHANNELS", "CATEGORIES"]

CHANNELS = frozenset(("hotline", "app", "letter", "email", "branch", "regulator", "social", "other"))
CATEGORIES = frozenset(("collection", "interest_fees", "credit_report", "hardship_relief", "service", "fraud", "other"))
CONTACT_KINDS = frozenset(("phone", "email", "wechat", "address", "representative", "organization"))
ROLES = frozenset(("self", "representative", "unknown"))
DEMANDS = frozenset(("stop_interest", "installments", "waive_fees", "refund", "stop_collection", "credit_repair", "compensation", "other"))
ATTACHMENT_KINDS = frozenset(("medical_certificate", "hardship_certificate", "unemployment_certificate", "authorization", "id_copy", "other"))
_HEX = frozenset("0123456789abcdef")


def _str(obj: dict, name: str, path: str, *, required: bool, min_len: int = 0, max_len: int) -> str | None:
    v = obj.get(name)
    if v is None:
        if required:
            raise InvalidEvent(path, "is required")
        if name in obj:
            raise InvalidEvent(path, "must be a string, got null")
        return None
    if not isinstance(v, str):
        raise InvalidEvent(path, f"must be a string, got {type(v).__name__}")
    if len(v) < min_len:
        raise InvalidEvent(path, "must not be empty")
    if len(v) > max_len:
        raise InvalidEvent(path, f"is longer than {max_len} characters ({len(v)})")
    return v


def _enum(obj: dict, name: str, path: str, allowed: frozenset, *, required: bool, default: str | None = None) -> str | None:
    v = obj.get(name, default)
    if v is None:
        if required:
            raise InvalidEvent(path, "is required")
        return None
    if not isinstance(v, str) or v not in allowed:
        raise InvalidEvent(path, f"{_fmt(v)} is not one of {', '.join(sorted(allowed))}")
    return v


def _list(obj: dict, name: str, path: str, max_items: int) -> list:
    v = obj.get(name)
    if v is None:
        if name in obj:
            raise InvalidEvent(path, "must be an array, got null")
        return []
    if not isinstance(v, list):
        raise InvalidEvent(path, f"must be an array, got {type(v).__name__}")
    if len(v) > max_items:
        raise InvalidEvent(path, f"has {len(v)} items, at most {max_items} allowed")
    return v


def decode(raw: bytes | str) -> dict:
    """orjson-decode one message; anything but a JSON object is invalid."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidEvent("$", f"not valid JSON ({str(e)[:80]})") from None
    if not isinstance(doc, dict):
        raise InvalidEvent("$", f"must be a JSON object, got {type(doc).__name__}")
    return doc


def validate(doc: dict) -> dict:
    """Check ``doc`` against the contract; return it unchanged or raise InvalidEvent."""
    check(doc)
    return doc


def check(doc: dict) -> float:
    """Validate ``doc`` and return its event time (epoch seconds), parsed once.

    Two tiers, as for timestamps: ``_accept_fast`` recognises the usual
    valid document in one pass and returns its time; anything it is not sure
    of goes to ``_check_exact``, which is the definition and the source of
    every error message. The fast tier never accepts what the exact one
    rejects (tests compare the two on generated documents).
    """
    ts = _accept_fast(doc)
    return _check_exact(doc) if ts is None else ts


_FLOAT_MAX = sys.float_info.max


def _accept_fast(doc: dict) -> float | None:
    """Event time of a document that is certainly valid, else None.

    Only plain shapes are accepted: exact ``str``/``int``/``float``/``list``
    types (subclasses, an explicit ``"role": null`` or attachments are left to
    the exact check, which accepts them too). Required fields are read by
    subscript, which CPython specialises, rather than by ``dict.get`` calls;
    a missing field or a value of the wrong kind shows up as KeyError or
    TypeError (3.11's ``try`` costs nothing until something is raised) and
    means "not sure".
    Enum tests are plain set membership: only a ``str`` equals a ``str``
    among JSON values. A required string's "1 to N characters" is ``not v or
    len(v) > N`` (an empty ``str`` is false): fewer steps than the chained
    comparison, once per field per event. The one thing that may raise is ``parse_ts``: it runs
    only after ``schema`` and ``event_id`` passed, so its fault is the first
    one the exact check finds too, with the same message.
    """
    try:
        if "schema" in doc and doc["schema"] != "complaint.v1":
            return None
        v = doc["event_id"]
        if type(v) is not str or not v or len(v) > 128:
            return None
        v = doc["ts"]
        if type(v) is not str:
            return None
        base = _HOUR_BASE.get(v[:13])  # parse_ts's table path, inlined
        rest = _REST.get(v[13:])
        ts = parse_ts(v) if base is None or rest is None else base + rest
        v = doc["institution"]
        if type(v) is not str or not v or len(v) > 64:
            return None
        if doc["channel"] not in CHANNELS or doc["category"] not in CATEGORIES:
            return None
        c = doc["complainant"]
        v = c["id"]
        if type(v) is not str or not v or len(v) > 128:
            return None
        if "age" in c:
            v = c["age"]
            if type(v) is not int or not 0 <= v <= 130:
                return None
        if "region" in c:
            v = c["region"]
            if type(v) is not str or len(v) > 32:
                return None
        if "contacts" in doc:
            cts = doc["contacts"]
            if type(cts) is not list or len(cts) > 32:
                return None
            for ct in cts:
                if ct["kind"] not in CONTACT_KINDS:
                    return None
                v = ct["value"]
                if type(v) is not str or not v or len(v) > 256:
                    return None
                if "role" in ct and ct["role"] not in ROLES:
                    return None
        if "text" in doc:
            v = doc["text"]
            if type(v) is not str or len(v) > 65536:
                return None
        if "demands" in doc:
            ds = doc["demands"]
            if type(ds) is not list or len(ds) > 16:
                return None
            for v in ds:
                if v not in DEMANDS:
                    return None
        if "amount" in doc:
            v = doc["amount"]  # (bool is not int here; NaN fails every comparison)
            if (type(v) is not int and type(v) is not float) or not 0 <= v <= _FLOAT_MAX:
                return None
        if "repeat_of" in doc:
            v = doc["repeat_of"]
            if type(v) is not str or len(v) > 128:
                return None
        if "attachments" in doc:
            return None
        return ts
    except (KeyError, TypeError):
        return None


def _check_exact(doc: dict) -> float:
    """Every rule of the contract, in a fixed order; raises the first fault."""
    if "schema" in doc and doc["schema"] != "complaint.v1":
        raise InvalidEvent("schema", f"{_fmt(doc['schema'])} is not 'complaint.v1'")
    _str(doc, "event_id", "event_id", required=True, min_len=1, max_len=128)
    if "ts" not in doc:
        raise InvalidEvent("ts", "is required")
    ts = parse_ts(doc["ts"])
    _str(doc, "institution", "institution", required=True, min_len=1, max_len=64)
    _enum(doc, "channel", "channel", CHANNELS, required=True)
    _enum(doc, "category", "category", CATEGORIES, required=True)
    c = doc.get("complainant")
    if c is None:
        raise InvalidEvent("complainant", "is required")
    if not isinstance(c, dict):
        raise InvalidEvent("complainant", f"must be an object, got {type(c).__name__}")
    _str(c, "id", "complainant.id", required=True, min_len=1, max_len=128)
    if "age" in c:
        age = c["age"]
        if not isinstance(age, int) or isinstance(age, bool):
            raise InvalidEvent("complainant.age", f"must be an integer, got {type(age).__name__}")
        if not 0 <= age <= 130:
            raise InvalidEvent("complainant.age", f"{age} is outside 0..130")
    _str(c, "region", "complainant.region", required=False, max_len=32)
    for i, ct in enumerate(_list(doc, "contacts", "contacts", 32)):
        _check_contact(ct, f"contacts[{i}]")
    _str(doc, "text", "text", required=False, max_len=65536)
    if "demands" in doc:
        for i, d in enumerate(_list(doc, "demands", "demands", 16)):
            if not isinstance(d, str) or d not in DEMANDS:
                raise InvalidEvent(f"demands[{i}]", f"{_fmt(d)} is not one of {', '.join(sorted(DEMANDS))}")
    if "amount" in doc:
        a = doc["amount"]
        if not isinstance(a, (int, float)) or isinstance(a, bool):
            raise InvalidEvent("amount", f"must be a number, got {type(a).__name__}")
        if not math.isfinite(a) or a < 0:
            raise InvalidEvent("amount", f"{_fmt(a)} must be a finite number >= 0")
    if "attachments" in doc:
        for i, at in enumerate(_list(doc, "attachments", "attachments", 32)):
            _check_attachment(at, f"attachments[{i}]")
    if "repeat_of" in doc:
        _str(doc, "repeat_of", "repeat_of", required=False, max_len=128)
    return ts


def _check_contact(ct: Any, p: str) -> None:
    """Every rule for one ``contacts[i]`` entry, in order; raises the first fault."""
    if not isinstance(ct, dict):
        raise InvalidEvent(p, f"must be an object, got {type(ct).__name__}")
    _enum(ct, "kind", f"{p}.kind", CONTACT_KINDS, required=True)
    _str(ct, "value", f"{p}.value", required=True, min_len=1, max_len=256)
    _enum(ct, "role", f"{p}.role", ROLES, required=False, default="unknown")


def _check_attachment(at: Any, p: str) -> None:
    """Every rule for one ``attachments[i]`` entry, in order; raises the first fault."""
    if not isinstance(at, dict):
        raise InvalidEvent(p, f"must be an object, got {type(at).__name__}")
    _enum(at, "kind", f"{p}.kind", ATTACHMENT_KINDS, required=True)
    _str(at, "issuer", f"{p}.issuer", required=False, max_len=256)
    _str(at, "seal_text", f"{p}.seal_text", required=False, max_len=256)
    sha = _str(at, "sha256", f"{p}.sha256", required=False, max_len=64)
    if sha is not None and (len(sha) != 64 or not set(sha) <= _HEX):
        raise InvalidEvent(f"{p}.sha256", "must be 64 lowercase hex characters")


def parse(raw: bytes | str, pseudo: Pseudonymizer) -> Event:
    """decode -> validate -> pseudonymise, raising InvalidEvent with the field at fault."""
    doc = decode(raw)
    return to_event(doc, pseudo, check(doc))
