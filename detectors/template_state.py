"""Per-template state of ``template_surge``, and how a use updates it.

The ``_Cluster`` slots class (its compact one-complainant layout and the
expanded one are described on it), the family class ``FAMILY``, ``_seen``
(re-delivery check), ``class_priors`` (the population prior of each class)
and ``touch``, which records one use of a cluster under the detector's bounds. Moved out of ``detectors.template_surge``, which
re-exports ``_Cluster`` and ``FAMILY`` (older checkpoints pickled ``_Cluster``
there).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from detectors.base import SlotState
from detectors.rates import PopulationPrior, RateModel
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.template_surge import TemplateSurge

__all__ = ["FAMILY", "class_priors", "touch"]


class _Cluster(SlotState):
    """One template: its representative signature and who used it.

    Most clusters only ever see one complainant (a genuine letter), so until a
    second one (or a second institution) turns up, the state is compact: ``sig``
    is ``pack_sig`` bytes (older checkpoints: an array), ``members`` is the
    complainant as a bare string and ``insts`` the institution as a bare string
    (both last seen at ``last_ts``) -- or, when an out-of-order copy left the
    institution's time behind ``last_ts`` (and in older checkpoints), ``members``
    is one tuple ``(complainant, institution, institution_ts)`` with ``insts``
    None -- and ``events`` is the one event id as a bare string. ``touch`` expands them to
    the dicts and list below, which is all ``_judge`` ever sees (it runs only
    from the second complainant on).
    """

    __slots__ = ("sig", "first_ts", "last_ts", "members", "insts", "events", "rate", "n_events", "sim_sum",
                 "length", "cls", "fired")

    def __init__(self, sig: np.ndarray | bytes, ts: float, length: int) -> None:
        self.sig = sig
        self.first_ts = ts
        self.last_ts = ts
        self.members: dict[str, float] | tuple | None = None  # complainant -> last seen (see above)
        self.insts: dict[str, float] | None = None
        self.events: list | str | None = None  # last event ids (a deque in older checkpoints)
        self.rate: RateModel | None = None  # created with the second complainant
        self.n_events = 0
        self.sim_sum = 0.0  # similarity of joining members to the representative
        self.length = length
        self.cls = 0  # length class (which population prior); FAMILY (-1, the last prior) for a family
        self.fired = 0  # distinct complainants at the last finding (0: never fired)

    @property
    def family(self) -> bool:
        """A paraphrase family (rare-content tier), not a near-duplicate cluster."""
        return self.cls < 0

    def __setstate__(self, state: dict) -> None:
        # older checkpoints: a ``family`` flag (the family prior was the last class)
        # and a cached ``key`` (a hash of sig: ``template_findings.template_key`` makes it)
        state = dict(state)
        state.pop("key", None)
        if state.pop("family", False):
            state["cls"] = FAMILY
        super().__setstate__(state)


FAMILY = -1  # a paraphrase family's class: the last population prior


def class_priors(prior: float, dispersion: float, r_min: float, rare_dispersion: float, bucket: float,
                 n_lengths: int) -> list[PopulationPrior]:
    """One population prior per masked-length class (``n_lengths`` of them), then the
    paraphrase families' (``FAMILY``, the last).

    Short boilerplate is shared by unrelated people far more often than a long letter
    is, so each length class learns its own rate. Rare content is by construction
    rarely shared, so a family's null is close to Poisson: the over-dispersion floor is
    high (a mixture of organic near-misses must not teach it that bursts are normal).
    """
    priors = [PopulationPrior(prior, dispersion, bucket_seconds=bucket, floor=prior, r_min=r_min)
              for _ in range(n_lengths)]
    priors.append(PopulationPrior(prior, rare_dispersion, bucket_seconds=bucket, floor=prior, r_min=rare_dispersion))
    return priors



def _seen(c: _Cluster, event_id: str) -> bool:
    """Is ``event_id`` among the cluster's kept event ids (a re-delivery)?"""
    ev = c.events
    if ev is None:
        return False
    if type(ev) is str:  # one id, stored bare (``in`` would test for a substring)
        return ev == event_id
    return event_id in ev


def touch(det: TemplateSurge, c: _Cluster, event: Event, sim: float) -> float | None:
    """Record one use of ``c`` under the detector's bounds (window, member /
    institution / event-id caps). If it added a complainant other than the
    founder, return what the cluster's open bucket held before; else None."""
    ts = event.ts
    prev_last = c.last_ts
    c.last_ts = max(prev_last, ts)
    n_before = c.n_events
    c.n_events = n_before + 1
    # (0.0 + sim is sim: the founder's sum is the caller's float, not a new one)
    c.sim_sum = sim if n_before == 0 else c.sim_sum + sim
    # one id as the bare string, then a plain list (a deque is ~600 B): most
    # templates keep one id
    ev = c.events
    if ev is None:
        c.events = event.event_id
    else:
        if type(ev) is str:
            ev = c.events = [ev]
        ev.append(event.event_id)
        if len(ev) > det.max_event_ids:
            del ev[0]
    m = c.members
    if m is None or type(m) is not dict:
        # compact while one complainant at one institution (see _Cluster)
        inst = sys.intern(event.institution)
        if type(m) is str:  # (complainant, institution, institution_ts) in two bare strings
            m = (m, c.insts, prev_last)
        if det.max_members >= 1 and det.max_insts >= 1 and (
                m is None  # the founder
                or (m[0] == event.complainant and m[1] == inst and prev_last >= ts - det.window)):
            # the founder (again, at the same institution), there at ts
            who = event.complainant if m is None else m[0]
            if ts >= prev_last:  # ts is last_ts: two strings, no tuple
                c.members, c.insts = who, inst
            else:
                c.members, c.insts = (who, inst, ts), None
            return None
        # anything else: expand (the founder was last seen at prev_last) and go on as ever
        c.members, c.insts = ({}, {}) if m is None else ({m[0]: prev_last}, {m[1]: m[2]})
    if event.institution not in c.insts and len(c.insts) >= det.max_insts:
        del c.insts[min(c.insts, key=c.insts.__getitem__)]
    c.insts[sys.intern(event.institution)] = ts  # interned: clusters at one bank share the name
    members = c.members
    lo = ts - det.window
    if members and next(iter(members.values())) < lo:
        for m in [m for m, last in members.items() if last < lo]:
            del members[m]
    who = event.complainant
    prev = members.pop(who, None)
    members[who] = ts if prev is None else max(prev, ts)
    if prev is not None:
        return None
    if len(members) > det.max_members:
        del members[next(iter(members))]
    rate = c.rate
    if rate is None:
        if c.n_events == 1:
            return None  # the founder: see below
        # Made with the second complainant, not the founder (most templates
        # never get one, and a RateModel is ~1 KB), replaying what the founder
        # would have done to it first, so the state is the same.
        rate = c.rate = RateModel(bucket_seconds=det.bucket)
        if c.family:
            # a family's founder is why it exists: not an arrival to test, and
            # counting it would put a 1 into the baseline's first bucket, teaching
            # a slow campaign (2-6 letters a day) that a letter a day is normal
            rate.advance(c.first_ts)
        else:
            rate.add(c.first_ts, 1.0)  # near-duplicates condition on it instead (given=1)
    return rate.add(ts, 1.0)
