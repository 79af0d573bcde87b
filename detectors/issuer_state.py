"""issuer_state: the state ``IssuerSurge`` keeps per (class, issuer) key, and how an event's certificates update it.

Split out of ``issuer_surge`` so the detector module holds the detection logic
(keys, priors, the null model, judging) and this one the per-key record:
``_Issuer`` (members with their youth and suspicion flags, institutions,
certificate kinds, seal types and reasons, LRU-bounded file hashes) and
``touch``, which files one event's certificates -- seal rules, reused scans,
the new complainant's weight -- under the detector's bounds.

The record is compact on purpose (issue #6: <= 1 KB per tracked key): a
flood of distinct issuers keeps ``max_keys`` of them, nearly all seen once.
So a key seen once holds its founder as one tuple, its event id as a bare
str and no rate model (made at the second complainant, replaying the
founder's zero); small maps are flat lists (a one-entry dict is 184 bytes, a
two-item list 72): institutions ``[name, last ts, ...]``, certificates
``[kind, seal type, count, ...]``, scan hashes ``[32 bytes, first filer,
...]``; event ids are a list trimmed to ``max_event_ids`` (a deque allocates
a 64-slot block for one id); seal reasons a dict made at the first reason.
The readers go through ``member_recs`` / ``member_ids`` / ``event_ids`` /
``has_event`` / ``rate_model`` / ``cert_counts``. Older checkpoints (dicts, a
deque, a rate model from the start) are converted on load.

Checkpoints pickle ``_Issuer`` by the path of its class; older ones name
``detectors.issuer_surge._Issuer``, which ``issuer_surge`` re-exports.
"""
from __future__ import annotations

import sys
from collections import deque
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from detectors.agent_state import _last_seen  # the same last-seen LRU rule for institutions
from detectors.base import SlotState
from detectors.rates import RateModel
from detectors.seals import normalise_issuer, seal_reasons, split_seal
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.issuer_surge import IssuerSurge


def _flat(d: dict | list | None) -> list | None:
    """A ``{name: value}`` dict of an older checkpoint as a flat pair list (None if empty)."""
    if isinstance(d, dict):
        return [x for kv in d.items() for x in kv] or None
    return d


def _tally(certs: list | None, kind: str, seal_type: str) -> list:
    """Count one certificate in a flat ``[kind, seal type, count, ...]`` list
    (first-seen order); returns the list (a new one for the first)."""
    if not certs:
        return [kind, seal_type, 1]  # a literal list is allocated exactly
    for i in range(0, len(certs), 3):  # a key has a few (kind, seal type) pairs
        if certs[i] == kind and certs[i + 1] == seal_type:
            certs[i + 2] += 1
            return certs
    certs += (kind, seal_type, 1)
    return certs


def cert_counts(certs: list | None) -> tuple[dict[str, int], dict[str, int]]:
    """Certificates by kind and by seal type, from ``_Issuer.certs`` (a None half,
    from an older checkpoint that kept the two apart, counts in the other only)."""
    kinds: dict[str, int] = {}
    seal_types: dict[str, int] = {}
    for i in range(0, len(certs) if certs else 0, 3):
        kind, st, n = certs[i:i + 3]
        if kind is not None:
            kinds[kind] = kinds.get(kind, 0) + n
        if st is not None:
            seal_types[st] = seal_types.get(st, 0) + n
    return kinds, seal_types


class _Issuer(SlotState):
    """State of one (class, issuer) key (see the module doc for the layout)."""

    __slots__ = ("cls", "display", "members", "insts", "events", "rate", "certs", "reasons", "shas",
                 "reused", "first_ts", "last_ts", "n_events", "fired")

    def __init__(self, cls: str, display: str | None, ts: float) -> None:
        self.cls = cls
        self.display = display
        # complainant -> [first_ts, last_ts, young (1/0/-1 unknown), flags (1 implausible seal, 2 reused scan)];
        # the founder alone as one (complainant, first_ts, last_ts, young, flags) tuple until the key's
        # second event (a dict and a list are 272 bytes, the tuple 80); None before the first
        self.members: dict[str, list] | tuple | None = None
        self.insts: list = []  # [institution, last ts, ...], first-seen order (at most max_insts)
        # the last max_event_ids event ids, oldest first; the first alone as a bare str (a list is 64 bytes more)
        self.events: list[str] | str | None = None
        # made at the second complainant (rate_model): until then it would hold only the founder's zero
        self.rate: RateModel | None = None
        # certificates by (kind, seal type): [kind, seal type, count, ...] (one list, not two dicts)
        self.certs: list | None = None
        self.reasons: dict[str, int] | None = None  # reason -> certificates (None until the first)
        # [sha_key(sha256), first complainant that filed it, ...], least recently seen first
        self.shas: list | None = None
        self.reused = 0  # certificates whose file another complainant filed before
        self.first_ts = ts
        self.last_ts = ts
        self.n_events = 0
        self.fired = 0  # distinct complainants at the last finding (0: never fired)

    def rate_model(self, bucket: float, max_recent: int) -> RateModel:
        """The key's rate model, made on first need as it would have been at the
        founding event: the founder counts 0 at ``first_ts`` (given, not evidence; see ``touch``)."""
        rm = self.rate
        if rm is None:
            rm = self.rate = RateModel(bucket_seconds=bucket, max_recent=max_recent)
            rm.add(self.first_ts, 0.0)
        return rm

    def event_ids(self) -> list[str]:
        """The last ``max_event_ids`` event ids, oldest first (a new list)."""
        ids = self.events
        if isinstance(ids, str):
            return [ids]
        return list(ids) if ids else []

    def has_event(self, event_id: str) -> bool:
        """Is ``event_id`` among the kept ids (a re-delivery)?"""
        ids = self.events
        if isinstance(ids, str):
            return ids == event_id  # not ``in``: that would test for a substring
        return bool(ids) and event_id in ids

    def member_recs(self) -> Collection[Sequence]:
        """The ``[first_ts, last_ts, young, flags]`` records of the members."""
        m = self.members
        if isinstance(m, tuple):
            return [m[1:]]
        return m.values() if m else []

    def member_ids(self) -> Collection[str]:
        """The members' complainant ids."""
        m = self.members
        if isinstance(m, tuple):
            return [m[0]]
        return m if m else []

    def __setstate__(self, state: dict) -> None:
        # older checkpoints: the founder's weight (never read), dicts for the small maps, a deque of event ids
        state = {k: v for k, v in state.items() if k != "w_first"}
        if "kinds" in state:  # kinds and seal types counted apart: each half with None for the other
            kinds, seal_types = state.pop("kinds"), state.pop("seal_types")
            state["certs"] = [x for k, n in kinds.items() for x in (k, None, n)] + [
                x for st, n in seal_types.items() for x in (None, st, n)] or None
        super().__setstate__(state)
        self.insts = _flat(self.insts) or []
        shas = _flat(self.shas)
        if shas:
            shas[0::2] = [sha_key(x) if isinstance(x, str) else x for x in shas[0::2]]  # hex str -> bytes
        self.shas = shas
        if not self.reasons:
            self.reasons = None
        if isinstance(self.events, deque):
            self.events = list(self.events)


def touch(det: IssuerSurge, a: _Issuer, event: Event, ats: list) -> float | None:
    """Record one event's certificates. None if no new complainant; else what
    the key's open bucket held before (-1 for the founding complainant)."""
    ts, who = event.ts, event.complainant
    det.certificates_total += len(ats)
    a.last_ts = max(a.last_ts, ts)
    a.n_events += 1
    ids = a.events
    if ids is None:
        a.events = event.event_id
    else:
        if isinstance(ids, str):
            ids = a.events = [ids, event.event_id]
        else:
            ids.append(event.event_id)
        if len(ids) > det.max_event_ids:
            del ids[0]
    reasons: set[str] = set()
    reused = False
    for at in ats:
        seal = normalise_issuer(at.seal_text)
        stype = split_seal(seal)[1] if seal else ""
        a.certs = _tally(a.certs, at.kind, stype or ("none" if not seal else "other"))
        rs = seal_reasons(at.kind, at.issuer, at.seal_text)
        if rs:
            tally = a.reasons
            if tally is None:
                tally = a.reasons = {}
            for r in rs:
                tally[r] = tally.get(r, 0) + 1
            reasons.update(rs)
        if at.sha256:
            if _file_sha(a, sha_key(at.sha256), who, det.max_shas):
                reused = True
                a.reused += 1
    flags = (1 if reasons else 0) | (2 if reused else 0)
    grew = _file_member(det, a, event, flags, reused)
    if a.insts:
        _last_seen(a.insts, event.institution, ts, det.max_insts)
    else:  # a literal list is allocated exactly; names interned as _last_seen does
        a.insts = [sys.intern(event.institution), ts]
    return grew


def _file_member(det: IssuerSurge, a: _Issuer, event: Event, flags: int, reused: bool) -> float | None:
    """File the event's complainant (see ``touch`` for what is returned)."""
    ts, who = event.ts, event.complainant
    members = a.members
    if members is None:
        # the founding complainant (the key's first event) is why the key exists (given, not
        # evidence): the rate model counts only the weight of the complainants after it, and
        # is made with the second (rate_model replays the founder's zero). Kept compact.
        young = det._weight(a.cls, event.age, bool(flags & 1), reused)[1]
        a.members = (who, ts, ts, young, flags)
        return -1.0
    if isinstance(members, tuple):  # the compact founder: a dict from the key's second event on
        members = a.members = {members[0]: list(members[1:])}
    lo = ts - det.window
    if members and next(iter(members.values()))[1] < lo:  # oldest-seen first
        for m in [m for m, rec in members.items() if rec[1] < lo]:
            del members[m]
    grew: float | None = None
    rec = members.pop(who, None)
    if rec is None:
        w, young = det._weight(a.cls, event.age, bool(flags & 1), reused)
        rec = [ts, ts, young, flags]
        grew = a.rate_model(det.bucket, det.max_recent).add(ts, w)
        if len(members) >= det.max_members:
            del members[next(iter(members))]
    else:
        rec[1] = max(rec[1], ts)
        rec[3] |= flags
    members[who] = rec  # most recently seen last
    return grew


def sha_key(sha256: str) -> bytes | str:
    """How a scan hash is kept: normalised (stripped, lower case), and a
    64-hex-digit one as its 32 bytes (65 bytes of memory instead of 113).
    One-to-one: ``fromhex`` skips whitespace, but 64 characters give 32 bytes
    only if all are hex digits; anything else stays a str, never equal to bytes."""
    sha = sha256.strip().lower()
    if len(sha) == 64:
        try:
            raw = bytes.fromhex(sha)
        except ValueError:
            return sha
        if len(raw) == 32:
            return raw
    return sha


def _file_sha(a: _Issuer, sha: bytes | str, who: str, cap: int) -> bool:
    """File one certificate's scan hash as most recently seen (at most ``cap``
    hashes, least recently seen dropped first); True if another complainant
    filed it before. The search strides over the hashes only: a hash that is
    not 64 hex digits stays a str and could equal a complainant id."""
    shas = a.shas
    first = None
    if shas:
        try:
            j = 2 * shas[0::2].index(sha)
        except ValueError:
            pass
        else:
            first = shas[j + 1]
            del shas[j:j + 2]
    keep = first if first is not None else who
    if shas:
        shas.append(sha)
        shas.append(keep)
        if len(shas) > 2 * cap:
            del shas[:2]
    else:  # a literal list is allocated exactly
        a.shas = [sha, keep]
    return first is not None and first != who
