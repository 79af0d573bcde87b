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

**State, compact** (a flood of new institutions cost 13 KB each before):

* ``_Inst`` keeps the open bucket (index, total) and ``win``, the
  ``(index, start, n)`` of the last ``min_buckets`` non-thin closed buckets,
  once for all its categories; each ``_Track`` keeps only its counts in those
  buckets (``ks``, aligned to the end of ``win``: a track counts from its
  ``warmup``-th bucket on) and in the open bucket (``k``). ``window`` joins
  them into the ``(index, start, n, k)`` rows the statistics read.
* A track is made at its category's first event or, for the categories the
  institution has not had yet, at its first non-thin bucket close: until then
  nothing has happened to it (thin buckets are skipped entirely), so a later
  fresh track is the same as an early one. A new institution costs one track.
* The drift detector is a ``category_drift.PHState`` tuple (None before the
  first bucket), the sample of event ids a list trimmed at
  ``max_event_ids``.

Older checkpoints (a ``deque`` window and ``deque`` ids per track, river's
``PageHinkley`` object, a per-bucket ``counts`` dict per institution) are
converted on load. State: plain attributes (``SlotState``), pickles.
"""
from __future__ import annotations

from collections import deque

from river.drift import PageHinkley

from detectors.base import SlotState
from detectors.category_drift import PHState, ph_state
from detectors.rates import surprise

#: one bucket of the window as the statistics read it: (bucket index, bucket start ts, n, k)
Row = tuple[int, float, int, int]


class _Track(SlotState):
    """One (institution, category): baseline, drift detector, run, counts, sample of ids."""

    __slots__ = (
        "base", "n_base", "resid", "binom", "fast", "drift", "last_up",
        "ks", "run", "run_start", "shifted", "shift_start", "reported", "fired", "ids", "k",
    )
    _SLOT_DEFAULTS = {"ks": (), "k": 0}

    def __init__(self) -> None:
        self.base = 0.0  # EW mean of bucket shares (the long-run baseline)
        self.n_base = 0  # buckets learned
        self.resid = 0.0  # EW mean of (share - base)^2
        self.binom = 0.0  # EW mean of base (1 - base) / n  (the binomial part of resid)
        self.fast: float | None = None  # fast EW share for shares()
        self.drift: PHState | object | None = None  # PageHinkley's state, or river's ADWIN; None before the first bucket
        self.last_up: int | None = None  # bucket index of the last upward drift detection
        self.ks: tuple[int, ...] = ()  # this category's count in the last buckets of _Inst.win (aligned to its end)
        self.run = 0  # consecutive non-thin elevated buckets
        self.run_start: float | None = None  # start ts of the first bucket of the run
        self.shifted = False
        self.shift_start: float | None = None
        self.reported: int | None = None  # open-bucket index of the last finding
        self.fired = 0  # findings emitted in the current shift
        self.ids: list[str] = []  # the last max_event_ids event ids of this category, oldest first
        self.k = 0  # events of this category in the open bucket

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if "window" in state:  # older layout: its (index, start, n, k) rows; _Inst.__setstate__ splits them
            state["ks"] = tuple(state.pop("window"))
        super().__setstate__(state)
        if isinstance(self.ids, deque):
            self.ids = list(self.ids)
        if isinstance(self.drift, PageHinkley):
            self.drift = ph_state(self.drift)


class _Inst(SlotState):
    """One institution: the open bucket, the last non-thin buckets, a track per category it has had."""

    __slots__ = ("cur", "n", "tracks", "win")
    _SLOT_DEFAULTS = {"win": ()}

    def __init__(self) -> None:
        self.cur: int | None = None  # index of the open bucket
        self.n = 0  # events in the open bucket
        self.tracks: dict[str, _Track] = {}
        self.win: tuple[tuple[int, float, int], ...] = ()  # (index, start ts, n) of the last non-thin buckets

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        counts = state.pop("counts", None)
        super().__setstate__(state)
        if counts is None:
            return
        # older layout: counts of the open bucket per category, a window of full rows per track
        # (all end at the institution's last non-thin bucket; the longest is the institution's)
        rows = max((tr.ks for tr in self.tracks.values()), key=len, default=())
        self.win = tuple(r[:3] for r in rows)
        for cat, tr in self.tracks.items():
            tr.k = counts.get(cat, 0)
            tr.ks = tuple(r[3] for r in tr.ks)


def window(win: tuple[tuple[int, float, int], ...], ks: tuple[int, ...]) -> list[Row]:
    """A track's window: its counts ``ks`` joined to the last ``len(ks)`` buckets of its institution's ``win``."""
    return [(*b, k) for b, k in zip(win[len(win) - len(ks):], ks)]


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


def window_score(tr: _Track, w: list[Row], tau_min: float) -> tuple[float, float]:
    """(-log10 p of the window ``w``'s pooled count under the baseline, pooled share)."""
    pn = sum(x[2] for x in w)
    pk = sum(x[3] for x in w)
    if pn <= 0:
        return 0.0, 0.0
    return track_surprise(tr, pn, pk, tau_min), pk / pn


def beyond_spike(tr: _Track, w: list[Row], spike_buckets: int, tau_min: float) -> float:
    """-log10 p of the window without its ``spike_buckets`` most excessive buckets.

    A short spike (an outage of a few hours) touches at most two 6-h
    buckets; if the rest of the window is unremarkable, it was a spike.
    """
    p0 = tr.base
    rest = sorted(w, key=lambda x: (x[3] - x[2] * p0, x[0]), reverse=True)[spike_buckets:]
    return track_surprise(tr, sum(x[2] for x in rest), sum(x[3] for x in rest), tau_min)
