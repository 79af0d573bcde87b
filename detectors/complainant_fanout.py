"""complainant_fanout: many complainants each fanning out or re-filing at once.

Debt-dodging agencies (代理投诉 / 反催收 / 停息挂账) file for their debtors at
banks *and* regulators: more than half of agency customers complain to several
institutions at once, and a third file the same complaint three or more times
(formally as ``repeat_of``, via the regulator channel, or the same letter
again). One complainant doing either is weak evidence -- a customer in a real
dispute with two banks, or one angry customer chasing an unresolved case, is
normal and must stay quiet. What is not normal is *many* complainants doing it
in the same few days. So the detector works in two stages.

**Stage 1, per complainant** (key = the pseudonym ``cust:<hex>``; LRU + TTL
bounded by ``max_keys`` / ``ttl``, at most ``max_filings`` recent filings each):
the *fan-out degree* (distinct institutions) and the *repeat level* (re-filings
of the same complaint) within a tier's window -- see ``fanout_state``.

A complainant crossing a tier's count (below) is an *onset* of that tier,
counted at most once per tier window per complainant.

**Stage 2, per population** -- onsets of every tier form one event-time series
for the whole flow with a learned, winsorised, floored baseline -- see
``fanout_tiers``. The baseline learns a day only once it has left every
scored window (it lives ``max(scales)`` behind event time), so a slow
campaign cannot train the baseline it is scored against. Learning is
winsorised instead of gated: a day teaches at most ``max(clip, 3 x
baseline)`` onsets, and at most ``max(1, 1.5 x baseline)`` if the pattern
alerted while the day was in a scored window. A campaign therefore barely
moves the baseline, while a genuinely higher rate (a flow where fan-out to
three lenders is common) becomes the normal within two to three weeks
instead of locking the detector into alerting for ever (a "learn only
unremarkable days" gate would: at 15x the prior rate no day is
unremarkable). Counts are
Gamma-Poisson with at least the prior's over-dispersion (``dispersion``
r=2: genuine fan-out clusters a little, e.g. after an outage). At every onset
the sliding-window counts over ``scales`` (1 and 3 days, clipped to the
detector's age) are tested (``RateModel.score``, Bonferroni over the
windows), the best tier is kept (Bonferroni over the tiers too), and a
finding is emitted when ``-log10 p >= threshold`` and at least
``min_complainants`` distinct complainants are in the window.

Default tiers and why they are what they are: ``fanout_tiers``.

Why ``threshold = 2`` (p <= 0.01 after the corrections) when ``agent_surge``
needs 5: agent_surge tests each of 10^5 contact keys, this tests *two
population series*, and only when a new onset arrives (~0.25 a day at the
prior rates). The implied false-alarm rate at the prior rates is about
0.25 x 0.01 = 0.0025 a day, roughly one a year. With the defaults (a cold
start, baseline = prior) a fan-out alert needs two complainants at 4+
institutions within a day or three within three days, else four at 3+ within
a day or six within three days; a repeat alert needs two complainants at 4+
filings within a day or three within three days, else three at 3+ fast
filings within a day or four within three days.
``min_complainants = 2`` makes "one persistent customer never pages anyone"
hold whatever the priors. The price is delay: the earliest an alert can come
is the *second* complainant's third institution / filing, and the statistics
usually want a third (on the simulator's hard profile, seeds 1-10, the
median alert comes at campaign event 12 for fan-out -- 8 debtors over four
days, two a day -- and 13-15 for repeat pressure, whose debtors reach a third
filing only after two to four days).

Findings: key ``fanout:institutions`` or ``repeat:filings`` -- one key per
pattern, so the episode manager makes *one* alert per surge episode
("8 complainants each complained to 4+ institutions within 48 h ...") that
grows while the surge lasts and resolves when it stops. Findings are emitted
at each onset that keeps the score above threshold, and on every later filing
of a complainant already in a surge that is still above threshold, so the
alert's evidence follows the campaign (what the evidence holds:
``fanout_findings``).

Modules: ``fanout_state`` (one complainant's filings and fingerprints),
``fanout_tiers`` (onset rules, population series and scoring),
``fanout_findings`` (summary and evidence); this one wires them together and
keeps the LRU of complainants.

State: plain attributes, pickles; event time only; no salted ``hash()``.
"""
from __future__ import annotations

import math
from collections import OrderedDict, deque

from detectors.base import Finding
from detectors.fanout_findings import build_finding
from detectors.fanout_state import (_CH, _ID, REGULATOR, add_filing, evict, metric, new_filing, resolve_all,
                                    window)
from detectors.fanout_tiers import close_buckets, score_surge
from detectors.fmt import DAY
from streamer.events import Event

# Re-exported from their new modules: old checkpoints pickled _Person, _Surge
# and Tier by their path in this module (``detectors.complainant_fanout._Person``)
# and must still unpickle (``_Person`` is migrated on restore); callers import
# Tier, the tier tuples and _surely_short from here.
from detectors.fanout_state import _Person, _surely_short
from detectors.fanout_tiers import FANOUT_TIERS, REPEAT_TIERS, Tier, _Surge

_REEXPORTED = (_surely_short, _Person)  # used only by importers and unpickling (keeps pyflakes quiet)

__all__ = ["ComplainantFanout", "Tier", "FANOUT_TIERS", "REPEAT_TIERS"]

# attributes ``_derive`` rebuilds: not pickled
_DERIVED = frozenset({"_min_count", "_first_quiet", "_horizon", "_bucket_no"})


class ComplainantFanout:
    """Detector: a population surge of complainants fanning out to several
    institutions, or re-filing the same complaint (see module doc)."""

    name = "complainant_fanout"

    def __init__(
        self,
        *,
        fanout_tiers: tuple[Tier, ...] = FANOUT_TIERS,
        repeat_tiers: tuple[Tier, ...] = REPEAT_TIERS,
        scales: tuple[float, ...] = (DAY, 3 * DAY),
        threshold: float = 2.0,
        critical: float = 6.0,
        min_complainants: int = 2,
        dispersion: float = 2.0,
        prior_weight: float = 14.0,
        halflife: float = 30 * DAY,
        clip: float = 2.0,
        bucket: float = DAY,
        ttl: float | None = None,
        max_keys: int = 200_000,
        max_filings: int = 16,
        max_onsets: int = 256,
        max_event_ids: int = 100,
        max_members: int = 30,
        min_text: int = 24,
        fp_chars: int = 40,
        evict_batch: int = 16,
    ) -> None:
        self.fanout_tiers = tuple(Tier(*t) for t in fanout_tiers)
        self.repeat_tiers = tuple(Tier(*t) for t in repeat_tiers)
        self.scales = tuple(float(s) for s in scales)
        self.threshold = float(threshold)
        self.critical = float(critical)
        self.min_complainants = int(min_complainants)
        self.clip = float(clip)
        self.dispersion = float(dispersion)
        self.bucket = float(bucket)
        windows = [t.window for t in (*self.fanout_tiers, *self.repeat_tiers)]
        if max_filings < 1:
            raise ValueError("max_filings must be at least 1: a complainant's latest filing is their LRU time")
        self.ttl = float(ttl if ttl is not None else max(windows, default=7 * DAY))
        self.max_keys = max_keys
        self.max_filings = max_filings
        self.max_event_ids = max_event_ids
        self.max_members = max_members
        self.min_text = min_text
        self.fp_chars = fp_chars
        self.evict_batch = evict_batch
        self.surges = {
            "fanout": _Surge("fanout", self.fanout_tiers, self.bucket, dispersion, max_onsets, prior_weight, halflife),
            "repeat": _Surge("repeat", self.repeat_tiers, self.bucket, dispersion, max_onsets, prior_weight, halflife),
        }
        # complainant -> their filings (``fanout_state``); insertion order == least recently touched first
        self._people: OrderedDict[str, list[tuple]] = OrderedDict()
        # complainant -> tier name -> their last onset of it; only complainants who
        # ever crossed a tier (few), dropped with the complainant on eviction
        self._crossed: dict[str, dict[str, float]] = {}
        self._now = -math.inf
        self._derive()
        self._since: float | None = None  # first event time: windows are clipped to the detector's age
        self.evicted_total = 0
        self.findings_total = 0

    def _derive(self) -> None:
        """Constants of the hot path (derived, not state: rebuilt on restore)."""
        self._min_count = {pattern: min((t.count for t in surge.tiers), default=math.inf)
                           for pattern, surge in self.surges.items()}
        # a first filing reaches degree 1 and repeat level at most 2 (``repeat_of``
        # set): with the default tiers it crosses none, see ``update``
        self._first_quiet = all(1 + (pattern == "repeat") < n for pattern, n in self._min_count.items())
        self._horizon = max(self.scales)
        # the bucket of the latest event time (``_advance`` closes buckets when it changes)
        self._bucket_no = -math.inf if self._now == -math.inf else math.floor(self._now / self.bucket)

    def __getstate__(self) -> dict:
        # a checkpoint holds fingerprints, never complaint text: compute the
        # pending ones (what a later filing would compute anyway, so no change)
        resolve_all(self._people.values(), self.min_text, self.fp_chars)
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        clock = self.__dict__.pop("_clock", None)
        for surge in self.surges.values():
            if surge.unlearned is None:  # taught every closed day at once: nothing owed
                surge.unlearned = deque()
            for prior in surge.priors.values():
                if clock is not None:  # exposed lazily by a clock: settle, then expose by hand
                    prior.catch_up()
                prior.clock = None
        if "_crossed" not in state:  # checkpoints of one _Person per complainant
            self._crossed = {k: p.onsets for k, p in self._people.items() if p.onsets}
            self._people = OrderedDict((k, p.filings) for k, p in self._people.items())
        self._derive()

    # ---------------------------------------------------------------- update
    def update(self, event: Event) -> list[Finding]:
        ts = event.ts
        if self._since is None:
            self._since = ts
        if ts > self._now:
            self._advance(ts)
        who = event.complainant
        people = self._people
        fl = people.get(who)
        if fl is None:
            # A first filing (or the first since eviction) -- nearly every event.
            # With tiers no single filing reaches (``_first_quiet``) and no onset
            # of theirs to follow (they have none), ``_patterns`` would find
            # nothing: just record the filing, fingerprints pending.
            fl = people[who] = [new_filing(event, self.min_text, self.fp_chars)]
            out = [] if self._first_quiet else self._patterns(who, fl, event)
        else:
            people.move_to_end(who)  # most recently touched last
            eid = event.event_id
            for f in fl:
                if f[_ID] == eid:
                    return []  # a re-delivery: already counted
            add_filing(fl, event, self.min_text, self.fp_chars, self.max_filings)
            out = self._patterns(who, fl, event)
        n = evict(people, self._crossed, self._now - self.ttl, self.max_keys, self.evict_batch)
        if n:
            self.evicted_total += n
        return out

    def _patterns(self, who: str, fl: list[tuple], event: Event) -> list[Finding]:
        """Onsets and findings of both patterns after ``who`` (filings ``fl``) filed ``event``."""
        out: list[Finding] = []
        n_filings = len(fl)
        live_after = event.ts - self._horizon
        for pattern, surge in self.surges.items():
            # Fast path for the common case, with the outcome of the full one:
            # a complainant with fewer filings than any tier needs crosses none
            # (the bound of ``_onsets``), and with no new onset ``_judge`` only
            # looks further while the pattern alerted within the longest window.
            if n_filings + (pattern == "repeat") < self._min_count[pattern]:
                if surge.fired_ts <= live_after:
                    continue
                new = []
            else:
                new = self._onsets(who, fl, surge, pattern, event)
            f = self._judge(surge, event, who, new)
            if f is not None:
                out.append(f)
        return out

    def _onsets(self, who: str, fl: list[tuple], surge: _Surge, pattern: str, event: Event) -> list[Tier]:
        """Tiers this filing makes the complainant cross (counted in the series)."""
        new = []
        # the metric never exceeds the filings kept (+1 for repeats): most
        # complainants file once and cannot cross any tier
        bound = len(fl) + (pattern == "repeat")
        for tier in surge.tiers:
            if bound < tier.count:
                continue
            recent = window(fl, tier.window)
            if metric(pattern, recent) < tier.count:
                continue
            crossed = self._crossed.setdefault(who, {})
            last = crossed.get(tier.name)
            if last is not None and last > event.ts - tier.window:
                continue  # already counted in this window
            crossed[tier.name] = event.ts
            surge.rates[tier.name].add(event.ts, 1.0)
            surge.onsets.append((event.ts, tier.name, event.complainant, tuple(f[_ID] for f in recent),
                                 metric(pattern, recent), any(f[_CH] == REGULATOR for f in recent)))
            surge.onsets_total += 1
            new.append(tier)
        return new

    def _advance(self, ts: float) -> None:
        """Move every series from the latest event time so far (``_now``) to
        ``ts``. All series share one bucket clock, so only an event that opens
        a new bucket does anything: it closes buckets and teaches the baselines
        the days that have left the scored windows (``close_buckets``; the
        baselines live ``_horizon`` behind event time, so nothing else is owed)."""
        bucket_no = math.floor(ts / self.bucket)
        if bucket_no > self._bucket_no:  # -inf before the first event
            for surge in self.surges.values():
                close_buckets(surge, ts, self.clip, self._horizon, self._since)
            self._bucket_no = bucket_no
        self._now = ts

    # ---------------------------------------------------------------- judge
    def _judge(self, surge: _Surge, event: Event, who: str, new: list[Tier]) -> Finding | None:
        ts = event.ts
        if not new:
            # a later filing of a complainant already in a live surge adds evidence
            horizon = self._horizon
            if surge.fired_ts <= ts - horizon:
                return None
            crossed = self._crossed.get(who)
            if not crossed or not any(crossed.get(t.name, -math.inf) > ts - horizon for t in surge.tiers):
                return None
        best = score_surge(surge, ts, event.complainant, self.scales, self.dispersion, self._since,
                           self.min_complainants)
        if best is None or best[0] < self.threshold:
            return None
        score, tier, s, members = best
        if surge.fired_ts <= ts - self._horizon:
            surge.fired_total += 1  # a new surge episode
        surge.fired_ts = ts
        self.findings_total += 1
        return build_finding(self, surge, event, score, tier, s, members)

    # ---------------------------------------------------------------- state
    def stats(self) -> dict[str, float]:
        fo, rp = self.surges["fanout"], self.surges["repeat"]
        return {
            "tracked_keys": len(self._people),
            "evicted_total": self.evicted_total,
            "findings_total": self.findings_total,
            "fanout_onsets_total": fo.onsets_total,
            "repeat_onsets_total": rp.onsets_total,
            "fanout_surges_total": fo.fired_total,
            "repeat_surges_total": rp.fired_total,
        }
