"""A time-of-day baseline for a sampled count series, learned causally over past days.

``SeriesModel``'s EW baseline (fading factor 0.2 per 5-min sample) follows the level
within ~5 samples. That is what makes it catch a spike, and also why it absorbs a rise
that builds up over half an hour and then stays: KO's labelled surge in NAB climbs from
~60 to ~1,000 tweets per 30 min over three hours and never surprises the fast baseline.
Tweets have strong daily cycles, so "high for this time of day" is the natural
reference for such a rise, and it does not move with the rise itself.

:class:`SeasonalBaseline` keeps, for each of ``period / slot`` time-of-day slots (24
hourly slots by default), an EW mean over *days* of the slot's average value. The day
and slot of a sample come from its timestamp (seconds), so gaps and duplicated rows do
not shift the phase. A day's slot average is folded into the slot's EW mean when a
later day first reaches that slot, so the profile used for today is learned from
earlier days only. The expected value of a sample is the profile interpolated linearly
between neighbouring slot centres (tweets ramp within an hour).

For each window length ``k`` in ``scales`` the model compares the sum of the last
``k`` values with its expectation (the sum of those samples' expected values) on a log
scale, ``y = log((sum + 1) / (expected + 1))``, and learns the typical size of ``y``
from the window's own past residuals: an EW centre and an EW mean absolute deviation
(fading factor ``alpha_disp`` per sample), each residual clipped at ``clip`` deviations
(Huber). The surprise is the Gaussian upper tail of ``z = (y - centre) / (1.2533 * MAD)``
(the factor makes the MAD a standard deviation for normal residuals). Why a log scale
and a robust spread: tweet counts are bursty and multiplicative, and a squared-residual
(negative-binomial) dispersion learned from them is dominated by the bursts themselves
-- measured on KO, it grew from 1.5 to 20 during the very rise it should have flagged.
Learning the spread per window length from the window sums also sidesteps choosing how
autocorrelated the counts are (docs/nab.md, round 4).

Samples the caller marks ``hot`` (judged anomalous) are kept out of both the profile
and the dispersion, at most ``hot_max`` in a row so that a lasting change is learned.
State is bounded: two floats and three counters per slot, ``max(scales)`` recent values,
expectations and level factors, and two floats and a counter per window length.

Measured on NAB (docs/nab.md, round 5): against the same hour of earlier days the tweet
series vary nearly as much as within a day, the missed rises are not extreme there either,
and realTweets does not gain; ``SeriesModel`` therefore leaves it off by default.
"""
from __future__ import annotations

import math
from collections import deque

__all__ = ["SeasonalBaseline", "gauss_upper_surprise"]

_MAD_TO_SD = math.sqrt(math.pi / 2.0)  # sd / mean absolute deviation of a normal distribution
_LOG10E = 1.0 / math.log(10.0)


def _step(alpha: float, n: int) -> float:
    """The EW step for the ``n + 1``-th value: the plain mean's ``1 / (n + 1)`` until that
    falls below ``alpha``, so the first values are not weighted against a zero start."""
    return alpha if n * alpha >= 1.0 else 1.0 / (n + 1)


def gauss_upper_surprise(z: float) -> float:
    """``-log10 P[Z >= z]`` for a standard normal Z (0 for z <= 0). ``erfc`` underflows
    beyond z ~ 37, so large z use the asymptotic ``log P ~ -z**2/2 - log(z * sqrt(2 pi))``."""
    if z <= 0.0:
        return 0.0
    if z < 8.0:
        return -math.log10(0.5 * math.erfc(z / math.sqrt(2.0)))
    return (0.5 * z * z + math.log(z * math.sqrt(2.0 * math.pi))) * _LOG10E


class SeasonalBaseline:
    """Time-of-day profile (EW over days) and window-sum dispersion; see the module docstring.

    Parameters
    ----------
    scales: window lengths in samples whose sums are compared with the profile.
    period: length of a cycle in seconds (a day).
    slot: width of a time-of-day slot in seconds (a divisor of ``period``).
    alpha_day: fading factor per day of a slot's mean (0.2: about five days).
    alpha_disp: fading factor per sample of the window residuals' centre and spread.
    clip: a residual is clipped at this many spreads from the centre before it is learned.
    alpha_level: fading factor per sample of a level factor ``f`` (0: off, ``f`` = 1): the
        ratio of the EW means of the values and of their expectations. A window's
        expectation is multiplied by ``f`` as it was just before the window began. Why:
        a busy news day lifts every hour; against the profile alone that day-to-day
        variation dominates the spread, while against the day's own level (learned
        before the window) only the change within the window counts.
    min_days: days a slot must have seen before its mean is used.
    min_disp: samples the dispersion must have learned before windows are tested.
    hot_max: at most this many ``hot`` samples in a row are kept out of learning.
    """

    def __init__(
        self,
        scales: tuple[int, ...] = (6, 24),
        *,
        period: float = 86400.0,
        slot: float = 3600.0,
        alpha_day: float = 0.2,
        alpha_disp: float = 0.005,
        min_days: int = 3,
        min_disp: int = 288,
        hot_max: int = 36,
        clip: float = 3.0,
        alpha_level: float = 0.0,
    ) -> None:
        if not scales or min(scales) < 1:
            raise ValueError("scales must be window lengths >= 1")
        nslots = int(round(period / slot))
        if nslots < 1 or abs(nslots * slot - period) > 1e-6 * period:
            raise ValueError("slot must divide period")
        self.scales = tuple(int(k) for k in scales)
        self.period, self.slot, self.nslots = float(period), float(slot), nslots
        self.alpha_day, self.alpha_disp = float(alpha_day), float(alpha_disp)
        self.min_days, self.min_disp, self.hot_max = int(min_days), int(min_disp), int(hot_max)
        self.clip = float(clip)
        self.alpha_level = float(alpha_level)
        self.ew_x = self.ew_e = 0.0  # EW means of values and expectations (level factor) ...
        self.n_level = 0
        self.factors: deque[float] = deque([1.0], maxlen=max(self.scales))  # ... f after each sample
        self.mean = [0.0] * nslots  # EW mean over days of the slot's daily average
        self.days = [0] * nslots  # days folded into the slot's mean
        self.day = [-1] * nslots  # the day whose average is being accumulated ...
        self.acc = [0.0] * nslots  # ... its sum ...
        self.nacc = [0] * nslots  # ... and its sample count
        k_max = max(self.scales)
        self.values: deque[float] = deque(maxlen=k_max)
        self.expected: deque[float] = deque(maxlen=k_max)  # NaN before the profile is warm
        self.centre = [0.0] * len(self.scales)  # EW centre of each window's log residual ...
        self.mad = [0.0] * len(self.scales)  # ... and its EW mean absolute deviation
        self.n_disp = [0] * len(self.scales)
        self.hot_run = 0
        self._pending: list[tuple[int, float]] = []  # (scale index, log residual) to learn

    def expect(self, ts: float) -> float:
        """Expected value of a sample at ``ts`` (NaN until both neighbouring slots are warm)."""
        pos = (ts % self.period) / self.slot - 0.5  # in slot units, 0 at the first slot's centre
        j0 = math.floor(pos)
        w = pos - j0
        a, b = j0 % self.nslots, (j0 + 1) % self.nslots
        if self.days[a] < self.min_days or self.days[b] < self.min_days:
            return math.nan
        return (1.0 - w) * self.mean[a] + w * self.mean[b]

    def update(self, value: float, ts: float) -> list[tuple[int, float, float, float]]:
        """Add a sample; return ``(k, sum, expected, surprise)`` for every window that can be
        tested now (profile warm over the whole window, spread learned), ``surprise`` being
        ``-log10`` of the upper tail (0 at or below the centre). Call :meth:`learn`
        afterwards with whether the sample was judged anomalous."""
        self._fold(ts)
        e = self.expect(ts)
        self.values.append(value)
        self.expected.append(e)
        out = []
        self._pending = []
        n = len(self.values)
        for j, k in enumerate(self.scales):
            if k > n:
                continue
            exp_k = sum(self.expected[n - 1 - i] for i in range(k))
            if not exp_k >= 0.0:  # NaN: the profile is not warm over the whole window
                continue
            obs_k = sum(self.values[n - 1 - i] for i in range(k))
            if self.alpha_level > 0.0:  # the level factor from before the window's first sample
                exp_k *= self.factors[-k] if k <= len(self.factors) else self.factors[0]
            y = math.log((obs_k + 1.0) / (exp_k + 1.0))
            self._pending.append((j, y))
            if self.n_disp[j] >= self.min_disp and self.mad[j] > 0.0:
                z = (y - self.centre[j]) / (_MAD_TO_SD * self.mad[j])
                out.append((k, obs_k, exp_k, gauss_upper_surprise(z)))
        self._ts, self._value, self._expected = ts, value, e
        return out

    def learn(self, hot: bool = False) -> None:
        """Learn the sample given to the last :meth:`update` unless it is ``hot``."""
        if hot and self.hot_run < self.hot_max:
            self.hot_run += 1
            self.factors.append(self.factors[-1])
            return
        self.hot_run = 0
        e = self._expected
        if self.alpha_level > 0.0 and e == e:
            n = self.n_level
            a = _step(self.alpha_level, n)
            self.ew_x += a * (self._value - self.ew_x)
            self.ew_e += a * (e - self.ew_e)
            self.n_level = n + 1
        self.factors.append((self.ew_x + 1e-9) / (self.ew_e + 1e-9) if self.n_level else 1.0)
        j_slot = int((self._ts % self.period) // self.slot)
        self.acc[j_slot] += self._value
        self.nacc[j_slot] += 1
        for j, y in self._pending:
            n = self.n_disp[j]
            a = _step(self.alpha_disp, n)
            dev = y - self.centre[j]
            if n >= self.min_disp:  # Huber: a burst moves the centre and spread by a bounded step
                lim = self.clip * _MAD_TO_SD * self.mad[j]
                dev = max(-lim, min(lim, dev))
            self.centre[j] += a * dev
            self.mad[j] += a * (abs(dev) - self.mad[j])
            self.n_disp[j] = n + 1

    def _fold(self, ts: float) -> None:
        """Start a new day in this sample's slot: fold the slot's previous day into its mean."""
        j = int((ts % self.period) // self.slot)
        d = int(ts // self.period)
        if d == self.day[j]:
            return
        if self.nacc[j]:
            avg = self.acc[j] / self.nacc[j]
            n = self.days[j]
            a = _step(self.alpha_day, n)
            self.mean[j] += a * (avg - self.mean[j])
            self.days[j] = n + 1
        self.day[j], self.acc[j], self.nacc[j] = d, 0.0, 0
