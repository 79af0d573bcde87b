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

* *fan-out degree* -- distinct institutions the complainant filed at within a
  tier's window ending at their latest filing;
* *repeat level* -- ``1 +`` the complainant's filings within the window that
  re-file an earlier complaint: ``repeat_of`` is set (the intake system says
  so), or the text is the same as an earlier filing of theirs *at the same
  institution* (the same letter to four banks is fan-out, not repeat). "Same
  text" is a cheap fingerprint: blake2b of the first and of the last
  ``fp_chars`` characters of ``textsig.mask(text)`` (numbers, dates and names
  masked), so "再次投诉：" prefixes or a changed date do not hide a copy.
  Texts shorter than ``min_text`` effective characters get no fingerprint
  (hotline boilerplate like 客户来电查询还款金额 repeats across calls).

A complainant crossing a tier's count (below) is an *onset* of that tier,
counted at most once per tier window per complainant.

**Stage 2, per population** -- onsets of every tier form one event-time series
for the whole flow (``bucket`` = 1 day): a ``rates.RateModel`` gives the exact
sliding-window counts, a ``rates.PopulationPrior`` (a population of one key,
exposure = elapsed days) is the learned baseline. Its default mean is the
tier's prior and also its floor -- the learned rate can only *raise* it, so a
quiet flow cannot make the detector hair-trigger -- and weighs
``prior_weight`` (14) pseudo-days, decayed with ``halflife`` (30 days).
Learning is winsorised instead of gated: a day teaches at most
``max(clip, 3 x baseline)`` onsets, and at most ``max(1, 1.5 x baseline)``
while the pattern is alerting. A campaign therefore barely moves the
baseline, while a genuinely higher rate (a flow where fan-out to three
lenders is common) becomes the normal within two to three weeks instead of
locking the detector into alerting for ever (a "learn only unremarkable
days" gate would: at 15x the prior rate no day is unremarkable). Counts are
Gamma-Poisson with at least the prior's over-dispersion (``dispersion``
r=2: genuine fan-out clusters a little, e.g. after an outage). At every onset
the sliding-window counts over ``scales`` (1 and 3 days, clipped to the
detector's age) are tested (``RateModel.score``, Bonferroni over the
windows), the best tier is kept (Bonferroni over the tiers too), and a
finding is emitted when ``-log10 p >= threshold`` and at least
``min_complainants`` distinct complainants are in the window.

Default tiers -- (name, count, window, prior onsets per day in the whole flow):

=========== ===================================== ========== ==========
pattern     tier                                   window     prior/day
=========== ===================================== ========== ==========
fan-out     3+ institutions                        72 h       0.2
fan-out     4+ institutions                        48 h       0.05
repeat      3+ filings of the same complaint       96 h       0.1
repeat      4+ filings of the same complaint       7 days     0.05
=========== ===================================== ========== ==========

Why these numbers: a genuine customer with a real grievance against *two*
lenders is common, against three within three days is rare (say one a week
in a flow of ~1,500 complaints a day, i.e. ~0.2/day), four within two days
rarer still (one in three weeks). Chinese regulation gives an institution 15
days to answer a complaint, so re-filing the same complaint three times
within four days -- faster than any answer could come -- is pressure, not
follow-up; a genuine customer does it perhaps once in ten days, four times in
a week once in three weeks. The priors are generous floors; on a real flow
replay a month of history and raise any tier whose learned rate is far above
its prior, or the first two to three weeks alert while the baseline learns.

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
is the *second* complainant's third institution / filing (on the simulator's
hard profile that is campaign event 8-10 for fan-out and ~12 for repeat
pressure, 1-4 days in), and the statistics usually want a third.

Findings: key ``fanout:institutions`` or ``repeat:filings`` -- one key per
pattern, so the episode manager makes *one* alert per surge episode
("8 complainants each complained to 4+ institutions within 48 h ...") that
grows while the surge lasts and resolves when it stops. Findings are emitted
at each onset that keeps the score above threshold, and on every later filing
of a complainant already in a surge that is still above threshold, so the
alert's evidence follows the campaign. ``event_ids`` are the filings of the
complainants in the scored window (the most recent ``max_event_ids``), nothing
else -- evidence stays focused on the campaign. ``evidence`` lists the
complainants (pseudonyms), their institution count or filing count and
whether they used the regulator channel; never text.

State: plain attributes, pickles; event time only; no salted ``hash()``.
"""
from __future__ import annotations

import hashlib
import math
import unicodedata
from collections import OrderedDict, deque
from typing import NamedTuple

from detectors.base import Finding, SlotState, severity_for
from detectors.fmt import DAY, fmt_span
from detectors.rates import ExposureClock, PopulationPrior, RateModel
from detectors.textsig import effective_length, mask
from streamer.events import Event

__all__ = ["ComplainantFanout", "Tier", "FANOUT_TIERS", "REPEAT_TIERS"]

HOUR = 3600.0
REGULATOR = "regulator"


class Tier(NamedTuple):
    """One onset rule: a complainant reaching ``count`` within ``window`` seconds;
    ``prior_per_day``: such onsets per day expected in the whole genuine flow."""

    name: str
    count: int
    window: float
    prior_per_day: float


FANOUT_TIERS: tuple[Tier, ...] = (
    Tier("fanout3", 3, 72 * HOUR, 0.2),
    Tier("fanout4", 4, 48 * HOUR, 0.05),
)
REPEAT_TIERS: tuple[Tier, ...] = (
    Tier("repeat3", 3, 96 * HOUR, 0.1),
    Tier("repeat4", 4, 7 * DAY, 0.05),
)

_KEYS = {"fanout": "fanout:institutions", "repeat": "repeat:filings"}

# a filing: (ts, event_id, institution, channel, fp_head, fp_tail, is_repeat)
_TS, _ID, _INST, _CH, _FPH, _FPT, _REP = range(7)



def _h64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "big")


def _surely_short(text: str, min_text: int) -> bool:
    """True when ``effective_length(mask(text)) < min_text`` is certain without masking.

    Masking never makes a text longer than the longer of it and its NFKC
    form: every replacement puts one placeholder for one or more characters,
    the rest only strips, and ``str.lower`` lengthens nothing but U+0130. Most
    hotline records are this short, so they skip the regex passes.
    """
    if len(text) >= min_text or "\u0130" in text:
        return False
    return unicodedata.is_normalized("NFKC", text) or len(unicodedata.normalize("NFKC", text)) < min_text


def _fp(text: str, min_text: int, chars: int) -> tuple[int | None, int | None]:
    """Head and tail fingerprints of the masked text (None if too short to mean anything)."""
    if not text or _surely_short(text, min_text):
        return None, None
    m = mask(text)
    if effective_length(m) < min_text:
        return None, None
    if len(m) <= chars:  # head and tail are the whole text: one hash
        h = _h64(m)
        return h, h
    return _h64(m[:chars]), _h64(m[-chars:])


class _Person(SlotState):
    """Recent filings of one complainant and when they last crossed each tier."""

    __slots__ = ("filings", "onsets", "last_ts")

    def __init__(self, ts: float) -> None:
        self.filings: list[tuple] = []
        self.onsets: dict[str, float] = {}
        self.last_ts = ts



class _Surge(SlotState):
    """Population series of one pattern: a RateModel and prior per tier, recent onsets."""

    __slots__ = ("pattern", "tiers", "rates", "priors", "onsets", "fired_ts", "fired_total", "onsets_total")

    def __init__(self, pattern: str, tiers: tuple[Tier, ...], bucket: float, dispersion: float, max_onsets: int,
                 weight: float, halflife: float) -> None:
        self.pattern = pattern
        self.tiers = tiers
        self.rates = {t.name: RateModel(bucket_seconds=bucket) for t in tiers}  # window sums of onsets
        self.priors = {  # the learned baseline per bucket (winsorised, floored at the default)
            t.name: PopulationPrior(t.prior_per_day * bucket / DAY, dispersion, bucket_seconds=bucket,
                                    weight=weight, halflife=halflife, floor=t.prior_per_day * bucket / DAY,
                                    r_min=dispersion)
            for t in tiers
        }
        # (ts, tier name, complainant, event ids, degree, via regulator)
        self.onsets: deque = deque(maxlen=max_onsets)
        self.fired_ts = -math.inf
        self.fired_total = 0
        self.onsets_total = 0



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
        self._people: OrderedDict[str, _Person] = OrderedDict()  # insertion order == least recently touched first
        self._now = -math.inf
        self._attach_clock()
        self._derive()
        self._since: float | None = None  # first event time: windows are clipped to the detector's age
        self.evicted_total = 0
        self.findings_total = 0

    def _derive(self) -> None:
        """Per-pattern constants of the hot path (derived, not state: rebuilt on restore)."""
        self._min_count = {pattern: min((t.count for t in surge.tiers), default=math.inf)
                           for pattern, surge in self.surges.items()}

    def _attach_clock(self) -> None:
        """Expose every tier's prior lazily (and exactly) through one clock:
        each stands for one population series, so its key count is always 1."""
        self._clock = ExposureClock.resume(  # at construction _now is -inf; from an eager checkpoint, its last time
            self._now, ((prior, 1.0) for surge in self.surges.values() for prior in surge.priors.values()))

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "_clock" not in state:
            self._attach_clock()
        self._derive()

    # ---------------------------------------------------------------- update
    def update(self, event: Event) -> list[Finding]:
        ts = event.ts
        if self._since is None:
            self._since = ts
        if ts > self._now:
            self._advance(ts, self._now)
            self._now = ts
        who = event.complainant
        p = self._people.get(who)
        if p is not None:
            self._people.move_to_end(who)  # most recently touched last
            if any(f[_ID] == event.event_id for f in p.filings):
                return []  # a re-delivery: already counted
        else:
            p = self._people[who] = _Person(ts)
        self._add_filing(p, event)
        out: list[Finding] = []
        n_filings = len(p.filings)
        live_after = ts - max(self.scales)
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
                new = self._onsets(p, surge, pattern, event)
            f = self._judge(surge, event, p, new)
            if f is not None:
                out.append(f)
        self._evict()
        return out

    def _add_filing(self, p: _Person, event: Event) -> None:
        head, tail = _fp(event.text, self.min_text, self.fp_chars)
        rep = event.repeat_of is not None
        if not rep and head is not None:
            inst = event.institution
            rep = any(f[_INST] == inst and (f[_FPH] == head or f[_FPT] == tail) for f in p.filings)
        rec = (event.ts, event.event_id, event.institution, event.channel, head, tail, rep)
        fl = p.filings
        fl.append(rec)
        if len(fl) > 1 and fl[-2][_TS] > event.ts:  # late event: keep time order
            fl.sort(key=lambda f: (f[_TS], f[_ID]))
        if len(fl) > self.max_filings:
            del fl[0]
        p.last_ts = max(p.last_ts, event.ts)

    @staticmethod
    def _window(p: _Person, window: float) -> list[tuple]:
        lo = p.last_ts - window
        return [f for f in p.filings if f[_TS] > lo]

    def _metric(self, pattern: str, recent: list[tuple]) -> int:
        if pattern == "fanout":
            return len({f[_INST] for f in recent})
        return 1 + sum(1 for f in recent if f[_REP])

    def _onsets(self, p: _Person, surge: _Surge, pattern: str, event: Event) -> list[Tier]:
        """Tiers this filing makes the complainant cross (counted in the series)."""
        new = []
        # the metric never exceeds the filings kept (+1 for repeats): most
        # complainants file once and cannot cross any tier
        bound = len(p.filings) + (pattern == "repeat")
        for tier in surge.tiers:
            if bound < tier.count:
                continue
            recent = self._window(p, tier.window)
            if self._metric(pattern, recent) < tier.count:
                continue
            last = p.onsets.get(tier.name)
            if last is not None and last > event.ts - tier.window:
                continue  # already counted in this window
            p.onsets[tier.name] = event.ts
            surge.rates[tier.name].add(event.ts, 1.0)
            surge.onsets.append((event.ts, tier.name, event.complainant, tuple(f[_ID] for f in recent),
                                 self._metric(pattern, recent), any(f[_CH] == REGULATOR for f in recent)))
            surge.onsets_total += 1
            new.append(tier)
        return new

    def _advance(self, ts: float, prev: float) -> None:
        """Move every series from ``prev`` (the latest event time so far) to
        ``ts``. All series share one bucket clock, so only an event that opens
        a new bucket closes buckets; otherwise the priors just gain exposure
        (all ``_close_buckets`` would do then), which the clock applies when a
        prior is next read. A closed bucket's arrivals are taught first, at
        ``prev``, then the exposure up to ``ts`` is owed -- the eager order."""
        b = self.bucket
        if prev == -math.inf or math.floor(ts / b) > math.floor(prev / b):
            for surge in self.surges.values():
                self._close_buckets(surge, ts)
        self._clock.tick(ts)

    def _close_buckets(self, surge: _Surge, ts: float) -> None:
        """Advance the series to ``ts``: a closed day teaches the baseline its
        onsets, winsorised -- at most ``max(clip, 3 x baseline)``, or
        ``max(1, 1.5 x baseline)`` if the pattern alerted that day -- so a
        campaign barely moves it while a lasting higher genuine rate becomes
        the normal within a few weeks. The open day never teaches: a surge is
        scored against what came before it."""
        for name, rm in surge.rates.items():
            prior = surge.priors[name]
            if rm.cur is not None and rm.bucket_of(ts) > rm.cur:
                m = prior.get()[0]
                alerted = surge.fired_ts >= rm.cur * rm.bucket_seconds
                prior.clip = max(1.0, 1.5 * m) if alerted else max(self.clip, 3.0 * m)
                for before in range(int(rm.count)):
                    prior.arrival(float(before))
            rm.advance(ts)
            # quiet time is exposure too: owed up to ts once _advance ticks the clock

    # ---------------------------------------------------------------- judge
    def _score(self, surge: _Surge, ts: float, who: str):
        """Best tier among those ``who`` is a member of: (score, tier, Surprise, members in its window)."""
        corr = math.log10(len(surge.tiers)) if len(surge.tiers) > 1 else 0.0
        best = None
        for tier in surge.tiers:
            prior = surge.priors[tier.name]
            m, v = prior.get()
            # at least the prior's over-dispersion: winsorised learning understates the variance
            v = max(v, m + m * m / self.dispersion)
            s = surge.rates[tier.name].score(ts, self.scales, baseline=(m, v), since=self._since)
            sc = max(0.0, s.score - corr)
            lo = ts - s.window
            members = {o[2] for o in surge.onsets if o[1] == tier.name and lo < o[0] <= ts}
            if who not in members or len(members) < self.min_complainants:
                continue
            if best is None or sc > best[0]:
                best = (sc, tier, s, members)
        return best

    def _judge(self, surge: _Surge, event: Event, p: _Person, new: list[Tier]) -> Finding | None:
        ts = event.ts
        if not new:
            # a later filing of a complainant already in a live surge adds evidence
            horizon = max(self.scales)
            if surge.fired_ts <= ts - horizon:
                return None
            if not any(p.onsets.get(t.name, -math.inf) > ts - horizon for t in surge.tiers):
                return None
        best = self._score(surge, ts, event.complainant)
        if best is None or best[0] < self.threshold:
            return None
        score, tier, s, members = best
        if surge.fired_ts <= ts - max(self.scales):
            surge.fired_total += 1  # a new surge episode
        surge.fired_ts = ts
        self.findings_total += 1
        return self._finding(surge, event, score, tier, s, members)

    def _finding(self, surge: _Surge, event: Event, score: float, tier: Tier, s, members: set[str]) -> Finding:
        ts = event.ts
        lo = ts - s.window
        # latest onset per member in the scored window (most recent last)
        latest: dict[str, tuple] = {}
        for o in surge.onsets:
            if o[1] == tier.name and lo < o[0] <= ts:
                latest.pop(o[2], None)
                latest[o[2]] = o
        ids: dict[str, float] = {}
        rows = []
        n_reg = 0
        for who, o in latest.items():
            person = self._people.get(who)
            if person is not None:
                fl = [f for f in person.filings if f[_TS] > o[0] - tier.window and f[_TS] <= ts]
                if surge.pattern == "repeat":  # the re-filed complaint, not unrelated ones
                    insts = {f[_INST] for f in fl if f[_REP]}
                    fl = [f for f in fl if f[_INST] in insts]
                for f in fl:
                    ids.setdefault(f[_ID], f[_TS])
                degree = self._metric(surge.pattern, fl) if fl else o[4]
                reg = any(f[_CH] == REGULATOR for f in fl) or o[5]
            else:
                for eid in o[3]:
                    ids.setdefault(eid, o[0])
                degree, reg = o[4], o[5]
            n_reg += bool(reg)
            rows.append({"complainant": who, ("institutions" if surge.pattern == "fanout" else "filings"): degree,
                         "via_regulator": bool(reg), "onset_ts": o[0]})
        ids.pop(event.event_id, None)
        ordered = [eid for eid, _ in sorted(ids.items(), key=lambda kv: (kv[1], kv[0]))]
        ordered = ordered[-(self.max_event_ids - 1):] if self.max_event_ids > 1 else []
        ordered.append(event.event_id)
        n = len(latest)
        per_day = s.baseline * DAY / self.bucket
        span = fmt_span(tier.window)
        win = fmt_span(s.window)
        reg_txt = f", {n_reg} of them also via the regulator" if n_reg else ""
        if surge.pattern == "fanout":
            what = f"{n} complainants each complained to {tier.count}+ institutions within {span} in the last {win}"
            usual = "complainants do that"
        else:
            what = f"{n} complainants each filed the same complaint {tier.count}+ times within {span} in the last {win}"
            usual = "complainants do that"
        summary = f"{what}{reg_txt}; normally {per_day:.2g} {usual} per day (p={s.p_value:.1g})."
        rows.sort(key=lambda r: (-r["onset_ts"], r["complainant"]))
        members_ev = [{k: v for k, v in r.items() if k != "onset_ts"} for r in rows[: self.max_members]]
        return Finding(
            detector=self.name,
            key=_KEYS[surge.pattern],
            score=round(float(score), 3),
            ts=ts,
            trigger_id=event.event_id,
            event_ids=ordered,
            summary=summary,
            severity=severity_for(score, warning=self.threshold, critical=self.critical),
            evidence={
                "pattern": surge.pattern,
                "tier": tier.name,
                "min_count": tier.count,
                "tier_window_hours": round(tier.window / HOUR, 1),
                "complainants": n,
                "via_regulator": n_reg,
                "scored_window_hours": round(s.window / HOUR, 1),
                "observed_in_window": s.observed,
                "expected_in_window": round(s.expected, 6),
                "baseline_per_day": round(per_day, 6),
                "p_value": s.p_value,
                "members": members_ev,
            },
        )

    # ---------------------------------------------------------------- state
    def _evict(self) -> None:
        horizon = self._now - self.ttl
        people = self._people
        # nothing to do unless over the cap or the least recently touched has expired (what the loop checks first)
        if len(people) <= self.max_keys and (not people or people[next(iter(people))].last_ts >= horizon):
            return
        n = 0
        while people and n < self.evict_batch:
            k = next(iter(people))
            if people[k].last_ts >= horizon and len(people) <= self.max_keys:
                break
            del people[k]
            self.evicted_total += 1
            n += 1
        while len(people) > self.max_keys:  # hard cap, whatever the batch
            del people[next(iter(people))]
            self.evicted_total += 1

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
