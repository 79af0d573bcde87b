"""Per-template state of ``template_surge``: the ``_Cluster`` slots class (its
compact one-complainant layout and the expanded one are described on it),
the family class ``FAMILY`` and ``_seen``. Moved out of
``detectors.template_surge``, which re-exports the names (older checkpoints
pickled ``_Cluster`` there).
"""
from __future__ import annotations

import numpy as np

from detectors.base import SlotState
from detectors.rates import RateModel

__all__ = ["FAMILY"]


class _Cluster(SlotState):
    """One template: its representative signature and who used it.

    Most clusters only ever see one complainant (a genuine letter), so until a
    second one (or a second institution) turns up, the state is compact: ``sig``
    is ``pack_sig`` bytes (older checkpoints: an array), ``members`` is the
    complainant as a bare string and ``insts`` the institution as a bare string
    (both last seen at ``last_ts``) -- or, when an out-of-order copy left the
    institution's time behind ``last_ts`` (and in older checkpoints), ``members``
    is one tuple ``(complainant, institution, institution_ts)`` with ``insts``
    None -- and ``events`` is the one event id as a bare string. ``TemplateSurge._touch`` expands them to
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
        # and a cached ``key`` (a hash of sig: ``TemplateSurge._key_of`` makes it)
        state = dict(state)
        state.pop("key", None)
        if state.pop("family", False):
            state["cls"] = FAMILY
        super().__setstate__(state)


FAMILY = -1  # a paraphrase family's class: the last population prior



def _seen(c: _Cluster, event_id: str) -> bool:
    """Is ``event_id`` among the cluster's kept event ids (a re-delivery)?"""
    ev = c.events
    if ev is None:
        return False
    if type(ev) is str:  # one id, stored bare (``in`` would test for a substring)
        return ev == event_id
    return event_id in ev
