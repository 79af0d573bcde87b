"""The surge-rate model shared by the detectors (and the NAB benchmark script).

Three small pieces, in three modules (all importable from here):

* **Tail probabilities** (``detectors.tails``) -- ``poisson_sf`` and ``nbinom_sf`` give
  ``P[X >= k]`` computed in log space with ``math.lgamma`` (no scipy), and
  ``surprise(k, mean, var)`` turns that into a score ``-log10 p``, using the
  negative binomial when the variance exceeds the mean (over-dispersion:
  bursty keys, lawyers with several clients) and the Poisson otherwise.
  Gaussian z-scores are useless at the counts we see (0, 1, 2, 3 ...).

* **PopulationPrior** (``detectors.priors``) -- what keys *of a kind* normally do per bucket (e.g.
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
from dataclasses import dataclass

from detectors.base import SlotState
# The tails and the priors live in their own modules; they are re-exported here
# because detectors import them from one place and old checkpoints pickled
# ``detectors.rates.PopulationPrior``.
from detectors.priors import ExposureClock, PopulationPrior, expose_all
from detectors.tails import LOG10E, MAX_SCORE, nbinom_logsf, nbinom_sf, poisson_logsf, poisson_sf, surprise

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
        # a key younger than the shorter windows has the same (obs, mu) in several of them
        # (expected counts are clipped to its age): the tail is computed once for those
        last_obs = last_mu = raw = None
        for s, total in zip(scales, sums):
            obs = total - given
            mu = m * min(s, age) / self.bucket_seconds
            if obs == last_obs and mu == last_mu:
                pass  # raw: the same pure function of the same numbers
            elif mu <= 0.0:
                raw = MAX_SCORE if obs > 0 else 0.0
            else:
                raw = surprise(obs, mu, mu + mu * mu / r if r != math.inf else None)
            last_obs, last_mu = obs, mu
            raws.append(raw)
            if raw > best[0]:
                best = (raw, s, obs, mu)
        raw, s, obs, mu = best
        sc = max(0.0, raw - (math.log10(len(scales)) if len(scales) > 1 else 0.0))
        return Surprise(sc, 10.0 ** (-sc), s, obs, mu, m, v, tuple(raws))

