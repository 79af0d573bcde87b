"""Turn a validated complaint document into the detector-facing ``Event``.

This is the privacy boundary of the ingest path (decode -> check ->
``to_event``): complainant ids and contact values become keyed pseudonyms
here and the raw values go no further. It trusts its input: ``contract``
validates first, and re-exports ``to_event`` so callers keep one import.
"""
from __future__ import annotations

from streamer.events import Event, make_attachment, make_contact, make_event
from streamer.pseudonym import Pseudonymizer
from streamer.timestamps import parse_ts

__all__ = ["to_event"]


def to_event(doc: dict, pseudo: Pseudonymizer, ts: float | None = None) -> Event:
    """Build the detector-facing Event from a *validated* document.

    This is the privacy boundary: complainant ids and every contact value are
    replaced by keyed pseudonyms here and the raw values are dropped.
    (Built with the positional ``make_*`` constructors of ``events``: the
    frozen-dataclass ``__init__`` was a third of this function's cost.)
    """
    get = doc.get
    c = doc["complainant"]
    cts = get("contacts")
    if cts:
        # a plain loop, not a list comprehension: in CPython 3.11 a comprehension
        # is a nested function call, which costs more than the loop for the usual
        # one or two contacts
        built = []
        for ct in cts:
            kind = ct["kind"]
            built.append(make_contact(kind, pseudo.pseudonym(kind, ct["value"]), ct.get("role") or "unknown"))
        contacts = tuple(built)
    else:
        contacts = ()
    ats = get("attachments")
    if ats:
        attachments = tuple([make_attachment(a["kind"], a.get("issuer"), a.get("seal_text"), a.get("sha256"))
                             for a in ats])
    else:
        attachments = ()
    amount = get("amount")
    demands = get("demands")
    ts_text = doc["ts"]
    return make_event(
        doc["event_id"],
        parse_ts(ts_text) if ts is None else ts,
        ts_text,
        doc["institution"],
        doc["channel"],
        doc["category"],
        pseudo.pseudonym("cust", c["id"]),
        c.get("age"),
        c.get("region"),
        contacts,
        get("text") or "",
        tuple(demands) if demands else (),
        float(amount) if amount is not None else None,
        attachments,
        get("repeat_of"),
    )