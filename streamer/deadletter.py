"""Dead-letter records: bad input is kept, explained and counted -- never lost.

A dead letter says *why* (reason and the field at fault), *where it came
from* (topic/partition/offset or file/line, so the original can be fetched
from the source), and carries the payload in a privacy-safe form: if the
message is a JSON object, identifying fields (complainant id, contact values)
are replaced by the same keyed pseudonyms the detectors use and free text is
reduced to its length. A deployment whose DLQ is as protected as its input
may ask for the raw bytes as well (``include_raw``).
"""
from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

from streamer.pseudonym import Pseudonymizer

__all__ = ["dead_letter", "redact"]

_TEXT_FIELDS = ("text",)
_MAX_REDACTED_BYTES = 16384


def _redact_contact(ct: Any, pseudo: Pseudonymizer) -> Any:
    if not isinstance(ct, dict):
        return "[redacted]"
    out = {k: v for k, v in ct.items() if k in ("kind", "role")}
    v = ct.get("value")
    if isinstance(v, str) and v:
        kind = ct.get("kind") if isinstance(ct.get("kind"), str) else "contact"
        out["value"] = pseudo(kind[:32], v)
    elif v is not None:
        out["value"] = "[redacted]"
    return out


def redact(doc: dict, pseudo: Pseudonymizer) -> dict:
    """A copy of ``doc`` safe to show: ids pseudonymised, text reduced to its size."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if k == "complainant":
            if isinstance(v, dict):
                c = {ck: cv for ck, cv in v.items() if ck in ("age", "region")}
                if isinstance(v.get("id"), str) and v["id"]:
                    c["id"] = pseudo("cust", v["id"])
                elif "id" in v:
                    c["id"] = "[redacted]"
                out[k] = c
            else:
                out[k] = "[redacted]"
        elif k == "contacts":
            out[k] = [_redact_contact(c, pseudo) for c in v] if isinstance(v, list) else "[redacted]"
        elif k in _TEXT_FIELDS:
            out[k] = f"[{len(v)} chars redacted]" if isinstance(v, str) else "[redacted]"
        elif k == "attachments":
            out[k] = f"[{len(v)} attachments]" if isinstance(v, list) else "[redacted]"
        elif k in ("event_id", "ts", "institution", "channel", "category", "schema", "repeat_of", "demands", "amount"):
            out[k] = v if not isinstance(v, (dict, list)) or len(orjson.dumps(v)) < 1024 else "[large value]"
        else:
            out[k] = "[unknown field]"
    return out


def dead_letter(
    raw: bytes | str,
    *,
    error: str,
    field: str,
    reason: str,
    origin: dict,
    pseudo: Pseudonymizer,
    doc: dict | None = None,
    include_raw: bool = False,
) -> dict:
    """Build the dead-letter record for one rejected message."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    rec: dict[str, Any] = {
        "schema": "surgewatch.deadletter.v1",
        "error": error,
        "field": field,
        "reason": reason,
        "origin": origin,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if doc is not None:
        if isinstance(doc.get("event_id"), str):
            rec["event_id"] = doc["event_id"][:128]
        red = redact(doc, pseudo)
        if len(orjson.dumps(red)) <= _MAX_REDACTED_BYTES:
            rec["payload"] = red
    if include_raw:
        rec["raw_b64"] = base64.b64encode(data).decode()
    return rec
