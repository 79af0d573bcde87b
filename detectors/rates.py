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
from collections import deque
from dataclasses import dataclass

from river import stats

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

    def expose(self, ts: float, n_keys: float) -> None:
        """Advance to event time ``ts`` with ``n_keys`` keys alive since the last call."""
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
        if count_before < self.clip:
            self.s_c += 1.0
            self.s_c2 += 2.0 * count_before + 1.0  # (c+1)^2 - c^2

    def get(self) -> tuple[float, float]:
        """(mean, var) per bucket for a key with no history of its own."""
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


class RateModel(SlotState):
    """Event-time bucketed counts of one key with an EW baseline.

    ``add(ts, value)`` puts ``value`` (1 for a count) into the bucket holding
    ``ts``; late events (``ts`` before the open bucket) count in the open one.
    Closing a bucket feeds its count to the river baseline; idle buckets in between are fed as zeros, at most ``max_idle``
    of them (after that the baseline has decayed as far as matters).
    The last ``max_recent`` arrivals are kept for exact sliding-window sums.
    A caller that finds the open bucket anomalous sets ``hot``; that bucket is
    then left out of the baseline, so a surge does not become its own normal.
    """

    __slots__ = ("bucket_seconds", "max_idle", "cur", "count", "n", "mean", "var", "recent", "hot")

    def __init__(
        self,
        bucket_seconds: float = 86400.0,
        fading_factor: float = 0.1,
        max_idle: int = 60,
        max_recent: int = 64,
    ) -> None:
        self.bucket_seconds = float(bucket_seconds)
        self.max_idle = max_idle
        self.cur: int | None = None
        self.count = 0.0
        self.n = 0  # closed buckets seen (including fed idle zeros)
        self.mean = stats.EWMean(fading_factor)
        self.var = stats.EWVar(fading_factor)
        self.recent: deque = deque(maxlen=max_recent)
        self.hot = False  # set by the caller: the open bucket is anomalous, do not learn it

    def bucket_of(self, ts: float) -> int:
        return math.floor(ts / self.bucket_seconds)

    def advance(self, ts: float) -> None:
        """Close every bucket before the one holding ``ts``."""
        b = self.bucket_of(ts)
        if self.cur is None:
            self.cur = b
            return
        if b <= self.cur:
            return
        c = self.count
        if not self.hot:
            self.mean.update(c)
            self.var.update(c)
            self.n += 1
        self.hot = False
        idle = min(b - self.cur - 1, self.max_idle)
        for _ in range(idle):
            self.mean.update(0.0)
            self.var.update(0.0)
        self.n += idle
        self.cur = b
        self.count = 0.0

    def add(self, ts: float, value: float = 1.0) -> float:
        """Count ``value`` at ``ts``; returns what the open bucket held before."""
        self.advance(ts)
        before = self.count
        self.count += value
        self.recent.append((ts, value))
        return before

    def window_sum(self, ts: float, seconds: float) -> float:
        """Sum of the kept arrivals in ``(ts - seconds, ts]``."""
        lo = ts - seconds
        s = 0.0
        for t, v in reversed(self.recent):
            if t <= lo:
                break
            if t <= ts:
                s += v
        return s

    def window_sums(self, ts: float, seconds: tuple[float, ...]) -> list[float]:
        """``window_sum`` for several window lengths in one backward pass."""
        n = len(seconds)
        order = sorted(range(n), key=seconds.__getitem__)  # shortest window first
        los = [ts - seconds[i] for i in order]
        out = [0.0] * n
        acc = 0.0
        j = 0
        for t, v in reversed(self.recent):
            if t > ts:
                continue
            while t <= los[j]:
                out[order[j]] = acc
                j += 1
                if j == n:
                    return out
            acc += v
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

