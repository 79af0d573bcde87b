"""The surge-rate model of ``detectors.rates`` applied to a generic (timestamp, value) series.

A thin, streaming layer over :class:`detectors.rates.RateModel` for a series
that arrives one sample at a time (a metric every 5 minutes, a count per
interval) instead of one event at a time. It is what ``bench/nab.py`` runs on
the Numenta Anomaly Benchmark; the lead may fold it into ``rates.py``.

Per sample ``update(value)`` does, in this order (causal: the score of sample
``i`` uses samples ``<= i`` only):

1. **Bucket.** The sample goes into its own ``RateModel`` bucket. The clock is
   the sample index (``ts = i * step``), not the wall timestamp: benchmark
   series are *sampled*, and a missing sample is not a zero count, while a
   duplicated timestamp is not a doubled one. Closing the previous bucket
   feeds its value to the river ``EWMean``/``EWVar`` baseline (fading factor
   ``alpha``) unless that bucket was judged anomalous (``RateModel.hot``).

2. **Units.** Count series (every value so far a non-negative integer) are
   used as counts. A continuous metric is turned into quasi-counts by
   dividing by the unit ``u = var / mean`` of the baseline (the index of
   dispersion), so that one bucket's pseudo-count is equi-dispersed (its
   Poisson variance equals the observed variance); the variance is floored at
   ``(min_cv * mean)**2`` so a flat line does not become infinitely precise,
   and negative values are shifted by the running minimum.

3. **Surprise.** For each window length ``k`` in ``scales`` (in samples) the
   sum of the last ``k`` samples is tested against ``k`` buckets of the
   baseline with the negative binomial of ``rates.surprise`` (per-bucket
   dispersion ``r = mean**2 / (var - mean)`` kept across window lengths, as
   ``RateModel.score`` does); with ``two_sided`` the lower tail too (a drop),
   weighted by ``down_weight``; continuous metrics also test ``continuous_scales``.
   Optional level-shift windows (``shift_scales``, ``continuous_shift_scales``) are
   tested against the baseline as it was before the window began.
   Optional seasonal windows (``seasonal_scales``, count series only) are tested
   against a time-of-day baseline learned over past days (``detectors.seasonal``).
   With ``alpha_long`` the dispersion is at
   least the series' long-run burstiness (see the class docstring). The best
   ``-log10 p`` over windows and sides is Bonferroni-corrected by
   ``log10(number of tests)``.

``SeriesModel.update`` returns that surprise (``-log10 p``, >= 0); the NAB
script adds alarm suppression and squashing to [0, 1].

:class:`LevelNovelty` is a separate, optional score mapping: how extreme a
value is within the series' *own* recent history (an empirical tail rank). The
NAB script uses it to rank the rate model's alarms (see its docstring).
"""
from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

from detectors.rates import LOG10E, MAX_SCORE, RateModel, surprise
from detectors.seasonal import SeasonalBaseline

__all__ = ["poisson_logcdf", "nbinom_logcdf", "lower_surprise", "SeriesScore", "SeriesModel", "LevelNovelty"]

_EPS = 1e-16
_MAX_TERMS = 20000


def poisson_logcdf(k: float, mu: float) -> float:
    """natural log of P[X <= k] for X ~ Poisson(mu) (the lower tail, for drops)."""
    k = math.floor(k + 1e-9)
    if k < 0:
        return -math.inf
    if mu <= 0.0:
        return 0.0
    if k >= mu:
        return 0.0  # not a drop; callers only ask for k < mu
    # sum downwards from pmf(k): pmf(x - 1) / pmf(x) = x / mu < 1
    first = k * math.log(mu) - mu - math.lgamma(k + 1)
    total = term = 1.0
    x = k
    while x > 0:
        term *= x / mu
        total += term
        x -= 1
        if term < _EPS * total:
            break
    return min(0.0, first + math.log(total))


def nbinom_logcdf(k: float, mean: float, var: float) -> float:
    """natural log of P[X <= k] for the negative binomial with this mean and variance
    (``r = mean**2 / (var - mean)``; the Poisson when ``var <= mean``)."""
    k = math.floor(k + 1e-9)
    if k < 0:
        return -math.inf
    if mean <= 0.0:
        return 0.0
    if var <= mean * (1.0 + 1e-9):
        return poisson_logcdf(k, mean)
    if k >= mean:
        return 0.0
    r = mean * mean / (var - mean)
    p = r / (r + mean)
    q = 1.0 - p
    first = math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1) + r * math.log(p) + k * math.log(q)
    total = term = 1.0
    x = k
    n = 0
    while x > 0 and n < _MAX_TERMS:
        term *= x / ((x - 1 + r) * q)  # pmf(x - 1) / pmf(x)
        total += term
        x -= 1
        n += 1
        if term < _EPS * total:
            break
    return min(0.0, first + math.log(total))


def lower_surprise(k: float, mean: float, var: float | None = None) -> float:
    """``-log10 P[X <= k]``: how surprising a count this *low* is; 0 when ``k >= mean``."""
    if k >= mean or mean <= 0.0:
        return 0.0
    lp = poisson_logcdf(k, mean) if var is None or var <= mean else nbinom_logcdf(k, mean, var)
    if lp == -math.inf:
        return MAX_SCORE
    return min(MAX_SCORE, max(0.0, -lp * LOG10E))


@dataclass(slots=True, frozen=True)
class SeriesScore:
    score: float  # best -log10 p over windows and sides, Bonferroni-corrected
    window: int  # samples in the most surprising window (0 before warm-up)
    direction: int  # +1 surge, -1 drop, 0 nothing
    observed: float  # window sum (quasi-counts)
    expected: float  # expected window sum (quasi-counts)


_NOTHING = SeriesScore(0.0, 0, 0, 0.0, 0.0)


class SeriesModel:
    """Streaming surge (and drop) surprise of one sampled series; see the module docstring.

    Parameters
    ----------
    scales: window lengths in samples (sliding sums ending at the current sample).
    alpha: fading factor of the river EW mean/variance baseline (per sample).
    two_sided: also test drops (lower tail); ``down_weight`` multiplies their surprise.
    min_cv: variance floor of continuous series, as a coefficient of variation.
    warmup: samples learned before any score is given (scores are 0 before).
    hot_level: a sample whose surprise reaches this is kept out of the baseline
        (a surge must not become its own normal) ...
    hot_max: ... but at most this many samples in a row, so a lasting level
        shift is learned eventually.
    alpha_long: fading factor of the long-run burstiness (0: off). The per-bucket
        variance used is the larger of the local EW variance and
        ``mean + mean**2 / r_long``, where ``1 / r_long`` is the long-run excess
        variance of the residuals (value - baseline mean) over the squared mean
        (continuous series: the long-run relative variance times ``mean**2``).
        How bursty a series is, is a long-run property; its level is local.
    z_min: windows less than ``z_min`` standard deviations from their mean are
        not tested (their p-value is large anyway; saves time).
    continuous_scales: extra window lengths tested only while the series is not a
        count series (a continuous metric): level shifts and ramps in server metrics
        need a long window, count spikes do not. The Bonferroni correction counts
        the tests actually made. Empty (the default) leaves the model unchanged.
    shift_scales: extra window lengths tested against the baseline as it was *before*
        the window's first sample (a level-shift test). Why: the ``scales`` windows are
        tested against the current EW baseline, which (fading factor ``alpha`` = 0.2
        follows ~5 samples) has already learned most of a rise that lasts longer than a
        few samples, so a level that climbs tenfold over half an hour and stays there
        never surprises the 6- or 24-sample window. Against the pre-window baseline the
        window's whole excess counts. Each window keeps its own dispersion and units
        from that time. Empty (the default) leaves the model unchanged.
    continuous_shift_scales: level-shift windows tested only while the series is not
        a count series (as ``continuous_scales`` are).
    seasonal_scales: window lengths whose sums are also tested (upper tail) against a
        time-of-day baseline learned over past days (``detectors.seasonal``), for count
        series only. Why: the fast EW baseline absorbs a rise that lasts longer than a
        few samples; the same hour's usual level does not move with the rise. The day
        and slot come from ``update``'s ``ts`` (seconds), or from the sample index times
        ``seasonal_step`` when no ``ts`` is given. Empty (the default) leaves the model
        unchanged.
    seasonal: keyword arguments for :class:`detectors.seasonal.SeasonalBaseline`.
    seasonal_weight: multiplies the seasonal windows' surprise (as ``down_weight`` does
        for drops).
    seasonal_hot: whether a sample found anomalous only by a seasonal window is also kept
        out of the rate model's fast baseline (``hot``); False keeps the plain windows'
        scores as they are without the seasonal tests (up to the Bonferroni count).
    """

    def __init__(
        self,
        scales: tuple[int, ...] = (1, 3, 12),
        alpha: float = 0.05,
        *,
        two_sided: bool = True,
        down_weight: float = 1.0,
        min_cv: float = 0.01,
        warmup: int = 12,
        hot_level: float = 4.0,
        hot_max: int = 12,
        z_min: float = 1.0,
        alpha_long: float = 0.0,
        step: float = 1.0,
        continuous_scales: tuple[int, ...] = (),
        shift_scales: tuple[int, ...] = (),
        continuous_shift_scales: tuple[int, ...] = (),
        seasonal_scales: tuple[int, ...] = (),
        seasonal: dict | None = None,
        seasonal_step: float = 300.0,
        seasonal_weight: float = 1.0,
        seasonal_hot: bool = True,
    ) -> None:
        self.scales = tuple(int(s) for s in scales)
        self.continuous_scales = tuple(int(s) for s in continuous_scales)
        self.step = float(step)
        self.two_sided = two_sided
        self.down_weight = float(down_weight)
        self.min_cv = float(min_cv)
        self.warmup = int(warmup)
        self.hot_level = float(hot_level)
        self.hot_max = int(hot_max)
        self.z_min = float(z_min)
        self.shift_scales = tuple(int(s) for s in shift_scales)
        self.continuous_shift_scales = tuple(int(s) for s in continuous_shift_scales)
        all_scales = self.scales + self.continuous_scales + self.shift_scales + self.continuous_shift_scales
        self.rm = RateModel(bucket_seconds=self.step, fading_factor=alpha, max_idle=0,
                            max_recent=max(all_scales) + 1)
        # the tests made: (index into per_scale / all_scales, window length, level-shift test?)
        n_cont = len(self.scales) + len(self.continuous_scales)
        n_shift = n_cont + len(self.shift_scales)
        shift_tests = [(n_cont + j, k, True) for j, k in enumerate(self.shift_scales)]
        self._tests = [(j, k, False) for j, k in enumerate(self.scales)] + shift_tests
        self._tests_cont = ([(j, k, False) for j, k in enumerate(all_scales[:n_cont])] + shift_tests
                            + [(n_shift + j, k, True) for j, k in enumerate(self.continuous_shift_scales)])
        sides = 2 if two_sided else 1
        self._bonf = _bonferroni(len(self._tests) * sides)
        self._bonf_cont = _bonferroni(len(self._tests_cont) * sides)
        self._secs = tuple(k * self.step for _, k, _ in self._tests)
        self._secs_cont = tuple(k * self.step for _, k, _ in self._tests_cont)
        # (u, m, r) of the baseline at each of the last max(shift windows) samples, newest last
        self._past: deque[tuple[float, float, float]] = deque(
            maxlen=max(self.shift_scales + self.continuous_shift_scales, default=1))
        self.i = 0  # samples seen
        self.counts = True  # every value so far a non-negative integer
        self.vmin = 0.0  # running minimum (shift for negative values)
        self.hot_run = 0
        self.alpha_long = float(alpha_long)
        self.long_n = 0  # long-memory residual statistics (0: off)
        self.long_res2 = 0.0  # EW mean of (value - baseline mean)**2
        self.long_m = 0.0  # EW mean of the baseline mean
        self.long_m2 = 0.0  # EW mean of its square
        self._prev_m = None  # baseline mean before the current sample
        # signed surprise of each window length at the last sample (+ surge, - drop; uncorrected)
        self.per_scale = [0.0] * len(all_scales)
        self.seasonal = SeasonalBaseline(tuple(seasonal_scales), **(seasonal or {})) if seasonal_scales else None
        self.seasonal_step = float(seasonal_step)
        self.seasonal_weight = float(seasonal_weight)
        self.seasonal_hot = bool(seasonal_hot)
        self.n_bonf = len(self._tests) * sides  # tests of a count series (Bonferroni), before seasonal ones

    def update(self, value: float, ts: float | None = None) -> SeriesScore:
        """Add the next sample and return its surprise. The rate model's clock is the
        sample index; ``ts`` (seconds) only places the sample in the day for the
        seasonal windows."""
        value = float(value)
        if value != value:  # NaN: treat as the last baseline mean (no evidence)
            value = max(self.rm.mean.get(), 0.0) + self.vmin
        if value < self.vmin:
            self.vmin = value
        if self.counts and not (value >= 0.0 and value.is_integer()):
            self.counts = False
        t = self.i * self.step
        seasonal_on = self.seasonal is not None and self.counts
        if seasonal_on:
            season_tests = self.seasonal.update(value, self.i * self.seasonal_step if ts is None else ts)
        else:
            season_tests = []
        self.i += 1
        rm = self.rm
        rm.add(t, value - self.vmin if self.vmin < 0.0 else value)
        if rm.n < self.warmup:
            if seasonal_on:
                self.seasonal.learn(False)
            return _NOTHING
        m = rm.mean.get()
        v = rm.var.get()
        if self.alpha_long > 0.0:
            v = self._long(value - self.vmin if self.vmin < 0.0 else value, m, v)
        if self.counts:
            u = 1.0
            m = max(m, 1.0 / max(rm.n, 1))  # a key that never fired: one count in n buckets
        else:
            if m <= 0.0:
                m = 1e-9
            v = max(v, (self.min_cv * m) ** 2, 1e-18)
            u = v / m
            m = m / u  # quasi-counts per bucket; their variance equals their mean
            v = m
        excess = v - m
        r = m * m / excess if excess > 1e-300 else math.inf
        self._past.append((u, m, r))
        if self.counts:
            tests, secs, bonf = self._tests, self._secs, self._bonf
        else:
            tests, secs, bonf = self._tests_cont, self._secs_cont, self._bonf_cont
        sums = rm.window_sums(t, secs)
        past = self._past
        best = 0.0
        best_k, best_dir, best_obs, best_mu = 0, 0, 0.0, 0.0
        per_scale = self.per_scale
        for j in range(len(per_scale)):
            per_scale[j] = 0.0
        for (j, k, shift), total in zip(tests, sums):
            if shift:  # the baseline from just before the window's first sample (past[-1] is now)
                uk, mk, rk = past[-k] if k <= len(past) else past[0]
            else:
                uk, mk, rk = u, m, r
            obs = total / uk
            mu = mk * k
            var = mu + mu * mu / rk if rk != math.inf else mu
            sd = math.sqrt(var)
            z = (obs - mu) / sd if sd > 0 else 0.0
            if z >= self.z_min:
                s = surprise(obs, mu, var if rk != math.inf else None) if self.counts else _quasi_up(obs, mu)
                per_scale[j] = s
                if s > best:
                    best, best_k, best_dir, best_obs, best_mu = s, k, 1, obs, mu
            elif self.two_sided and z <= -self.z_min:
                s = self.down_weight * lower_surprise(math.floor(obs) if self.counts else obs, mu,
                                                      var if rk != math.inf else None)
                per_scale[j] = -s
                if s > best:
                    best, best_k, best_dir, best_obs, best_mu = s, k, -1, obs, mu
        best_plain = best
        if season_tests:
            for k, obs, mu, s in season_tests:
                s *= self.seasonal_weight
                if s > best:
                    best, best_k, best_dir, best_obs, best_mu = s, k, 1, obs, mu
            bonf = _bonferroni(self.n_bonf + len(season_tests))
        sc = max(0.0, best - bonf)
        if seasonal_on:
            self.seasonal.learn(sc >= self.hot_level)
        if self.alpha_long > 0.0:
            self._learn_long()
        sc_hot = sc if self.seasonal_hot else max(0.0, best_plain - bonf)
        if sc_hot >= self.hot_level and self.hot_run < self.hot_max:
            rm.hot = True
            self.hot_run += 1
        else:
            self.hot_run = 0
        return SeriesScore(sc, best_k, best_dir, best_obs, best_mu)


    def _long(self, x: float, m: float, v: float) -> float:
        """Per-bucket variance with long-memory dispersion: the short EW variance
        ``v`` tracks the local level, but how *bursty* a series is (its excess
        variance relative to the squared mean, ``1 / r``) is a long-run property;
        use the larger of the two. The long statistics learn the sample *after*
        it has been scored."""
        if self.long_n:
            if self.counts:
                inv_r = max(0.0, self.long_res2 - self.long_m) / max(self.long_m2, 1e-12)
                v_long = m + m * m * inv_r
            else:
                v_long = self.long_res2 * (m * m) / max(self.long_m2, 1e-300)
            v_out = max(v, v_long)
        else:
            v_out = v
        a = self.alpha_long if self.long_n * self.alpha_long >= 1.0 else 1.0 / (self.long_n + 1)
        self._pending = (x, m, a)
        return v_out

    def _learn_long(self) -> None:
        x, m, a = self._pending
        self.long_res2 += a * ((x - m) ** 2 - self.long_res2)
        self.long_m += a * (m - self.long_m)
        self.long_m2 += a * (m * m - self.long_m2)
        self.long_n += 1


def _bonferroni(ntests: int) -> float:
    """``log10`` of the number of tests (0 for a single test)."""
    return math.log10(ntests) if ntests > 1 else 0.0


def _quasi_up(obs: float, mu: float) -> float:
    """Upper-tail surprise of a quasi-count (continuous, so rounded up)."""
    return surprise(math.ceil(obs), mu)


class LevelNovelty:
    """Empirical tail rank of a value within the last ``window`` values of its own series.

    ``score(value, direction)`` is ``-log10((m + 1) / (n + 1))``, where ``n`` is the
    number of past values kept and ``m`` how many of them were at least as high
    (``direction`` > 0) or at least as low (< 0) as ``value``; 0 for direction 0.
    A new high of the window scores ``log10(n + 1)``, a typical value about 0.3.

    Why: the rate model's tail test asks "is this surprising given the *recent*
    level and burstiness?"; a busy series answers yes many times a week (a big
    retweet storm, a nightly batch). Ranking those alarms by how extreme the level
    is for the series itself over a longer horizon (as KNN-CAD and ARTime do with
    their own history) puts the rare, never-seen-before levels first. Rank-based,
    so it needs no distributional assumption and is unit-free across series.
    The window bounds memory (a sorted list of at most ``window`` floats).
    Call ``score`` before ``add`` for the same value: the rank uses past values only.
    """

    __slots__ = ("window", "_sorted", "_fifo")

    def __init__(self, window: int = 4032) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = int(window)
        self._sorted: list[float] = []
        self._fifo: deque[float] = deque()

    def score(self, value: float, direction: int = 1) -> float:
        n = len(self._sorted)
        if n == 0 or direction == 0 or value != value:
            return 0.0
        if direction > 0:
            m = n - bisect.bisect_left(self._sorted, value)
        else:
            m = bisect.bisect_right(self._sorted, value)
        return -math.log10((m + 1) / (n + 1))

    def add(self, value: float) -> None:
        if value != value:  # NaN carries no level
            return
        bisect.insort(self._sorted, value)
        self._fifo.append(value)
        if len(self._fifo) > self.window:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
