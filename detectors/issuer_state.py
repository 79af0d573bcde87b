"""issuer_state: the state ``IssuerSurge`` keeps per (class, issuer) key, and how an event's certificates update it.

Split out of ``issuer_surge`` so the detector module holds the detection logic
(keys, priors, the null model, judging) and this one the per-key record:
``_Issuer`` (members with their youth and suspicion flags, institutions,
certificate kinds, seal types and reasons, LRU-bounded file hashes) and
``touch``, which files one event's certificates -- seal rules, reused scans,
the new complainant's weight -- under the detector's bounds.

Checkpoints pickle ``_Issuer`` by the path of its class; older ones name
``detectors.issuer_surge._Issuer``, which ``issuer_surge`` re-exports.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from detectors.base import SlotState
from detectors.rates import RateModel
from detectors.seals import normalise_issuer, seal_reasons, split_seal
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.issuer_surge import IssuerSurge


class _Issuer(SlotState):
    """State of one (class, issuer) key."""

    __slots__ = ("cls", "display", "members", "insts", "events", "rate", "kinds", "seal_types", "reasons", "shas",
                 "reused", "first_ts", "last_ts", "n_events", "fired", "w_first")

    def __init__(self, cls: str, display: str | None, ts: float, bucket: float, max_event_ids: int,
                 max_recent: int) -> None:
        self.cls = cls
        self.display = display
        # complainant -> [first_ts, last_ts, young (1/0/-1 unknown), flags (1 implausible seal, 2 reused scan)]
        self.members: dict[str, list] = {}
        self.insts: dict[str, float] = {}  # institution -> last ts
        self.events: deque = deque(maxlen=max_event_ids)
        self.rate = RateModel(bucket_seconds=bucket, max_recent=max_recent)
        self.kinds: dict[str, int] = {}
        self.seal_types: dict[str, int] = {}
        self.reasons: dict[str, int] = {}  # reason -> certificates
        self.shas: dict[str, str] = {}  # sha256 -> first complainant that filed it (LRU-bounded)
        self.reused = 0  # certificates whose file another complainant filed before
        self.first_ts = ts
        self.last_ts = ts
        self.n_events = 0
        self.fired = 0  # distinct complainants at the last finding (0: never fired)
        self.w_first = 1.0  # weight of the founding complainant (given, not evidence)


def touch(det: IssuerSurge, a: _Issuer, event: Event, ats: list) -> float | None:
    """Record one event's certificates. None if no new complainant; else what
    the key's open bucket held before (-1 for the founding complainant)."""
    ts, who = event.ts, event.complainant
    det.certificates_total += len(ats)
    a.last_ts = max(a.last_ts, ts)
    a.n_events += 1
    a.events.append(event.event_id)
    reasons: set[str] = set()
    reused = False
    for at in ats:
        a.kinds[at.kind] = a.kinds.get(at.kind, 0) + 1
        seal = normalise_issuer(at.seal_text)
        stype = split_seal(seal)[1] if seal else ""
        st = stype or ("none" if not seal else "other")
        a.seal_types[st] = a.seal_types.get(st, 0) + 1
        rs = seal_reasons(at.kind, at.issuer, at.seal_text)
        for r in rs:
            a.reasons[r] = a.reasons.get(r, 0) + 1
        reasons.update(rs)
        if at.sha256:
            sha = at.sha256.strip().lower()
            first = a.shas.pop(sha, None)
            if first is not None and first != who:
                reused = True
                a.reused += 1
            a.shas[sha] = first if first is not None else who  # most recently seen last
            if len(a.shas) > det.max_shas:
                del a.shas[next(iter(a.shas))]
    members = a.members
    lo = ts - det.window
    if members and next(iter(members.values()))[1] < lo:  # oldest-seen first
        for m in [m for m, rec in members.items() if rec[1] < lo]:
            del members[m]
    flags = (1 if reasons else 0) | (2 if reused else 0)
    grew: float | None = None
    rec = members.pop(who, None)
    if rec is None:
        founding = not members and a.rate.cur is None
        w, young = det._weight(a.cls, event.age, bool(reasons), reused)
        rec = [ts, ts, young, flags]
        # the founding complainant is why the key exists (given, not evidence):
        # the rate model counts only the weight of the complainants after it
        before = a.rate.add(ts, 0.0 if founding else w)
        if founding:
            a.w_first = w
        grew = -1.0 if founding else before
        if len(members) >= det.max_members:
            del members[next(iter(members))]
    else:
        rec[1] = max(rec[1], ts)
        rec[3] |= flags
    members[who] = rec  # most recently seen last
    if event.institution not in a.insts and len(a.insts) >= det.max_insts:
        del a.insts[min(a.insts, key=a.insts.__getitem__)]
    a.insts[event.institution] = ts
    return grew
