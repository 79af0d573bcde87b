"""The surge-rate model shared by the detectors (and the NAB benchmark script).

Three small pieces:

* **Tail probabilities** -- ``poisson_sf`` and ``nbinom_sf`` give
  ``P[X >= k]`` computed in log space with ``math.lgamma`` (no scipy), and
  ``surprise(k, mean, var)`` turns that into a score ``-log10 p``, using the
  negative binomial when the variance exceeds the mean (over-dispersion:
  bursty keys, lawyers with several clients) and the Poisson otherwise.
  Gaussian z-scores are useless at the counts we see (0, 1, 2, 3 ...).

* **PopulationPrior** -- what keys *of a kind* normally do per bucket (e.g.
  "a representative phone gains 0.003 extra complainants a day"): arrivals
  over exposure (key-buckets) across the whole population of such keys, with
  a Gamma-Poisson dispersion from the second moment, blended with a default,
  decayed in event time, winsorised, and fed only by keys not (yet) flagged,
  so a few campaigns cannot teach it that campaigns are normal. A brand-new
  key is judged against it.

* **RateModel** -- one key's event-time bucketed counts: the open bucket, a
  river ``EWMean``/``EWVar`` baseline of closed bucket counts (idle buckets are
  fed as zeros, capped), and the last few arrivals for exact sliding-window
  sums. ``score(ts, scales, prior)`` tests the sliding-window sum at several
  window lengths against the baseline shrunk towards the prior and returns
  the most surprising one (Bonferroni-corrected for the number of windows).

Everything runs on event time supplied by the caller, and every object
pickles (plain attributes and river statistics).

Generic use on a (timestamp, value) series (the NAB script)::

    prior = PopulationPrior(mean=typical_per_bucket, r=1.0, bucket_seconds=3600)
    rm = RateModel(bucket_seconds=3600)
    for ts, value in series:
        rm.add(ts, value)
        score = rm.score(ts, scales=(3600, 6 * 3600), prior=prior).score

(without a prior a key with no closed bucket has a zero baseline, and any
value is infinitely surprising).
"""
from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from detectors.base import SlotState

__all__ = [
    "LOG10E",
    "MAX_SCORE",
    "poisson_logsf",
    "nbinom_logsf",
    "poisson_sf",
    "nbinom_sf",
    "surprise",
    "PopulationPrior",
    "expose_all",
    "ExposureClock",
    "RateModel",
    "Surprise",
]

LOG10E = math.log10(math.e)
MAX_SCORE = 300.0  # -log10 of the smallest p we report (beyond double precision)
_TAIL_TERMS = 4000
_TAIL_EPS = 1e-16


def poisson_logsf(k: float, mu: float) -> float:
    """natural log of P[X >= k] for X ~ Poisson(mu)."""
    k = math.ceil(k - 1e-9)
    if k <= 0:
        return 0.0
    if mu <= 0.0:
        return -math.inf
    if k <= mu:  # the bulk: 1 - cdf is not small, sum the left part
        if mu < 600.0:  # pmf recurrence, no underflow of exp(-mu)
            term = cdf = math.exp(-mu)
            for x in range(1, k):
                term *= mu / x
                cdf += term
        else:
            log_mu = math.log(mu)
            cdf = 0.0
            for x in range(k):
                cdf += math.exp(x * log_mu - mu - math.lgamma(x + 1))
        return math.log(max(1.0 - cdf, 1e-300))
    first = k * math.log(mu) - mu - math.lgamma(k + 1)
    total = term = 1.0  # relative to pmf(k); ratios mu/(x+1) < 1 and falling
    x = k
    while True:
        x += 1
        term *= mu / x
        total += term
        if term < _TAIL_EPS * total:
            break
    return min(0.0, first + math.log(total))


def nbinom_logsf(k: float, mean: float, var: float) -> float:
    """natural log of P[X >= k] for a negative binomial with this mean and variance.

    Parametrised by ``r = mean**2 / (var - mean)`` and ``p = r / (r + mean)``;
    falls back to the Poisson when ``var <= mean``.
    """
    k = math.ceil(k - 1e-9)
    if k <= 0:
        return 0.0
    if mean <= 0.0:
        return -math.inf
    if var <= mean * (1.0 + 1e-9):
        return poisson_logsf(k, mean)
    r = mean * mean / (var - mean)
    p = r / (r + mean)
    log_p, log_q = math.log(p), math.log1p(-p)
    lg_r = math.lgamma(r)

    def logpmf(x: int) -> float:
        return math.lgamma(x + r) - lg_r - math.lgamma(x + 1) + r * log_p + x * log_q

    q = 1.0 - p
    if k <= mean:  # the bulk: sum the left part by the pmf recurrence
        lp0 = r * log_p
        if lp0 > -700.0:
            term = cdf = math.exp(lp0)
            for x in range(k - 1):
                term *= (x + r) / (x + 1) * q
                cdf += term
        else:
            cdf = 0.0
            for x in range(k):
                cdf += math.exp(logpmf(x))
        return math.log(max(1.0 - cdf, 1e-300))
    total = term = 1.0  # relative to pmf(k)
    x = k
    for _ in range(_TAIL_TERMS):
        ratio = (x + r) / (x + 1) * q
        term *= ratio
        total += term
        x += 1
        if term < _TAIL_EPS * total or (ratio < 1.0 and term * ratio / (1.0 - ratio) < _TAIL_EPS * total):
            break
    else:  # slowly converging: close with a geometric bound
        ratio = (x + r) / (x + 1) * q
        if ratio < 1.0:
            total += term * ratio / (1.0 - ratio)
    return min(0.0, logpmf(k) + math.log(total))


def poisson_sf(k: float, mu: float) -> float:
    return math.exp(poisson_logsf(k, mu))


def nbinom_sf(k: float, mean: float, var: float) -> float:
    return math.exp(nbinom_logsf(k, mean, var))


def surprise(k: float, mean: float, var: float | None = None) -> float:
    """``-log10 P[X >= k]`` under a Poisson (``var`` None or <= mean) or
    negative binomial with this mean/variance; 0 when ``k <= 0``; capped at
    ``MAX_SCORE``."""
    if var is None or var <= mean:
        lp = poisson_logsf(k, mean)
    else:
        lp = nbinom_logsf(k, mean, var)
    if lp == -math.inf:
        return MAX_SCORE
    return min(MAX_SCORE, max(0.0, -lp * LOG10E))


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
        while i < end:
            ts = times[i]
            i += 1
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


@dataclass(slots=True, frozen=True)
class Surprise:
    """The most surprising window of a ``RateModel.score`` call."""

    score: float  # -log10 p, Bonferroni-corrected over the windows tried
    p_value: float
    window: float  # seconds
    observed: float  # sum over the window (minus ``given``)
    expected: float  # expected sum over the window under the null
    baseline: float  # expected per bucket under the null
    variance: float  # per-bucket variance under the null
    per_scale: tuple[float, ...] = ()  # uncorrected -log10 p of every window, in ``scales`` order


class _EWValue:
    """What ``RateModel.mean`` / ``.var`` return: the current value behind ``get()``
    (the interface of the river statistics these replaced)."""

    __slots__ = ("_v",)

    def __init__(self, v: float) -> None:
        self._v = v

    def get(self) -> float:
        return self._v


#: bincode layout of river 0.26's ``RsEWVar`` state (EW mean of x, alpha,
#: 1 - alpha, initialised flag, EW mean of x^2, ...), for old checkpoints.
_RS_EWVAR = struct.Struct("<dddBd")


def _from_river(mean, var) -> tuple[float | None, float | None, float]:
    """(EW mean, EW mean of squares, fading factor) of a checkpoint's river
    ``EWMean``/``EWVar`` pair -- exactly, from the Rust state, where it parses."""
    ff = float(mean.fading_factor)
    try:
        m1, _, _, init, m2 = _RS_EWVAR.unpack_from(var._ewvar.__getstate__())
        if not init:
            return None, None, ff
        return mean.get(), m2, ff
    except Exception:  # another river layout: rebuild E[x^2] from the variance (last bits may differ)
        m1 = mean.get()
        return m1, var.get() + m1 * m1, ff


#: Shared objects for the numbers most ``RateModel`` s hold. Why: a detector
#: keeps one RateModel per tracked key, and most keys hold the same open
#: bucket index (today's) and a small whole count; as separate objects those
#: are 32 + 24 bytes per key, about 6 % of an agent key's memory. Equal
#: values, same arithmetic: only object identity is shared. Counts: a fixed
#: table; bucket indices: a cache bounded by ``_MAX_SHARED_BUCKETS``.
_SMALL_COUNTS: dict[float, float] = {float(i): float(i) for i in range(1, 65)}
_SHARED_BUCKETS: dict[int, int] = {}
_MAX_SHARED_BUCKETS = 4096


def _shared_bucket(b: int) -> int:
    shared = _SHARED_BUCKETS.get(b)
    if shared is None:
        if len(_SHARED_BUCKETS) >= _MAX_SHARED_BUCKETS:
            _SHARED_BUCKETS.clear()  # bounded; old indices are rarely opened again
        shared = _SHARED_BUCKETS[b] = b
    return shared


class RateModel(SlotState):
    """Event-time bucketed counts of one key with an EW baseline.

    ``add(ts, value)`` puts ``value`` (1 for a count) into the bucket holding
    ``ts``; late events (``ts`` before the open bucket) count in the open one.
    Closing a bucket feeds its count to the EW baseline; idle buckets in between are fed as zeros, at most ``max_idle``
    of them (after that the baseline has decayed as far as matters).
    The last ``max_recent`` arrivals are kept for exact sliding-window sums.
    A caller that finds the open bucket anomalous sets ``hot``; that bucket is
    then left out of the baseline, so a surge does not become its own normal.

    The baseline is river's ``EWMean``/``EWVar`` arithmetic (bit for bit:
    first value as is, then ``a x + (1 - a) m``; variance ``E[x^2] - m^2``)
    kept as two floats: detectors hold one RateModel per tracked key, and two
    river objects plus a 64-slot deque were most of a key's memory. ``m1`` is
    None until a bucket is learned; ``mean``/``var`` give ``.get()`` views.
    """

    __slots__ = ("bucket_seconds", "max_idle", "cur", "count", "n", "ff", "m1", "m2", "recent", "max_recent", "hot")
    _SLOT_DEFAULTS = {"max_recent": 64}

    def __init__(
        self,
        bucket_seconds: float = 86400.0,
        fading_factor: float = 0.1,
        max_idle: int = 60,
        max_recent: int = 64,
    ) -> None:
        if not 0.0 <= fading_factor <= 1.0:
            raise ValueError("fading_factor must be in [0, 1]")
        self.bucket_seconds = float(bucket_seconds)
        self.max_idle = max_idle
        self.cur: int | None = None
        self.count = 0.0
        self.n = 0  # closed buckets seen (including fed idle zeros)
        self.ff = fading_factor
        self.m1: float | None = None  # EW mean of learned bucket counts
        self.m2: float | None = None  # EW mean of their squares
        self.recent: list[float] = []  # flat [ts, value, ts, value, ...], oldest first, at most max_recent pairs
        self.max_recent = max_recent
        self.hot = False  # set by the caller: the open bucket is anomalous, do not learn it

    def __setstate__(self, state: dict) -> None:
        if "ff" not in state and "mean" in state:  # a checkpoint with river statistics and a deque
            state = dict(state)
            mean, var = state.pop("mean"), state.pop("var")
            state["m1"], state["m2"], state["ff"] = _from_river(mean, var)
            recent = state.get("recent")
            if isinstance(recent, deque):
                state["max_recent"] = recent.maxlen if recent.maxlen is not None else 64
        recent = state.get("recent")
        if recent and isinstance(recent[0], tuple):  # (ts, value) pairs: flatten
            state = dict(state, recent=[x for tv in recent for x in tv])
        super().__setstate__(state)

    @property
    def mean(self) -> _EWValue:
        """EW mean of the learned buckets (0.0 before the first)."""
        return _EWValue(0.0 if self.m1 is None else self.m1)

    @property
    def var(self) -> _EWValue:
        """EW variance of the learned buckets (0.0 before the first)."""
        m1 = self.m1
        return _EWValue(0.0 if m1 is None else self.m2 - m1 * m1)

    def _learn(self, x: float) -> None:
        m1, a = self.m1, self.ff
        if m1 is None:
            self.m1 = float(x)
            self.m2 = float(x * x)
        else:
            b = 1.0 - a
            self.m1 = a * x + b * m1
            self.m2 = a * (x * x) + b * self.m2

    def bucket_of(self, ts: float) -> int:
        return math.floor(ts / self.bucket_seconds)

    def advance(self, ts: float) -> None:
        """Close every bucket before the one holding ``ts``."""
        b = math.floor(ts / self.bucket_seconds)
        cur = self.cur
        if cur is None:
            self.cur = _shared_bucket(b)
            return
        if b <= cur:
            return
        if not self.hot:
            self._learn(self.count)
            self.n += 1
        self.hot = False
        idle = min(b - cur - 1, self.max_idle)
        if idle > 0:  # idle buckets are learned as zeros (the _learn arithmetic, inlined)
            a = self.ff
            om = 1.0 - a
            m1, m2 = self.m1, self.m2
            k = idle
            if m1 is None:
                m1 = m2 = 0.0
                k -= 1
            for _ in range(k):
                m1 = a * 0.0 + om * m1
                m2 = a * 0.0 + om * m2
            self.m1, self.m2 = m1, m2
        self.n += idle
        self.cur = _shared_bucket(b)
        self.count = 0.0

    def add(self, ts: float, value: float = 1.0) -> float:
        """Count ``value`` at ``ts``; returns what the open bucket held before."""
        self.advance(ts)
        before = self.count
        count = before + value
        self.count = _SMALL_COUNTS.get(count, count)  # the shared object of an equal small count
        r = self.recent
        if r:
            r.append(ts)
            r.append(value)
        else:  # a literal list is allocated exactly: most keys see one arrival
            r = self.recent = [ts, value]
        if len(r) > 2 * self.max_recent:
            del r[:2]
        return before

    def window_sum(self, ts: float, seconds: float) -> float:
        """Sum of the kept arrivals in ``(ts - seconds, ts]``."""
        lo = ts - seconds
        s = 0.0
        r = self.recent
        for i in range(len(r) - 2, -1, -2):
            t = r[i]
            if t <= lo:
                break
            if t <= ts:
                s += r[i + 1]
        return s

    def window_sums(self, ts: float, seconds: tuple[float, ...]) -> list[float]:
        """``window_sum`` for several window lengths in one backward pass."""
        n = len(seconds)
        order = sorted(range(n), key=seconds.__getitem__)  # shortest window first
        los = [ts - seconds[i] for i in order]
        out = [0.0] * n
        acc = 0.0
        j = 0
        r = self.recent
        for i in range(len(r) - 2, -1, -2):
            t = r[i]
            if t > ts:
                continue
            while t <= los[j]:
                out[order[j]] = acc
                j += 1
                if j == n:
                    return out
            acc += r[i + 1]
        while j < n:
            out[order[j]] = acc
            j += 1
        return out

    def baseline(self, prior: PopulationPrior | None = None, pseudo: float = 7.0) -> tuple[float, float]:
        """(mean, var) per bucket of the next bucket's count.

        Without a prior: the river EW mean/variance of the learned buckets.
        With one (mean ``m``, dispersion ``r``): a new key (no learned bucket)
        gets the prior's negative binomial as is. Own history then shrinks the
        mean from ``m`` towards the EW mean ``x`` of the ``n`` learned buckets
        like a Gamma-Poisson update -- the prior weighs ``min(r/m, pseudo)``
        buckets, so a tight prior cannot pin a steady key down for ever -- and
        the dispersion grows as ``r + n x`` (evidence makes the rate less
        uncertain). ``var = mean + mean**2 / (r + n x)``. ``n`` counts at most
        ``max_idle`` buckets.
        """
        if prior is None:
            if self.n == 0:
                return 0.0, 0.0
            return self.mean.get(), self.var.get()
        pm, pv = prior.get()
        excess = pv - pm
        r = pm * pm / excess if excess > 1e-300 else 1e6
        if self.n == 0:
            return pm, pv
        n = float(min(self.n, self.max_idle))
        x = max(self.mean.get(), 0.0)
        w0 = min(r / pm, pseudo)
        m = max((w0 * pm + n * x) / (w0 + n), prior.floor)
        a = r + n * x
        return m, m + m * m / a

    def score(
        self,
        ts: float,
        scales: tuple[float, ...] = (86400.0, 7 * 86400.0, 30 * 86400.0),
        prior: PopulationPrior | None = None,
        *,
        given: float = 0.0,
        pseudo: float = 7.0,
        baseline: tuple[float, float] | None = None,
        r_min: float = 0.0,
        since: float | None = None,
        min_window: float | None = None,
    ) -> Surprise:
        """Most surprising sliding-window sum ending at ``ts``.

        For each window length ``s`` in ``scales`` the observed sum (minus
        ``given``: arrivals the test conditions on, e.g. the one that made the
        key exist) is tested against ``s / bucket_seconds`` buckets of the
        baseline. The per-bucket (mean, var) give a Gamma-Poisson dispersion
        ``r = mean**2 / (var - mean)`` (at least ``r_min``) that is kept
        fixed across window lengths -- a key's rate is uncertain but does not
        change within the window -- so a window of mean ``mu`` has variance
        ``mu + mu**2 / r``. The best ``-log10 p`` is reduced by
        ``log10(len(scales))`` (Bonferroni). ``baseline`` overrides the
        per-bucket (mean, var). With ``since`` (when the key came to exist) a
        window's expected count covers only ``min(s, ts - since)`` -- floored
        at ``min_window`` (default one bucket) -- since nothing could arrive
        before the key existed.
        """
        m, v = baseline if baseline is not None else self.baseline(prior, pseudo)
        floor_w = self.bucket_seconds if min_window is None else min_window
        age = max(ts - since, floor_w) if since is not None else math.inf
        excess = v - m
        r = m * m / excess if excess > 1e-300 else math.inf
        if r < r_min:
            r = r_min
        best = (-1.0, 0.0, 0.0, 0.0)
        raws = []
        sums = self.window_sums(ts, scales)
        for s, total in zip(scales, sums):
            obs = total - given
            mu = m * min(s, age) / self.bucket_seconds
            if mu <= 0.0:
                raw = MAX_SCORE if obs > 0 else 0.0
            else:
                raw = surprise(obs, mu, mu + mu * mu / r if r != math.inf else None)
            raws.append(raw)
            if raw > best[0]:
                best = (raw, s, obs, mu)
        raw, s, obs, mu = best
        sc = max(0.0, raw - (math.log10(len(scales)) if len(scales) > 1 else 0.0))
        return Surprise(sc, 10.0 ** (-sc), s, obs, mu, m, v, tuple(raws))

