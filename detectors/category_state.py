"""category_state: per-(institution, category) state of ``category_shift`` and its baseline.

Split out of ``category_shift`` so the state kept per institution and
category (the open bucket, the window of bucket summaries, the run and shift
flags) and the baseline statistics over it (learning, over-dispersion, the
pooled-count surprise) are one module with one job; the detector keeps the
bucket clock, the guard and the shift lifecycle.

**Baseline.** Per (institution, category) the long-run share is an
  exponentially weighted mean of bucket shares (``fading`` 0.05 per bucket,
  about 5 days of 6-h buckets; a plain mean during the first ``1/fading``
  buckets, so it starts from data rather than from zero; the first
  ``warmup`` (8) non-thin buckets only learn). It learns each bucket
  winsorised at ``baseline + min_lift / 2`` (noise in small buckets is
  symmetric, dropping high buckets would bias it low), holds while a
  candidate run of ``min_buckets`` elevated buckets lasts or a shift is
  reported (for at most ``max_hold``), so a rise cannot become its own
  normal. The EW mean of squared deviations, minus the binomial part
  ``p (1 - p) / n``, estimates the extra between-bucket variance ``tau^2``
  of the share. A second, fast EW mean (``fast_fading`` 0.5) is what
  ``shares()`` reports.

State: plain attributes (``SlotState``), pickles.
"""
from __future__ import annotations

from collections import deque

from detectors.base import SlotState
from detectors.rates import surprise


class _Track(SlotState):
    """One (institution, category): baseline, drift detector, run, sample of ids."""

    __slots__ = (
        "base", "n_base", "resid", "binom", "fast", "drift", "last_up",
        "window", "run", "run_start", "shifted", "shift_start", "reported", "fired", "ids",
    )

    def __init__(self, drift, max_event_ids: int) -> None:
        self.base = 0.0  # EW mean of bucket shares (the long-run baseline)
        self.n_base = 0  # buckets learned
        self.resid = 0.0  # EW mean of (share - base)^2
        self.binom = 0.0  # EW mean of base (1 - base) / n  (the binomial part of resid)
        self.fast: float | None = None  # fast EW share for shares()
        self.drift = drift
        self.last_up: int | None = None  # bucket index of the last upward drift detection
        self.window: deque = deque()  # (bucket index, bucket start ts, n, k) of the last non-thin buckets
        self.run = 0  # consecutive non-thin elevated buckets
        self.run_start: float | None = None  # start ts of the first bucket of the run
        self.shifted = False
        self.shift_start: float | None = None
        self.reported: int | None = None  # open-bucket index of the last finding
        self.fired = 0  # findings emitted in the current shift
        self.ids: deque = deque(maxlen=max_event_ids)


class _Inst(SlotState):
    """One institution: the open bucket and a track per watched category."""

    __slots__ = ("cur", "n", "counts", "tracks")

    def __init__(self, tracks: dict[str, _Track]) -> None:
        self.cur: int | None = None
        self.n = 0
        self.counts: dict[str, int] = {}
        self.tracks = tracks


def learn(tr: _Track, share: float, n: int, *, winsor: bool, fading: float, min_lift: float) -> None:
    """Teach the baseline one bucket's share (winsorised at ``base + min_lift / 2`` if ``winsor``)."""
    if winsor:
        share = min(share, tr.base + min_lift / 2)
    tr.n_base += 1
    a = max(fading, 1.0 / tr.n_base)
    d = share - tr.base
    tr.base += a * d
    binom = tr.base * (1.0 - tr.base) / n
    if tr.n_base == 1:
        tr.resid, tr.binom = 0.0, binom
    else:
        tr.resid += a * (d * d - tr.resid)
        tr.binom += a * (binom - tr.binom)


def tau2(tr: _Track, tau_min: float) -> float:
    """Extra between-bucket variance of the share, at least ``tau_min ** 2``."""
    return max(tau_min ** 2, tr.resid - tr.binom)


def track_surprise(tr: _Track, pn: float, pk: float, tau_min: float) -> float:
    """-log10 P[K >= pk] for K ~ the baseline share of ``pn`` complaints, over-dispersed."""
    if pn <= 0:
        return 0.0
    p0 = min(max(tr.base, 0.5 / pn), 1.0)
    mu = pn * p0
    var = pn * p0 * (1.0 - p0) + pn * pn * tau2(tr, tau_min)
    return surprise(pk, mu, var)


def window_score(tr: _Track, tau_min: float) -> tuple[float, float]:
    """(-log10 p of the window's pooled count under the baseline, pooled share)."""
    w = tr.window
    pn = sum(x[2] for x in w)
    pk = sum(x[3] for x in w)
    if pn <= 0:
        return 0.0, 0.0
    return track_surprise(tr, pn, pk, tau_min), pk / pn


def beyond_spike(tr: _Track, spike_buckets: int, tau_min: float) -> float:
    """-log10 p of the window without its ``spike_buckets`` most excessive buckets.

    A short spike (an outage of a few hours) touches at most two 6-h
    buckets; if the rest of the window is unremarkable, it was a spike.
    """
    p0 = tr.base
    rest = sorted(tr.window, key=lambda x: (x[3] - x[2] * p0, x[0]), reverse=True)[spike_buckets:]
    return track_surprise(tr, sum(x[2] for x in rest), sum(x[3] for x in rest), tau_min)
