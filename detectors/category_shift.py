"""category_shift: an institution's complaint *mix* moves towards one category and stays there.

Organised debt-dodging pressure shows up at the institution level as a change
of mix: at one bank collection complaints went from about 30 % to 85 % of all
complaints while its collection practice did not change. Genuine events move
the mix too -- an app outage floods ``service`` complaints for a few hours, a
new fee raises ``interest_fees`` for days -- and a large, sustained move of any
category is worth telling the institution's operations team about. This
detector reports such moves as *shifts* (a trend, severity ``info`` or
``warning``, never ``critical``), not as campaign alerts.

Model, per institution (the key; institutions are organisations, so they are
named), in event time:

* **Buckets.** Events are counted per category in buckets of ``bucket``
  seconds (6 h, aligned to UTC: 02-08, 08-14, 14-20, 20-02 in China). A late
  event (before the open bucket) counts in the open one. When a later event
  of the institution arrives the bucket closes. A closed bucket with fewer than
  ``min_events`` (20) complaints is *thin* (night hours, small lenders): its
  shares are mostly noise, so it is skipped entirely -- it neither learns nor
  breaks nor extends a run.

* **Shares, not counts.** Every closed bucket gives each category's share
  ``k / n``. A volume surge of every category (a holiday backlog, a new
  channel) leaves the shares where they were and does not trigger; only a
  move of the mix does.

* **Baseline.** Per (institution, category) the long-run share is an
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

* **Drift detector.** The share of every category, in percentage points, is
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

* **Guard.** A bucket is *elevated* when its share is at least
  ``baseline + min_lift / 2``. A shift is reported when, at a bucket close,

  - the last ``min_buckets`` (4, about a day) non-thin buckets are all
    elevated,
  - their pooled share is at least ``baseline + min_lift`` (15 points),
  - the pooled count is improbable under the baseline share:
    ``-log10 P[K >= k] >= threshold`` (4) for ``K`` negative binomial with
    mean ``N p0`` and variance ``N p0 (1 - p0) + N^2 tau^2`` (Poisson when
    that is below the mean, which is conservative; ``rates.surprise``),
    ``tau^2`` at least ``tau_min^2`` (3 points) -- so a 15-point lift over buckets of 20
    complaints is not enough, over buckets of 200 it is,
  - it is not a spike: without its ``spike_buckets`` (2) most excessive
    buckets the window is still improbable (``-log10 p >= spike_threshold``,
    2). An outage of a few hours touches at most two 6-h buckets (three if
    it is longer than 6 h), and a neighbouring small night bucket that
    happens to be elevated by noise must not complete the run,
  - and the drift detector flagged an upward change during the elevated run
    or at most ``drift_memory`` (4) bucket lengths before it.

  Once reported, the shift stays on while the last ``release_buckets`` (2)
  non-thin buckets pool at least ``baseline + min_lift / 2``; it is released
  below that. A shift still on after ``max_hold`` (7 days) is accepted as the
  new normal: the baseline is reset to the current share and the drift
  detector starts afresh for that category (the operations team has had a
  week of reports).

  Measured on crafted streams with the simulator's mix and hourly profile
  (600 / 300 / 150 complaints a day, five seeds, shift from local midnight):
  a step 30 % -> 85 % collection is reported after 20-28 h, 26-38 h and
  38-44 h respectively; 30 % -> 60 % after 20-29 h, ~38 h, 38-44 h;
  30 % -> 50 % in 26-86 h; 30 % -> 45 % in 1-2 of 5 runs and
  30 % -> 40 % never within four days. Steady mixes (40 x 30 days) and 864
  outage spikes (120-500 service complaints in 2-4 h at every hour of the
  day, three institutions) gave no finding; nor did ``simulate("default"
  | "hard")`` seeds 1-3, whose largest genuine move is the hard profile's fee
  change (interest_fees 17 % -> ~33 % at bank-b for about a day, then
  fading): it appears only with a looser guard (``min_lift=0.10`` or
  ``min_buckets=3``), as ``info``.

* **Findings.** While a shift is on, the first event *of that category* in
  each new bucket emits one finding (so a multi-day shift gives one finding
  per 6 h, which episodes fold into one alert). Key
  ``category_shift:<institution>:<category>``; score = the ``-log10 p``
  above; severity ``warning`` when the pooled lift is at least ``warn_lift``
  (30 points), else ``info``; ``event_ids`` = the last ``max_event_ids``
  (20) events of that category at that institution (the trigger last);
  evidence = institution, category, share now / last bucket / baseline,
  lift, the window's buckets with their events and category counts, the run
  start, the drift detector and when it flagged. No text, no complainant.

State is bounded: at most ``max_keys`` institutions (least recently seen
evicted first), a fixed set of categories per institution (the contract's
seven unless ``categories`` says otherwise; events of other categories count
in the totals only), ``min_buckets`` bucket summaries, a 20-id sample per
category, river drift detectors of constant (PageHinkley) or logarithmic
(ADWIN) size, and the last ``dedupe`` event ids (a re-delivered event is ignored).
"""
from __future__ import annotations

import math
from collections import OrderedDict, deque
from datetime import datetime, timezone

from river import drift as river_drift

from detectors.base import Finding, SlotState
from detectors.fmt import DAY, fmt_span
from detectors.rates import MAX_SCORE, surprise
from streamer.contract import CATEGORIES
from streamer.events import Event

__all__ = ["CategoryShift"]

HOUR = 3600.0


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")



def _pct(x: float) -> str:
    return f"{round(100.0 * x)} %"


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



class CategoryShift:
    """Detector: an institution's category mix shifts up for one category, sustained."""

    name = "category_shift"

    def __init__(
        self,
        *,
        bucket: float = 6 * HOUR,
        min_events: int = 20,
        min_lift: float = 0.15,
        warn_lift: float = 0.30,
        min_buckets: int = 4,
        threshold: float = 4.0,
        fading: float = 0.05,
        fast_fading: float = 0.5,
        warmup: int = 8,
        tau_min: float = 0.03,
        drift: str = "page_hinkley",
        drift_delta: float | None = None,
        drift_memory: int = 4,
        drift_min_window: int = 2,
        drift_threshold: float = 30.0,
        spike_buckets: int = 2,
        spike_threshold: float = 2.0,
        release_buckets: int = 2,
        max_hold: float = 7 * DAY,
        categories: tuple[str, ...] | None = None,
        max_keys: int = 10_000,
        max_event_ids: int = 20,
        dedupe: int = 2048,
    ) -> None:
        if drift not in ("adwin", "page_hinkley"):
            raise ValueError("drift must be 'adwin' or 'page_hinkley'")
        self.bucket = float(bucket)
        self.min_events = int(min_events)
        self.min_lift = float(min_lift)
        self.warn_lift = float(warn_lift)
        self.min_buckets = int(min_buckets)
        self.threshold = float(threshold)
        self.fading = float(fading)
        self.fast_fading = float(fast_fading)
        self.warmup = int(warmup)
        self.tau_min = float(tau_min)
        self.drift_kind = drift
        self.drift_delta = drift_delta
        self.drift_memory = int(drift_memory)
        self.drift_min_window = int(drift_min_window)
        self.drift_threshold = float(drift_threshold)
        self.spike_buckets = int(spike_buckets)
        self.spike_threshold = float(spike_threshold)
        self.release_buckets = max(1, min(int(release_buckets), self.min_buckets))
        if self.min_buckets <= self.spike_buckets:
            raise ValueError("min_buckets must exceed spike_buckets")
        self.max_hold = float(max_hold)
        self.categories = tuple(sorted(categories if categories is not None else CATEGORIES))
        self.max_keys = int(max_keys)
        self.max_event_ids = int(max_event_ids)
        self.dedupe = int(dedupe)
        self._insts: OrderedDict[str, _Inst] = OrderedDict()  # least recently seen first
        self._seen: OrderedDict[str, None] = OrderedDict()  # recent event ids, oldest first
        self.evicted_total = 0
        self.findings_total = 0
        self.shifts_total = 0
        self.duplicates_total = 0
        self.thin_total = 0

    # ------------------------------------------------------------- helpers
    def _new_drift(self):
        if self.drift_kind == "adwin":
            return river_drift.ADWIN(delta=self.drift_delta or 0.05, clock=1, grace_period=self.warmup,
                                     min_window_length=self.drift_min_window)
        # in points: tolerate 2 points per bucket, flag a 30-point cumulative rise
        return river_drift.PageHinkley(min_instances=self.warmup, delta=self.drift_delta or 2.0,
                                       threshold=self.drift_threshold, mode="up")

    def _drift_label(self) -> str:
        if self.drift_kind == "adwin":
            return (f"river ADWIN(delta={self.drift_delta or 0.05}, min_window_length={self.drift_min_window})"
                    f" on the {self.bucket / HOUR:g}-h bucket share in points")
        return (f"river PageHinkley(mode=up, delta={self.drift_delta or 2.0}, threshold={self.drift_threshold:g})"
                f" on the {self.bucket / HOUR:g}-h bucket share in points")

    def _new_inst(self) -> _Inst:
        return _Inst({c: _Track(self._new_drift(), self.max_event_ids) for c in self.categories})

    # -------------------------------------------------------------- update
    def update(self, event: Event) -> list[Finding]:
        eid = event.event_id
        if eid in self._seen:
            self.duplicates_total += 1
            return []
        self._seen[eid] = None
        if len(self._seen) > self.dedupe:
            del self._seen[next(iter(self._seen))]

        name = event.institution
        inst = self._insts.pop(name, None)
        if inst is None:
            inst = self._new_inst()
            while len(self._insts) >= self.max_keys:
                del self._insts[next(iter(self._insts))]
                self.evicted_total += 1
        self._insts[name] = inst  # most recently seen last

        b = math.floor(event.ts / self.bucket)
        if inst.cur is None:
            inst.cur = b
        elif b > inst.cur:
            self._close(inst)
            inst.cur = b
            inst.n = 0
            inst.counts = {}
        inst.n += 1
        cat = event.category
        inst.counts[cat] = inst.counts.get(cat, 0) + 1
        tr = inst.tracks.get(cat)
        if tr is None:
            return []
        tr.ids.append(eid)
        if tr.shifted and tr.reported != inst.cur:
            tr.reported = inst.cur
            return [self._finding(name, cat, tr, event)]
        return []

    # ------------------------------------------------------- bucket close
    def _close(self, inst: _Inst) -> None:
        n = inst.n
        if n < self.min_events:  # thin: skipped
            self.thin_total += 1
            return
        idx = inst.cur
        start = idx * self.bucket
        for cat, tr in inst.tracks.items():
            k = inst.counts.get(cat, 0)
            self._judge(tr, idx, start, n, k)

    def _judge(self, tr: _Track, idx: int, start: float, n: int, k: int) -> None:
        share = k / n
        ff = self.fast_fading
        tr.fast = share if tr.fast is None else tr.fast + ff * (share - tr.fast)

        # drift detector on the share in points; remember upward detections
        det = tr.drift
        if self.drift_kind == "adwin":
            before = det.estimation
            det.update(100.0 * share)
            if det.drift_detected and det.estimation > before:
                tr.last_up = idx
        else:
            det.update(100.0 * share)
            if det.drift_detected:
                tr.last_up = idx

        if tr.n_base < self.warmup:  # learn only
            self._learn(tr, share, n, winsor=False)
            return

        base = tr.base
        w = tr.window
        w.append((idx, start, n, k))
        while len(w) > self.min_buckets:
            w.popleft()
        elevated = share >= base + self.min_lift / 2
        if elevated:
            if tr.run == 0:
                tr.run_start = start
            tr.run += 1
        else:
            tr.run = 0
            tr.run_start = None

        if tr.shifted:
            last = list(w)[-self.release_buckets:]
            pn = sum(x[2] for x in last)
            pk = sum(x[3] for x in last)
            held = start + self.bucket - (tr.shift_start or start)
            if pk / pn < base + self.min_lift / 2:
                self._release(tr)
            elif held >= self.max_hold:  # accept the new level
                self._release(tr)
                tr.base = pk / pn
                tr.resid = 0.0
                tr.n_base = max(tr.n_base, self.warmup)
                tr.drift = self._new_drift()
                tr.last_up = None
            return

        if tr.run >= self.min_buckets:
            score, pooled = self._score(tr)
            run_first = math.floor((tr.run_start if tr.run_start is not None else start) / self.bucket)
            recent_drift = tr.last_up is not None and tr.last_up >= run_first - self.drift_memory
            if (pooled >= base + self.min_lift and score >= self.threshold and recent_drift
                    and self._beyond_spike(tr) >= self.spike_threshold):
                tr.shifted = True
                tr.shift_start = tr.run_start
                tr.reported = None
                tr.fired = 0
                self.shifts_total += 1
                return
        # a sustained elevated run is a candidate shift: hold the baseline (as long as max_hold)
        if tr.run < self.min_buckets or start - (tr.run_start or start) >= self.max_hold:
            self._learn(tr, share, n, winsor=True)

    def _release(self, tr: _Track) -> None:
        tr.shifted = False
        tr.shift_start = None
        tr.reported = None
        tr.fired = 0

    def _learn(self, tr: _Track, share: float, n: int, *, winsor: bool) -> None:
        if winsor:
            share = min(share, tr.base + self.min_lift / 2)
        tr.n_base += 1
        a = max(self.fading, 1.0 / tr.n_base)
        d = share - tr.base
        tr.base += a * d
        binom = tr.base * (1.0 - tr.base) / n
        if tr.n_base == 1:
            tr.resid, tr.binom = 0.0, binom
        else:
            tr.resid += a * (d * d - tr.resid)
            tr.binom += a * (binom - tr.binom)

    def _tau2(self, tr: _Track) -> float:
        return max(self.tau_min ** 2, tr.resid - tr.binom)

    def _surprise(self, tr: _Track, pn: float, pk: float) -> float:
        """-log10 P[K >= pk] for K ~ the baseline share of ``pn`` complaints, over-dispersed."""
        if pn <= 0:
            return 0.0
        p0 = min(max(tr.base, 0.5 / pn), 1.0)
        mu = pn * p0
        var = pn * p0 * (1.0 - p0) + pn * pn * self._tau2(tr)
        return surprise(pk, mu, var)

    def _score(self, tr: _Track) -> tuple[float, float]:
        """(-log10 p of the window's pooled count under the baseline, pooled share)."""
        w = tr.window
        pn = sum(x[2] for x in w)
        pk = sum(x[3] for x in w)
        if pn <= 0:
            return 0.0, 0.0
        return self._surprise(tr, pn, pk), pk / pn

    def _beyond_spike(self, tr: _Track) -> float:
        """-log10 p of the window without its ``spike_buckets`` most excessive buckets.

        A short spike (an outage of a few hours) touches at most two 6-h
        buckets; if the rest of the window is unremarkable, it was a spike.
        """
        p0 = tr.base
        rest = sorted(tr.window, key=lambda x: (x[3] - x[2] * p0, x[0]), reverse=True)[self.spike_buckets:]
        return self._surprise(tr, sum(x[2] for x in rest), sum(x[3] for x in rest))

    # ------------------------------------------------------------ finding
    def _finding(self, inst_name: str, cat: str, tr: _Track, event: Event) -> Finding:
        score, pooled = self._score(tr)
        score = max(score, 1e-3)
        base = tr.base
        lift = pooled - base
        w = list(tr.window)
        last = w[-1]
        span = (w[-1][1] + self.bucket) - (tr.shift_start if tr.shift_start is not None else w[0][1])
        tr.fired += 1
        self.findings_total += 1
        summary = (
            f"At {inst_name}, {cat} complaints rose to {_pct(pooled)} of all complaints "
            f"(baseline {_pct(base)}) over the last {fmt_span(span)}; "
            f"this is a shift in the mix, not a single campaign."
        )
        p = 10.0 ** (-score) if score < MAX_SCORE else 0.0
        return Finding(
            detector=self.name,
            key=f"{self.name}:{inst_name}:{cat}",
            score=round(float(score), 3),
            ts=event.ts,
            trigger_id=event.event_id,
            event_ids=list(tr.ids),
            summary=summary,
            severity="warning" if lift >= self.warn_lift else "info",
            evidence={
                "institution": inst_name,
                "category": cat,
                "share_now": round(pooled, 4),
                "share_last_bucket": round(last[3] / last[2], 4),
                "baseline_share": round(base, 4),
                "lift_points": round(100.0 * lift, 1),
                "buckets": len(w),
                "bucket_hours": self.bucket / HOUR,
                "bucket_starts": [_utc(x[1]) for x in w],
                "events_per_bucket": [x[2] for x in w],
                "category_events_per_bucket": [x[3] for x in w],
                "elevated_since": _utc(tr.shift_start) if tr.shift_start is not None else None,
                "span_seconds": round(span, 1),
                "p_value": p,
                "drift_detector": self._drift_label(),
                "drift_detected_at": _utc(tr.last_up * self.bucket) if tr.last_up is not None else None,
                "between_bucket_sd_points": round(100.0 * math.sqrt(self._tau2(tr)), 2),
                "reports_in_shift": tr.fired,
            },
        )

    # -------------------------------------------------------------- gauges
    def shares(self) -> dict[str, dict[str, float]]:
        """Current smoothed share of every watched category, per institution.

        A fast EW mean (``fast_fading``) of the shares of closed non-thin
        buckets; institutions without one yet are left out.
        """
        out: dict[str, dict[str, float]] = {}
        for name in sorted(self._insts):
            inst = self._insts[name]
            row = {c: tr.fast for c, tr in sorted(inst.tracks.items()) if tr.fast is not None}
            if row:
                out[name] = {c: round(v, 6) for c, v in row.items()}
        return out

    def stats(self) -> dict[str, float]:
        return {
            "tracked_keys": len(self._insts),
            "evicted_total": self.evicted_total,
            "active_shifts": sum(tr.shifted for i in self._insts.values() for tr in i.tracks.values()),
            "shifts_total": self.shifts_total,
            "findings_total": self.findings_total,
            "duplicates_total": self.duplicates_total,
            "thin_buckets_total": self.thin_total,
        }
