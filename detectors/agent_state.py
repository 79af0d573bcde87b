"""agent_state: the state ``AgentSurge`` keeps per tracked contact point, and how a sighting updates it.

Split out of ``agent_surge`` so the detector module holds the detection logic
(keys, priors, judging) and this one the compact per-key record: ``_Agent``
(slots, flat ``[name, ts, ...]`` lists, shared role tuples, loading of older
checkpoint layouts) and ``touch``, which records one sighting under the
detector's bounds (window, member / institution / channel / event-id caps).

Checkpoints pickle ``_Agent`` by the path of its class; older ones name
``detectors.agent_surge._Agent``, which ``agent_surge`` re-exports.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from detectors.base import SlotState
from detectors.rates import RateModel

if TYPE_CHECKING:
    from detectors.agent_surge import AgentSurge


def _last_seen(pairs: list, value: str, ts: float, cap: int) -> bool:
    """Set ``value``'s last-seen time in a flat ``[name, ts, name, ts, ...]`` list
    (first-seen order); True if it is new. At ``cap`` names the least recently
    seen one (the first of equals) makes room -- a dict's behaviour in a third
    of its memory, for the one to three names a key usually has."""
    try:
        i = pairs.index(value)  # names are str, times float: a name never matches a time
    except ValueError:
        if len(pairs) >= 2 * cap:
            times = pairs[1::2]
            j = 2 * times.index(min(times))
            del pairs[j:j + 2]
        pairs.append(sys.intern(value))
        pairs.append(ts)
        return True
    pairs[i + 1] = ts
    return False


#: Shared role tuples: nearly every key has the same one or two, so keys share
#: them instead of holding a copy each (bounded: past it, tuples are not shared).
_ROLE_SETS: dict[tuple[str, ...], tuple[str, ...]] = {}
_MAX_ROLE_SETS = 256


def _with_role(roles: tuple[str, ...], role: str) -> tuple[str, ...]:
    t = (*roles, role)
    shared = _ROLE_SETS.get(t)
    if shared is None and len(_ROLE_SETS) < _MAX_ROLE_SETS:
        shared = _ROLE_SETS[t] = t
    return shared or t


def _last(rec) -> float:
    """Last-seen time of a member record: ``(first, last)`` or one time."""
    return rec[1] if isinstance(rec, tuple) else rec


def _flat(d) -> list:
    """A ``{name: ts}`` dict of an older checkpoint as a flat pair list."""
    if isinstance(d, dict):
        return [x for kv in d.items() for x in kv]
    return d


class _Agent(SlotState):
    """State of one tracked contact point.

    Compact on purpose (a flood can bring ``max_keys`` of them): institutions
    and channels as flat ``[name, last ts, ...]`` lists, roles as a shared
    tuple of names, event ids as a list trimmed to ``max_event_ids``, members
    as ``complainant -> (first ts, last ts)`` (just the ts while both agree).
    """

    __slots__ = ("kind", "members", "insts", "chans", "events", "rate", "roles", "first_ts", "last_ts", "n_events",
                 "fired", "own_line")
    _SLOT_DEFAULTS = {"chans": [], "own_line": False}  # absent from version-1 checkpoints

    def __init__(self, kind: str, ts: float, bucket: float, max_event_ids: int | None = None) -> None:
        self.kind = kind
        # complainant -> (first_ts, last_ts), or the one ts while they are equal (a tuple less per member)
        self.members: dict[str, tuple[float, float] | float] = {}
        self.insts: list = []  # [institution, last ts, ...]
        self.chans: list = []  # [channel, last ts, ...]
        self.events: list[str] = []  # the last max_event_ids event ids
        self.rate = RateModel(bucket_seconds=bucket)
        self.roles: tuple[str, ...] = ()  # roles the contact was given in, first-seen order
        self.first_ts = ts
        self.last_ts = ts
        self.n_events = 0
        self.fired = 0  # distinct complainants at the last finding (0: never fired)
        self.own_line = False  # was judged an institution's own line (counted once)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        # older checkpoints: dicts, a deque and role counts
        self.insts, self.chans = _flat(self.insts), _flat(self.chans)
        if not isinstance(self.events, list):
            self.events = list(self.events)
        for m, rec in self.members.items():
            if isinstance(rec, list):
                self.members[m] = tuple(rec)  # [first, last] lists
        if not isinstance(self.roles, tuple):
            roles: tuple[str, ...] = ()
            for r in self.roles:
                roles = _with_role(roles, r)
            self.roles = roles


def touch(det: AgentSurge, a: _Agent, who: str, ts: float, event_id: str, inst: str, channel: str, role: str) -> float | None:
    """Record one sighting. None if nothing new; else what the key's open
    bucket held before a new extra complainant, or -1 for a new
    institution / channel / the founding complainant only."""
    a.last_ts = max(a.last_ts, ts)
    a.n_events += 1
    events = a.events
    if events:
        events.append(event_id)
        if len(events) > det.max_event_ids:
            del events[0]
    else:  # a literal list is allocated exactly
        a.events = [event_id]
    if role not in a.roles:
        a.roles = _with_role(a.roles, role)
    members = a.members
    # forget complainants not seen within the window
    lo = ts - det.window
    if members and _last(next(iter(members.values()))) < lo:  # oldest-seen first
        for m in [m for m, rec in members.items() if _last(rec) < lo]:
            del members[m]
    grew: float | None = None
    rec = members.pop(who, None)
    if rec is None:
        founding = not members and a.rate.cur is None
        rec = ts
        before = a.rate.add(ts, 1.0)
        grew = -1.0 if founding else before
        if len(members) >= det.max_members:
            del members[next(iter(members))]
    else:
        first = rec[0] if isinstance(rec, tuple) else rec
        last = max(_last(rec), ts)
        rec = first if last == first else (first, last)
    members[who] = rec  # most recently seen last
    # names are interned: every key seen at one bank then holds the same string
    if not a.insts:
        a.insts = [sys.intern(inst), ts]
        grew = -1.0 if grew is None else grew
    elif _last_seen(a.insts, inst, ts, det.max_insts) and grew is None:
        grew = -1.0
    if not a.chans:
        a.chans = [sys.intern(channel), ts]
        grew = -1.0 if grew is None else grew
    elif _last_seen(a.chans, channel, ts, det.max_channels) and grew is None:
        grew = -1.0
    return grew
