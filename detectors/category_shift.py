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
  exponentially weighted mean of bucket shares, winsorised and held during a
  candidate run or a shift so a rise cannot become its own normal; with it
  the extra between-bucket variance ``tau^2`` -- see ``category_state``.

* **Drift detector.** The share of every category, in percentage points, is
  fed once per non-thin bucket to a river drift detector per (institution,
  category): ``PageHinkley`` by default, ``drift="adwin"`` for ADWIN -- a
  gate, not the alarm: the guard below decides. See ``category_drift``.

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
  per 6 h, which episodes fold into one alert); key, score, severity and
  evidence: ``category_findings``.

Modules: ``category_state`` (per-(institution, category) state, its compact
layout, and baseline statistics), ``category_drift`` (the river drift detector),
``category_findings`` (summary and evidence); this one keeps the bucket
clock, the guard and the shift lifecycle.

State is bounded: at most ``max_keys`` institutions (least recently seen
evicted first), a fixed set of categories per institution (the contract's
seven unless ``categories`` says otherwise; events of other categories count
in the totals only), ``min_buckets`` bucket summaries, a 20-id sample per
category, river drift detectors of constant (PageHinkley) or logarithmic
(ADWIN) size, and the last ``dedupe`` event ids (a re-delivered event is ignored).
A new institution costs one track, not seven (see ``category_state``); the
recent ids are a plain dict with a deque for their order, half the bytes of an
``OrderedDict`` of the same ids.
"""
from __future__ import annotations

import math
from collections import OrderedDict, deque

from detectors.base import Finding
from detectors.category_drift import DriftGate
from detectors.category_findings import build_finding
from detectors.category_state import beyond_spike, learn, window, window_score
from detectors.fmt import DAY
from streamer.contract import CATEGORIES
from streamer.events import Event

# Re-exported from category_state: old checkpoints pickled _Track and _Inst by
# their path in this module (``detectors.category_shift._Track``) and must still
# unpickle.
from detectors.category_state import _Inst, _Track

__all__ = ["CategoryShift"]

HOUR = 3600.0


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
        if int(max_event_ids) < 0:
            raise ValueError("max_event_ids must be >= 0")
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
        self._seen: dict[str, None] = {}  # the last `dedupe` event ids
        self._seen_order: deque[str] = deque()  # the same ids, oldest first
        self.evicted_total = 0
        self.findings_total = 0
        self.shifts_total = 0
        self.duplicates_total = 0
        self.thin_total = 0
        self._gate = self._new_gate()

    # ------------------------------------------------------------- checkpoints
    def _new_gate(self) -> DriftGate:
        return DriftGate(self.drift_kind, self.drift_delta, self.warmup, self.drift_min_window, self.drift_threshold)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_gate"]  # derived from the configuration
        del state["_seen"]  # the same ids as _seen_order
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        seen = state.pop("_seen", None)
        if isinstance(seen, OrderedDict):  # older checkpoints: one OrderedDict, oldest first
            state["_seen_order"] = deque(seen)
        self.__dict__.update(state)
        self._seen = dict.fromkeys(self._seen_order)
        self._gate = self._new_gate()

    # -------------------------------------------------------------- update
    def update(self, event: Event) -> list[Finding]:
        eid = event.event_id
        seen = self._seen
        if eid in seen:
            self.duplicates_total += 1
            return []
        seen[eid] = None
        order = self._seen_order
        order.append(eid)
        if len(order) > self.dedupe:
            del seen[order.popleft()]  # the oldest id

        name = event.institution
        insts = self._insts
        inst = insts.get(name)
        if inst is None:
            inst = _Inst()
            while len(insts) >= self.max_keys:
                del insts[next(iter(insts))]
                self.evicted_total += 1
            insts[name] = inst  # most recently seen last
        else:
            insts.move_to_end(name)  # one call instead of pop + re-insert; the same order

        b = math.floor(event.ts / self.bucket)
        if inst.cur is None:
            inst.cur = b
        elif b > inst.cur:
            self._close(inst)
            inst.cur = b
            inst.n = 0
        inst.n += 1
        cat = event.category
        tr = inst.tracks.get(cat)
        if tr is None:
            if cat not in self.categories:  # counts in the totals only
                return []
            tr = inst.tracks[cat] = _Track()  # its first event (see category_state: made when needed)
        tr.k += 1
        ids = tr.ids
        ids.append(eid)
        if len(ids) > self.max_event_ids:
            del ids[0]
        if tr.shifted and tr.reported != inst.cur:
            tr.reported = inst.cur
            return [build_finding(self, name, cat, tr, window(inst.win, tr.ks), event)]
        return []

    # ------------------------------------------------------- bucket close
    def _close(self, inst: _Inst) -> None:
        n = inst.n
        tracks = inst.tracks
        if n < self.min_events:  # thin: skipped
            self.thin_total += 1
            for tr in tracks.values():
                tr.k = 0
            return
        if len(tracks) < len(self.categories):
            # the first judged bucket: every watched category from now on, in the configured order
            tracks = inst.tracks = {c: tracks.get(c) or _Track() for c in self.categories}
        idx = inst.cur
        start = idx * self.bucket
        inst.win = (*inst.win, (idx, start, n))[-self.min_buckets:]
        for tr in tracks.values():
            k, tr.k = tr.k, 0
            self._judge(inst, tr, idx, start, n, k)

    def _judge(self, inst: _Inst, tr: _Track, idx: int, start: float, n: int, k: int) -> None:
        share = k / n
        ff = self.fast_fading
        tr.fast = share if tr.fast is None else tr.fast + ff * (share - tr.fast)

        # drift detector on the share in points; remember upward detections
        self._gate.feed(tr, share, idx)

        if tr.n_base < self.warmup:  # learn only
            learn(tr, share, n, winsor=False, fading=self.fading, min_lift=self.min_lift)
            return

        base = tr.base
        tr.ks = (*tr.ks, k)[-self.min_buckets:]
        w = window(inst.win, tr.ks)
        elevated = share >= base + self.min_lift / 2
        if elevated:
            if tr.run == 0:
                tr.run_start = start
            tr.run += 1
        else:
            tr.run = 0
            tr.run_start = None

        if tr.shifted:
            last = w[-self.release_buckets:]
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
                tr.drift = None  # afresh
                tr.last_up = None
            return

        if tr.run >= self.min_buckets:
            score, pooled = window_score(tr, w, self.tau_min)
            run_first = math.floor((tr.run_start if tr.run_start is not None else start) / self.bucket)
            recent_drift = tr.last_up is not None and tr.last_up >= run_first - self.drift_memory
            if (pooled >= base + self.min_lift and score >= self.threshold and recent_drift
                    and beyond_spike(tr, w, self.spike_buckets, self.tau_min) >= self.spike_threshold):
                tr.shifted = True
                tr.shift_start = tr.run_start
                tr.reported = None
                tr.fired = 0
                self.shifts_total += 1
                return
        # a sustained elevated run is a candidate shift: hold the baseline (as long as max_hold)
        if tr.run < self.min_buckets or start - (tr.run_start or start) >= self.max_hold:
            learn(tr, share, n, winsor=True, fading=self.fading, min_lift=self.min_lift)

    def _release(self, tr: _Track) -> None:
        tr.shifted = False
        tr.shift_start = None
        tr.reported = None
        tr.fired = 0

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
