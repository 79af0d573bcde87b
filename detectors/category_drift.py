"""category_drift: the river drift detector that gates ``category_shift``.

Split out of ``category_shift`` so the choice, construction, description and
feeding of the drift detector (PageHinkley or ADWIN, one per institution and
category) are one module with one job; the detector's guard decides.

**Drift detector.** The share of every category, in percentage points, is
  fed once per non-thin bucket to a river drift detector per (institution,
  category): ``PageHinkley(mode="up", delta=2, threshold=30,
  min_instances=warmup)`` by default -- the running sum of the share's
  excess over its running mean, less 2 points per bucket, has risen 30
  points above its minimum. Bucketing first is the point: river's fading
  factors, windows and ``min_instances`` count *updates*, and one update per
  event would make "the last 100 values" mean ten minutes during an outage
  and two days at night; one update per 6-h bucket makes them event time.
  ``drift="adwin"`` gives ``ADWIN(delta=0.05, clock=1,
  min_window_length=2)`` on the same points (an ADWIN detection counts as
  *upward* when the window mean after the cut exceeds the one before it).
  Measured on the crafted streams and simulator runs, ADWIN's cut bound is
  conservative for the few samples buckets give (a small lender has two or
  three non-thin buckets a day): with river's default ``delta=0.002`` a
  30 %->60 % collection shift at cfc-e starting on simulated day 5 was never
  flagged in five days, hence the looser delta; on raw fractions instead of
  points its range term ``2/(3m) ln(2/delta)`` dominates and even a
  30 %->85 % jump takes ~20 buckets. PageHinkley needs no long reference
  window and is directional, so it is the default. The drift detector is a
  gate, not the alarm: the guard below decides.

**Compact state.** River's ``PageHinkley`` object is about 400 bytes (its
  ``__dict__``, a ``stats.Mean``, a bound method), and there is one per
  institution and category. Between buckets a track keeps only the five
  numbers river's upward test carries from one update to the next
  (``PHState``); ``DriftGate.feed`` loads them into one scratch
  ``PageHinkley`` per detector, runs river's own ``update`` on the bucket's
  share and reads them back: river stays the model, its state is a tuple.
  ``mode="up"`` never reads the decreasing side (``_sum_decrease``,
  ``_max_decrease``), so it is not kept. ``tests/test_category_shift`` checks
  detections and kept numbers, bit for bit, against a ``PageHinkley`` fed
  continuously on random input. ADWIN (optional, logarithmic size) is kept
  as river's object.
"""
from __future__ import annotations

from typing import NamedTuple

from river import drift as river_drift

HOUR = 3600.0


class PHState(NamedTuple):
    """What a ``PageHinkley(mode="up")`` carries from one update to the next.

    ``n`` and ``mean`` are its ``stats.Mean``; ``detected`` makes the next
    update start afresh, as river does.
    """

    n: float
    mean: float
    sum_increase: float
    min_increase: float
    detected: bool


def ph_state(ph: river_drift.PageHinkley) -> PHState:
    """The compact state of river's ``ph`` (an older checkpoint's detectors are converted with it)."""
    return PHState(ph._x_mean.n, ph._x_mean._mean, ph._sum_increase, ph._min_increase, ph._drift_detected)


def ph_load(ph: river_drift.PageHinkley, state: PHState | None) -> None:
    """Make river's ``ph`` continue from ``state`` (None: a fresh detector)."""
    if state is None:
        ph._reset()
        return
    m = ph._x_mean
    m.n, m._mean, ph._sum_increase, ph._min_increase, ph._drift_detected = state
    ph._sum_decrease, ph._max_decrease = 0.0, -1  # river's start values: mode "up" never reads them


class DriftGate:
    """The drift detectors of one ``CategoryShift``: made, fed and described here.

    Derived from the detector's configuration, so it is not checkpointed (the
    detector rebuilds it on load); its scratch ``PageHinkley`` holds no state
    between two ``feed`` calls.
    """

    def __init__(self, kind: str, delta: float | None, warmup: int, min_window: int, threshold: float) -> None:
        if kind not in ("adwin", "page_hinkley"):
            raise ValueError("drift must be 'adwin' or 'page_hinkley'")
        self.kind, self.delta, self.warmup, self.min_window, self.threshold = kind, delta, warmup, min_window, threshold
        self._ph = new_drift("page_hinkley", delta, warmup, min_window, threshold)

    def feed(self, tr, share: float, idx: int) -> None:
        """Feed bucket ``idx``'s share (in points) to ``tr.drift``; remember upward detections in ``tr.last_up``.

        ``tr.drift`` is None until the first feed, a ``PHState`` for
        PageHinkley, river's ``ADWIN`` object for ADWIN.
        """
        if self.kind == "adwin":
            det = tr.drift
            if det is None:
                det = tr.drift = new_drift("adwin", self.delta, self.warmup, self.min_window, self.threshold)
            before = det.estimation
            det.update(100.0 * share)
            if det.drift_detected and det.estimation > before:
                tr.last_up = idx
            return
        ph = self._ph
        ph_load(ph, tr.drift)
        ph.update(100.0 * share)
        tr.drift = ph_state(ph)
        if ph.drift_detected:
            tr.last_up = idx

    def label(self, bucket: float) -> str:
        """What the evidence calls the drift detector."""
        return drift_label(self.kind, self.delta, self.min_window, self.threshold, bucket)


def new_drift(kind: str, delta: float | None, warmup: int, min_window: int, threshold: float):
    """A fresh river drift detector of ``kind`` (``"adwin"`` or ``"page_hinkley"``)."""
    if kind == "adwin":
        return river_drift.ADWIN(delta=delta or 0.05, clock=1, grace_period=warmup,
                                 min_window_length=min_window)
    # in points: tolerate 2 points per bucket, flag a 30-point cumulative rise
    return river_drift.PageHinkley(min_instances=warmup, delta=delta or 2.0,
                                   threshold=threshold, mode="up")


def drift_label(kind: str, delta: float | None, min_window: int, threshold: float, bucket: float) -> str:
    """What the evidence calls the drift detector."""
    if kind == "adwin":
        return (f"river ADWIN(delta={delta or 0.05}, min_window_length={min_window})"
                f" on the {bucket / HOUR:g}-h bucket share in points")
    return (f"river PageHinkley(mode=up, delta={delta or 2.0}, threshold={threshold:g})"
            f" on the {bucket / HOUR:g}-h bucket share in points")
