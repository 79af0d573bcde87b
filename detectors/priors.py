"""What keys *of a kind* normally do: the population prior and its lazy exposure clock.

``PopulationPrior`` -- e.g. "a representative phone gains 0.003 extra
complainants a day": arrivals over exposure (key-buckets) across the whole
population of such keys, with a Gamma-Poisson dispersion from the second
moment, blended with a default, decayed in event time, winsorised, and fed
only by keys not (yet) flagged, so a few campaigns cannot teach it that
campaigns are normal. A brand-new key is judged against it
(``detectors.rates.RateModel.baseline``).

``expose_all`` and ``ExposureClock`` advance several priors as event time
moves on, with the same arithmetic as ``PopulationPrior.expose`` (bit for
bit), the clock lazily: the work happens when a prior is read.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = ["PopulationPrior", "expose_all", "ExposureClock"]

class PopulationPrior:
    """Gamma-Poisson prior of per-key arrivals per bucket, for one kind of key.

    "What does a key of this kind normally do?" -- estimated from the whole
    population of such keys: arrivals over exposure (key-buckets), with the
    second moment of per-key bucket counts giving the over-dispersion ``r``
    (rates differ between keys: most contacts never act for a second person,
    a few lawyers do every week). Both sums decay with event time
    (``halflife`` seconds) and are blended with the default (``mean``, ``r``)
    through ``weight`` pseudo key-buckets.

    Robustness: a key contributes at most ``clip`` arrivals per bucket, and
    callers stop reporting arrivals of keys they have already flagged, so
    campaigns do not teach the prior that campaigns are normal. ``get()``
    never returns a mean below ``floor`` or a dispersion below ``r_min``
    (a smaller ``r`` means a heavier tail).

    Feed it with ``expose(ts, n_keys)`` (the population size as event time
    passes) and ``arrival(count_before)`` (one arrival at a key whose open
    bucket already held ``count_before``).
    """

    def __init__(
        self,
        mean: float,
        r: float = 1.0,
        *,
        bucket_seconds: float = 86400.0,
        weight: float = 2000.0,
        halflife: float = 30 * 86400.0,
        clip: float = 2.0,
        floor: float | None = None,
        r_min: float = 0.5,
    ) -> None:
        self.default_mean = float(mean)
        self.default_r = float(r)
        self.bucket_seconds = float(bucket_seconds)
        self.weight = float(weight)
        self.halflife = float(halflife)
        self.clip = float(clip)
        self.floor = float(floor if floor is not None else mean)
        self.r_min = float(r_min)
        self.s_c = 0.0  # arrivals (decayed)
        self.s_c2 = 0.0  # sum of squared per-key bucket counts (decayed)
        self.s_e = 0.0  # exposure in key-buckets (decayed)
        self.t: float | None = None  # event time the sums refer to

    #: Lazy exposure (see ``ExposureClock``): the clock whose event times this
    #: prior still owes an ``expose``, the index of the first one owed, and the
    #: key count those steps use. Class-level defaults: a prior of an older
    #: checkpoint (or one exposed by hand) has no clock.
    clock: ExposureClock | None = None
    pos: int = 0
    n_keys: float = 0

    def catch_up(self) -> None:
        """Apply every ``expose`` the clock has owed this prior since it was last read.

        Step by step with the arithmetic of :meth:`expose` (and ``expose_all``),
        in the same order, so the sums are bit for bit those of eager exposure:
        decay factors of successive steps are *not* merged (``0.5 ** a * 0.5 ** b``
        is not ``0.5 ** (a + b)`` in floating point).
        """
        clock = self.clock
        if clock is None:
            return
        times = clock.times
        i, end = self.pos, len(times)
        if i >= end:
            return
        self.pos = end
        t = self.t
        if t is None:  # the first exposure only sets the time
            t = times[i]
            i += 1
        n = self.n_keys
        if not n and self.s_e == 0.0 and self.s_c == 0.0 and self.s_c2 == 0.0:
            self.t = times[end - 1]  # zeros stay zeros: nothing else would change
            return
        hl, bs = self.halflife, self.bucket_seconds
        s_c, s_c2, s_e = self.s_c, self.s_c2, self.s_e
        # a for loop over a slice (one C copy) rather than indexing: this runs once per
        # prior per event, and the loop bookkeeping was a third of a step's cost
        for ts in times[i:end]:
            dt = ts - t
            if dt <= 0.0:
                continue
            decay = 0.5 ** (dt / hl)
            s_c *= decay
            s_c2 *= decay
            s_e = s_e * decay + n * dt / bs
            t = ts
        self.s_c, self.s_c2, self.s_e, self.t = s_c, s_c2, s_e, t

    def set_keys(self, n_keys: float) -> None:
        """The population size changes *now* (after the clock's latest time):
        settle what is owed at the old size first."""
        clock = self.clock
        if clock is not None and self.pos < len(clock.times):
            self.catch_up()
        self.n_keys = n_keys

    def expose(self, ts: float, n_keys: float) -> None:
        """Advance to event time ``ts`` with ``n_keys`` keys alive since the last call."""
        if self.clock is not None:
            raise RuntimeError("this prior is exposed by its ExposureClock; tick the clock instead")
        if self.t is None:
            self.t = ts
            return
        dt = ts - self.t
        if dt <= 0.0:
            return
        decay = 0.5 ** (dt / self.halflife)
        self.s_c *= decay
        self.s_c2 *= decay
        self.s_e = self.s_e * decay + n_keys * dt / self.bucket_seconds
        self.t = ts

    def arrival(self, count_before: float = 0.0) -> None:
        """One arrival at a key whose current bucket held ``count_before``."""
        clock = self.clock
        if clock is not None and self.pos < len(clock.times):
            self.catch_up()
        if count_before < self.clip:
            self.s_c += 1.0
            self.s_c2 += 2.0 * count_before + 1.0  # (c+1)^2 - c^2

    def get(self) -> tuple[float, float]:
        """(mean, var) per bucket for a key with no history of its own."""
        clock = self.clock
        if clock is not None and self.pos < len(clock.times):
            self.catch_up()
        m0, r0, w = self.default_mean, self.default_r, self.weight
        e2_0 = m0 + m0 * m0 * (1.0 + 1.0 / r0)  # E[X^2] of the default NB
        m = (self.s_c + w * m0) / (self.s_e + w)
        e2 = (self.s_c2 + w * e2_0) / (self.s_e + w)
        excess = e2 - m * m - m  # var - mean
        r = m * m / excess if excess > 0 else math.inf
        r = max(r, self.r_min)
        m = max(m, self.floor)
        return m, m + m * m / r

    def __repr__(self) -> str:
        m, v = self.get()
        return f"PopulationPrior(mean={m:.4g}, var={v:.4g}, exposure={self.s_e:.4g})"


def expose_all(
    priors: Mapping[str, PopulationPrior] | Iterable[PopulationPrior],
    ts: float,
    counts: Mapping[str, float] | None = None,
    default: float = 0,
) -> None:
    """``expose(ts, n)`` for several priors at one event time, cheaply.

    Detectors expose every prior they keep each time event time moves on
    (exposure is key-time, and it decays), i.e. on nearly every event. This is
    the same arithmetic as :meth:`PopulationPrior.expose` -- bit for bit, so
    results do not change -- with the decay factor computed once for priors
    sharing a time step and half-life, and priors with nothing to decay and no
    keys (kinds never seen yet) only moved to ``ts``. ``priors`` is a mapping
    (then ``n`` is ``counts.get(name, default)``) or an iterable (``n`` is
    ``default``).
    """
    if isinstance(priors, dict) or isinstance(priors, Mapping):  # the plain-dict check first: the ABC one is slow
        items = priors.items()
    else:
        items = ((None, p) for p in priors)
    last_dt = last_hl = decay = None
    for name, p in items:
        t = p.t
        if t is None:
            p.t = ts
            continue
        dt = ts - t
        if dt <= 0.0:
            continue
        n = default if counts is None else counts.get(name, default)
        if not n and p.s_e == 0.0 and p.s_c == 0.0 and p.s_c2 == 0.0:
            p.t = ts  # zeros stay zeros: nothing else would change
            continue
        hl = p.halflife
        if dt != last_dt or hl != last_hl:
            decay = 0.5 ** (dt / hl)
            last_dt, last_hl = dt, hl
        p.s_c *= decay
        p.s_c2 *= decay
        p.s_e = p.s_e * decay + n * dt / p.bucket_seconds
        p.t = ts


class ExposureClock:
    """Lazy, exact exposure of a detector's priors: ``tick(ts)`` per event, arithmetic on read.

    Why: a detector exposes every prior it keeps whenever event time moves on
    -- on nearly every event -- but reads a prior (``get``, ``arrival``) only
    when a key is judged or learns, and the key count behind a prior changes
    only when a key of its kind is created or evicted. So the clock just
    records the event times; a prior replays the steps it is owed
    (:meth:`PopulationPrior.catch_up`, the eager arithmetic step by step, so
    results are bit for bit the same) when it is read or its key count is
    about to change (:meth:`PopulationPrior.set_keys`). ``cap`` bounds the
    recorded times: past it every prior catches up and the log restarts from
    the latest time. The clock and its priors pickle together (one object
    graph), so a checkpoint keeps what is still owed.
    """

    def __init__(self, cap: int = 1024) -> None:
        self.cap = cap
        self.times: list[float] = []  # event times owed; times[p.pos - 1] is prior p's own time
        self.priors: list[PopulationPrior] = []

    @classmethod
    def resume(cls, now: float, priors: Iterable[tuple[PopulationPrior, float]]) -> "ExposureClock":
        """A clock for priors restored from a checkpoint of *eager* exposure.

        Such priors were exposed up to the detector's last event time ``now``
        (``-inf`` before any event); each joins with its key count.
        """
        clock = cls()
        if now != -math.inf:
            clock.times.append(now)
        for prior, n_keys in priors:
            clock.attach(prior, n_keys)
        return clock

    def attach(self, prior: PopulationPrior, n_keys: float = 0) -> PopulationPrior:
        """Expose ``prior`` from now on at the clock's times with ``n_keys`` keys.

        Its own time must be the clock's latest time, as it is for a prior
        exposed at that time, or None: then, as with ``expose``, its first
        exposure (the next tick) only sets its time.
        """
        if prior.clock is self:
            return prior
        prior.catch_up()
        times = self.times
        if times and prior.t is not None and prior.t != times[-1]:
            raise ValueError("a prior joins a clock at the clock's latest time")
        prior.clock, prior.pos, prior.n_keys = self, len(times), n_keys
        self.priors.append(prior)
        return prior

    def tick(self, ts: float) -> None:
        """Event time has moved on to ``ts`` (callers tick only forwards)."""
        times = self.times
        times.append(ts)
        if len(times) > self.cap:
            self.settle()

    def settle(self) -> None:
        """Bring every prior up to date and restart the log from the latest time."""
        for p in self.priors:
            p.catch_up()
        if self.times:
            self.times = [self.times[-1]]
            for p in self.priors:
                p.pos = 1
