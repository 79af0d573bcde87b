"""The validated, pseudonymised complaint event that detectors see.

Detectors never receive the raw JSON: the pipeline parses, validates and
pseudonymises first, so a detector *cannot* leak a raw phone number or
complainant id into an alert. Only ``text`` stays raw (templates need it);
detectors must never copy it into a finding.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Contact", "Attachment", "Event"]


@dataclass(slots=True, frozen=True)
class Contact:
    """A contact point given with a complaint, already pseudonymised.

    ``key`` looks like ``phone:5f1c2a9e0b7d4c31`` -- the kind, then a keyed
    HMAC of the normalised value. The same phone written as ``+86 138-0013-8000``
    or ``13800138000`` gets the same key.
    """

    kind: str
    key: str
    role: str = "unknown"


@dataclass(slots=True, frozen=True)
class Attachment:
    """Evidence filed with a complaint. Issuers are organisations, not people."""

    kind: str
    issuer: str | None = None
    seal_text: str | None = None
    sha256: str | None = None


@dataclass(slots=True, frozen=True)
class Event:
    """One complaint, in event time.

    ``ts`` is epoch seconds (UTC) parsed from the RFC 3339 ``ts`` field;
    ``ts_text`` keeps the original string so alerts can echo the sender's offset.
    ``complainant`` is the pseudonym ``cust:<hex>``.
    """

    event_id: str
    ts: float
    ts_text: str
    institution: str
    channel: str
    category: str
    complainant: str
    age: int | None = None
    region: str | None = None
    contacts: tuple[Contact, ...] = ()
    text: str = ""
    demands: tuple[str, ...] = ()
    amount: float | None = None
    attachments: tuple[Attachment, ...] = ()
    repeat_of: str | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)
