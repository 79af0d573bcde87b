#!/usr/bin/env python3
"""Run surgewatch's surge-rate model over the Numenta Anomaly Benchmark (NAB) data.

    python bench/nab.py --data /work/shared/benchmarks/nab/data --out /tmp/nab_out
    python bench/nab.py --data DIR --out OUT --category realTweets
    python bench/nab.py --data DIR --out OUT --param confirm=0      # an ablation

Reads every ``DIR/<category>/<file>.csv`` (columns ``timestamp,value``) and
writes ``OUT/<category>/<file>.csv`` with ``timestamp,value,anomaly_score``:
the same rows in the same order, the score in [0, 1]. Score the output with
NAB's rules (``bench/nab_report.py`` runs the scorer for you).

The model (one fixed parameter set, ``PARAMS``, for every file of every category)
------------------------------------------------------------------------------
Each file is a fresh :class:`detectors.series.SeriesModel`, the thin layer over
``detectors.rates.RateModel`` that the detectors' surge-rate model runs on a
sampled series:

* every sample is one bucket of the rate model; the river ``EWMean``/``EWVar``
  baseline (fading factor ``alpha``) learns the closed buckets, except samples
  judged anomalous (surprise >= ``hot_level``, at most ``hot_max`` in a row);
* count series (tweets per 5 min, ELB requests) are used as counts; continuous
  metrics (CPU %, bytes) become quasi-counts in units of ``var / mean``;
* the negative binomial's dispersion is the larger of the local EW variance
  and a long-run burstiness (excess variance over squared mean, fading factor
  ``alpha_long``): a series full of spikes needs a bigger spike to surprise;
* the sums of the last ``scales`` samples are tested against the baseline
  with the Poisson / negative-binomial upper tail (``rates.surprise``) and,
  ``two_sided``, the lower tail (drops, weighted ``down_weight``): score
  ``s = -log10 p``, best over windows and sides, Bonferroni-corrected;
* continuous metrics also test the ``continuous_scales`` windows (4 h): level
  shifts and slow ramps in server metrics need a longer window, tweet counts
  (single-sample spikes) do not, and whether a series is a count series is known
  from its values alone;
* **alarm suppression**: once the surprise reaches ``alarm_level``, the next
  ``quiet`` samples start no alarm (NAB credits only the earliest detection in a
  window and charges every other flag as a false positive) -- unless a later
  alarm is more novel than the one that started the quiet period by more than
  ``break_margin`` decades (break-through);
* **ranking alarms by level novelty** (``emit="novelty"``): an alarm emits not
  ``s`` but the novelty of its level -- the empirical tail rank
  ``-log10((m + 1) / (n + 1))`` among the last ``novelty_window`` values of the
  same series (``detectors.series.LevelNovelty``; upper tail for a surge, lower
  for a drop). With ``confirm`` = D it is emitted D samples after the onset and
  ranks the sum of those D + 1 samples among the series' earlier (D+1)-sums, so a
  sustained burst outranks a one-sample blip. The rate model decides *when*
  there is an alarm; novelty decides how much it counts. ``emit="surprise"``
  emits ``s`` at the onset (the first model). See ``AlarmLayer``;
* **ranking the alarming window** (``rank_window``): an alarm raised by a window
  longer than the confirmation (6, 24 or 48 samples) emits at once the novelty
  of that window's sum among the series' past sums of that length -- the rate
  model found the *window* surprising, so the window is what is ranked;
* ``shift_scales`` / ``continuous_shift_scales`` (off): windows tested against
  the baseline from before the window (a level-shift test; docs/nab.md, round 4);
* ``seasonal_scales`` (off): count-series windows tested against a time-of-day
  baseline learned over past days (``detectors.seasonal``; docs/nab.md, round 5);
  the rows' timestamps place each sample in the day;
* **squashing**: ``anomaly_score = x / (x + squash)``, a fixed monotone map
  into [0, 1) -- NAB's scorer picks the threshold per profile itself.

Streaming and causal: sample ``i``'s score depends on samples ``0..i`` only;
no labels are read. The first ``warmup`` samples score 0 (NAB ignores the first
15 % of each file anyway, its "probationary period").
"""
from __future__ import annotations

import argparse
import ast
import csv
import datetime
import math
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, fields, replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detectors.series import LevelNovelty, SeriesModel  # noqa: E402


@dataclass(frozen=True)
class Params:
    """The one parameter set used for every file (chosen on NAB, see docs/nab.md)."""

    scales: tuple[int, ...] = (1, 6, 24)  # window lengths in samples (5, 30, 120 min)
    continuous_scales: tuple[int, ...] = (48,)  # extra windows for continuous metrics only (4 h)
    shift_scales: tuple[int, ...] = ()  # windows tested against the pre-window baseline (level shifts)
    continuous_shift_scales: tuple[int, ...] = ()  # ... for continuous metrics only
    alpha: float = 0.2  # fading factor of the EW baseline (level follows ~5 samples)
    alpha_long: float = 0.005  # fading factor of the long-run burstiness (~200 samples)
    two_sided: bool = True  # test drops too
    down_weight: float = 1.0  # weight of a drop's surprise
    min_cv: float = 0.01  # variance floor of continuous series (coefficient of variation)
    warmup: int = 12  # samples learned before scoring
    hot_level: float = 4.0  # surprise at which a sample is kept out of the baseline ...
    hot_max: int = 12  # ... for at most this many samples in a row
    alarm_level: float = 5.0  # surprise that starts a quiet period ...
    quiet: int = 200  # ... of this many samples emitting 0
    squash: float = 10.0  # anomaly_score = x / (x + squash)
    emit: str = "novelty"  # what an alarm row emits: "novelty" (level tail rank) or "surprise" (s)
    novelty_window: int = 4032  # past values the novelty rank uses (4032 5-min samples = 2 weeks)
    confirm: int = 2  # novelty: emit `confirm` samples after the onset, ranking the burst's sum
    break_margin: float | None = 2.0  # novelty: an alarm this much more novel ends a quiet period
    season: int = 288  # samples per day (5-min data; 0: no seasonal discount) ...
    season_days: int = 14  # ... past days at the same time of day that are checked ...
    season_slack: int = 3  # ... each within +- this many samples
    rank_window: bool = True  # novelty: an alarm from a window > confirm + 1 samples ranks that window's sum
    seasonal_scales: tuple[int, ...] = ()  # count series: windows tested against the time-of-day baseline
    seasonal_slot: int = 3600  # seconds per time-of-day slot of that baseline ...
    seasonal_alpha_day: float = 0.2  # ... its fading factor per day ...
    seasonal_alpha_disp: float = 0.005  # ... of its window residuals' spread (per sample) ...
    seasonal_alpha_level: float = 0.0  # ... and of its level factor (per sample; 0: off)
    seasonal_weight: float = 1.0  # multiplies the seasonal windows' surprise
    seasonal_hot: bool = True  # a seasonal-only anomaly is kept out of the fast baseline too


PARAMS = Params()


class AlarmLayer:
    """Turns the rate model's per-sample surprise into NAB anomaly scores (causal, streaming).

    * **Alarm onset:** a sample whose surprise ``s`` reaches ``alarm_level`` outside a quiet
      period starts an alarm and a quiet period of ``quiet`` samples (NAB credits only the
      earliest detection in a window and charges every other flag).
    * **Break-through** (``break_margin``): a quiet period mutes later alarms only if they
      are no more novel than the alarm that started it, plus ``break_margin`` decades. Why:
      an alarm at a level the series has seen before (a nightly job, a drop in a quiet hour)
      would otherwise hide a genuinely new level hours later; on AWS many labelled level
      changes come less than ``quiet`` samples after such an alarm.
    * **Ranking by novelty** (``emit="novelty"``): the alarm emits the level novelty of the
      burst, not ``s``. With ``confirm`` = D > 0 it is emitted D samples after the onset and
      ranks the *sum* of the D + 1 samples since the onset among all earlier (D+1)-sample sums
      of the series (a second ``LevelNovelty``). Why: a one-sample blip (a retweet storm that
      is over within 5 minutes) and a sustained burst look alike in their first sample; 10
      minutes later the burst's size tells them apart, and NAB's windows (~400 samples) make
      a 2-sample delay cost ~0.5 % of a detection's credit. All other rows emit 0.
    * **Seasonal discount** (``season`` > 0): the novelty is lowered by ``log10(1 + d)``, where
      d is the number of the last ``season_days`` days on which the same statistic reached the
      alarm's level (or, for a drop, went as low) within ``season_slack`` samples of the same
      time of day. As a rank, ``h - log10(1 + d) = -log10((m + 1)(d + 1) / (n + 1))``: each day
      that already showed this level at this hour multiplies the tail fraction. Why: a nightly
      batch job is a new level for no one -- it reached it yesterday at the same time -- yet
      it is rare among all two weeks' values (AWS CPU and disk series alarm daily this way).
    * **Ranking the alarming window** (``rank_window``): an alarm whose most surprising test
      was a window of k > ``confirm`` + 1 samples emits at once the novelty of that window's
      sum among the series' past k-sums (one more ``LevelNovelty`` per window length), with
      no confirmation and no seasonal discount. Why: the novelty of a 3-sample burst says
      little about a level shift that built up over two hours -- its single samples are
      ordinary, their sum is not -- and the window already spans more than the confirmation
      would wait for.
    * ``emit="surprise"``: the onset row emits ``s`` (the first model, for the ablation).
    """

    def __init__(self, p: Params) -> None:
        if p.emit not in ("novelty", "surprise"):
            raise ValueError(f"emit must be 'novelty' or 'surprise', not {p.emit!r}")
        if p.confirm < 0:
            raise ValueError("confirm must be >= 0")
        self.p = p
        novelty = p.emit == "novelty"
        self.level = LevelNovelty(p.novelty_window) if novelty else None  # single values
        self.burst = LevelNovelty(p.novelty_window) if novelty and p.confirm else None  # (D+1)-sums
        self.recent: deque[float] = deque(maxlen=p.confirm + 1)
        # the ranked statistic (value or (D+1)-sum) of the last season_days days, for the discount
        span = p.season * p.season_days + p.season_slack + 1 if p.season > 0 else 0
        self.history: deque[float] = deque(maxlen=max(span, 1))
        # window length -> novelty of its sums, for alarms raised by long windows (rank_window)
        self.windows: dict[int, LevelNovelty] = {}
        if novelty and p.rank_window:
            lengths = (p.scales + p.continuous_scales + p.shift_scales + p.continuous_shift_scales
                       + p.seasonal_scales)
            self.windows = {k: LevelNovelty(p.novelty_window) for k in sorted(set(lengths)) if k > p.confirm + 1}
        self.tail: deque[float] = deque(maxlen=max(self.windows, default=1))  # the last values
        self.i = 0
        self.quiet_until = -1
        self.current = 0.0  # novelty of the alarm that started the quiet period
        self.pending: tuple[int, int] | None = None  # (row to emit at, direction)

    def step(self, value: float, s: float, direction: int, window: int = 1) -> float:
        """Raw score (>= 0, before squashing) of the sample just scored by the rate model
        (``window``: the length of its most surprising window)."""
        p, i = self.p, self.i
        self.i += 1
        if self.level is None:  # surprise emission: onset rows emit s
            if i >= self.quiet_until and s >= p.alarm_level:
                self.quiet_until = i + 1 + p.quiet
                return s
            return 0.0
        self.recent.append(value)
        sums = self._window_sums(value)
        out = 0.0
        if s >= p.alarm_level:
            by_window = window in sums  # raised by a long window: rank that window's sum
            if by_window:
                h = self.windows[window].score(sums[window], direction)
            else:
                h = self.level.score(value, direction)
            if i >= self.quiet_until or (p.break_margin is not None and h > self.current + p.break_margin):
                self.quiet_until = i + 1 + p.quiet
                self.current = h
                if by_window:
                    out = h
                    self.pending = None  # (a break-through) supersedes a confirmation still pending
                elif self.burst is None:
                    out = h
                else:
                    self.pending = (i + p.confirm, direction)  # a newer onset replaces a pending one
        if self.burst is not None:
            total = sum(self.recent) if len(self.recent) == self.recent.maxlen else math.nan
            self.history.append(total)
            if self.pending is not None and self.pending[0] == i:
                direction = self.pending[1]
                out = self.burst.score(total, direction) - self._seasonal(total, direction)
                self.pending = None
            self.burst.add(total)
        else:
            self.history.append(value)
            if out > 0.0:
                out -= self._seasonal(value, direction)
        self.level.add(value)
        for k, nov in self.windows.items():
            nov.add(sums[k])
        return max(0.0, out)

    def _window_sums(self, value: float) -> dict[int, float]:
        """The sum of the last k values for every ranked window length k (NaN until k are seen)."""
        if not self.windows:
            return {}
        tail = self.tail
        tail.append(value)
        n = len(tail)
        out, total, j = {}, 0.0, 0
        for k in self.windows:  # ascending: extend one running sum from the newest value back
            if k > n:
                out[k] = math.nan
                continue
            while j < k:
                total += tail[n - 1 - j]
                j += 1
            out[k] = total
        return out

    def _seasonal(self, x: float, direction: int) -> float:
        """``log10(1 + d)``: d = past days whose same time of day (+- slack) reached ``x``.
        ``history[-1]`` is the current sample's statistic, ``history[-1 - k]`` k samples ago."""
        p, hist = self.p, self.history
        if p.season <= 0 or x != x:
            return 0.0
        days = 0
        for d in range(1, p.season_days + 1):
            lo = d * p.season - p.season_slack  # lags (samples ago) of this day's slot
            hi = d * p.season + p.season_slack
            if hi >= len(hist):
                break
            slot = [hist[-1 - k] for k in range(lo, hi + 1)]
            if (max(slot) >= x) if direction > 0 else (min(slot) <= x):
                days += 1
        return math.log10(1 + days)


def score_series(values, params: Params = PARAMS, timestamps=None) -> list[float]:
    """Anomaly scores in [0, 1] for a list of values (one per sample, in order).
    ``timestamps`` (seconds, one per value) place samples in the day for the seasonal
    windows; without them sample i is at ``300 * i`` s (NAB's 5-min sampling)."""
    p = params
    seasonal = {"slot": p.seasonal_slot, "alpha_day": p.seasonal_alpha_day, "alpha_disp": p.seasonal_alpha_disp,
                "alpha_level": p.seasonal_alpha_level}
    model = SeriesModel(p.scales, p.alpha, two_sided=p.two_sided, down_weight=p.down_weight,
                        min_cv=p.min_cv, warmup=p.warmup, hot_level=p.hot_level, hot_max=p.hot_max,
                        alpha_long=p.alpha_long, continuous_scales=p.continuous_scales,
                        shift_scales=p.shift_scales,
                        continuous_shift_scales=p.continuous_shift_scales,
                        seasonal_scales=p.seasonal_scales, seasonal=seasonal,
                        seasonal_weight=p.seasonal_weight, seasonal_hot=p.seasonal_hot)
    layer = AlarmLayer(p)
    out = []
    for i, v in enumerate(values):
        v = float(v)
        r = model.update(v, None if timestamps is None else timestamps[i])
        x = layer.step(v, r.score, r.direction, r.window)
        out.append(x / (x + p.squash))
    return out


def read_series(path):
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected header timestamp,value, got {header}")
        rows = [(r[0], r[1]) for r in reader if r]
    return rows


def parse_ts(text: str) -> float:
    """Seconds since the epoch of a NAB timestamp (``YYYY-MM-DD HH:MM:SS``, UTC)."""
    t = datetime.datetime.fromisoformat(text.strip())
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def write_scores(path, rows, scores):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["timestamp", "value", "anomaly_score"])
        for (ts, val), s in zip(rows, scores):
            w.writerow([ts, val, repr(s)])


def data_files(data_dir, categories=None):
    """Sorted (category, name, path) of every DIR/<category>/<name>.csv."""
    out = []
    for cat in sorted(os.listdir(data_dir)):
        d = os.path.join(data_dir, cat)
        if not os.path.isdir(d) or (categories and cat not in categories):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(".csv"):
                out.append((cat, name, os.path.join(d, name)))
    return out


def run(data_dir, out_dir, categories=None, params: Params = PARAMS, quiet=False) -> float:
    files = data_files(data_dir, categories)
    if not files:
        raise SystemExit(f"error: no <category>/<file>.csv under {data_dir}")
    t0 = time.perf_counter()
    for n, (cat, name, path) in enumerate(files, 1):
        t1 = time.perf_counter()
        rows = read_series(path)
        scores = score_series([float(v) for _, v in rows], params, [parse_ts(ts) for ts, _ in rows])
        write_scores(os.path.join(out_dir, cat, name), rows, scores)
        if not quiet:
            print(f"[{n:2d}/{len(files)}] {cat}/{name}: {len(rows)} rows, max score "
                  f"{max(scores):.3f}, {time.perf_counter() - t1:.1f}s", flush=True)
    total = time.perf_counter() - t0
    if not quiet:
        print(f"done: {len(files)} files in {total:.1f}s -> {out_dir}")
    return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="NAB data folder: DIR/<category>/<file>.csv")
    ap.add_argument("--out", required=True, help="results folder: OUT/<category>/<file>.csv")
    ap.add_argument("--category", action="append",
                    help="only this category (repeatable), e.g. realTweets")
    ap.add_argument("--show-params", action="store_true", help="print the fixed parameter set first")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override one parameter (for ablations), e.g. --param confirm=0 "
                         "--param continuous_scales='()' --param break_margin=None")
    a = ap.parse_args(argv)
    params = with_overrides(PARAMS, a.param)
    if a.show_params:
        print("params:", asdict(params))
    run(a.data, a.out, a.category, params)


def with_overrides(params: Params, items: list[str]) -> Params:
    """``params`` with ``NAME=VALUE`` overrides (VALUE a Python literal, or a bare string)."""
    names = {f.name for f in fields(Params)}
    kw = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in names:
            raise SystemExit(f"error: --param wants NAME=VALUE with NAME one of {sorted(names)}, "
                             f"got {item!r}")
        try:
            kw[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kw[name] = text  # e.g. emit=surprise
    return replace(params, **kw)


if __name__ == "__main__":
    main()
