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
"""
from __future__ import annotations

from river import drift as river_drift

HOUR = 3600.0


def new_drift(kind: str, delta: float | None, warmup: int, min_window: int, threshold: float):
    """A fresh drift detector of ``kind`` (``"adwin"`` or ``"page_hinkley"``)."""
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


def feed_drift(tr, kind: str, share: float, idx: int) -> None:
    """Feed bucket ``idx``'s share (in points) to ``tr.drift``; remember upward detections in ``tr.last_up``."""
    det = tr.drift
    if kind == "adwin":
        before = det.estimation
        det.update(100.0 * share)
        if det.drift_detected and det.estimation > before:
            tr.last_up = idx
    else:
        det.update(100.0 * share)
        if det.drift_detected:
            tr.last_up = idx
