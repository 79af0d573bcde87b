"""fanout_tiers: stage 2 of ``complainant_fanout`` -- the tiers and their population series.

Split out of ``complainant_fanout`` so the tier definitions, their
justification (the numbers an operator tunes) and the population bookkeeping
per pattern (onset counts, the learned baseline, the tier scoring) are one
module with one job; the detector keeps the per-complainant stage and turns
scores into findings.

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

Population series: onsets of every tier form one event-time series for the whole flow
(``bucket`` = 1 day): a ``rates.RateModel`` gives the exact sliding-window
counts, a ``rates.PopulationPrior`` (a population of one key, exposure =
elapsed days) is the learned baseline. Its default mean is the tier's prior
and also its floor -- the learned rate can only *raise* it, so a quiet flow
cannot make the detector hair-trigger -- and weighs ``prior_weight`` (14)
pseudo-days, decayed with ``halflife`` (30 days). Counts are Gamma-Poisson
with at least the prior's over-dispersion (``dispersion``). At every onset
the sliding-window counts over ``scales`` (clipped to the detector's age)
are tested (``RateModel.score``, Bonferroni over the windows), and the best
tier is kept (Bonferroni over the tiers too).

**Learning, and why it lags.** A closed day is taught to the baseline only
once it has left every scored window (``horizon`` = the longest scale, 3
days): the prior lives ``horizon`` behind event time, its exposure included,
so it is exactly the baseline of the days *before* the window under test.
Taught at once (as before), a day scored again in the 3-day window had
already raised the baseline it was scored against: a slow campaign (one or
two onsets a day -- five debtors re-filing every one or two days) trained
its own baseline from 0.1 to 0.3 a day within three days and never reached
p <= 0.01 (hard seed 5: repeat pressure missed), and a slow agency's
sub-threshold fan-out raised the fan-out baseline a later campaign was
scored against. The price is that a genuinely higher rate becomes the
normal ``horizon`` later (still within two to three weeks).

Learning is winsorised instead of gated: a day teaches at most
``max(clip, 3 x baseline)`` onsets, and at most ``max(1, 1.5 x baseline)``
if the pattern alerted on or after that day -- while the day's onsets were
in a scored window, so onsets that turned out to be part of an alert barely
teach even if the alert came days later. A campaign therefore barely moves
the baseline, while a genuinely higher rate becomes the normal instead of
locking the detector into alerting for ever (a "learn only unremarkable
days" gate would: at 15x the prior rate no day is unremarkable).

State: plain attributes, pickles; event time only.
"""
from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from detectors.base import SlotState
from detectors.fmt import DAY
from detectors.rates import PopulationPrior, RateModel

__all__ = ["Tier", "FANOUT_TIERS", "REPEAT_TIERS", "HOUR", "close_buckets", "score_surge"]

HOUR = 3600.0


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


class _Surge(SlotState):
    """Population series of one pattern: a RateModel and prior per tier, recent onsets."""

    __slots__ = ("pattern", "tiers", "rates", "priors", "onsets", "fired_ts", "fired_total", "onsets_total",
                 "unlearned")
    # checkpoints from before the lag taught every closed day at once: nothing is owed
    _SLOT_DEFAULTS = {"unlearned": None}

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
        # closed buckets not yet taught to the priors, oldest first: (bucket start, {tier name: onsets})
        self.unlearned: deque = deque()


def close_buckets(surge: _Surge, ts: float, clip: float, horizon: float, since: float) -> None:
    """Advance the series to ``ts`` (the first event of a new bucket) and teach
    the baseline every closed day that has left the scored windows.

    A day that closes with onsets joins ``unlearned``; a queued day is taught
    once it ended ``horizon`` or more before ``ts``, after exposing the priors
    up to its end. The priors are then exposed up to the last bucket boundary
    at least ``horizon`` before ``ts`` (quiet days need no queue entry: their
    exposure is all they teach), never before ``since`` (the first event: no
    onset could be seen earlier). Winsorised as the module doc says."""
    closing: dict[str, float] = {}
    start = None
    for name, rm in surge.rates.items():
        if rm.cur is not None and rm.bucket_of(ts) > rm.cur:
            if rm.count:
                closing[name] = rm.count
            start = rm.cur * rm.bucket_seconds
        rm.advance(ts)
    if start is None:
        return
    if closing:
        surge.unlearned.append((start, closing))
    bs = next(iter(surge.rates.values())).bucket_seconds
    edge = math.floor((ts - horizon) / bs) * bs  # the priors' time: the last boundary out of every window
    queue = surge.unlearned
    while queue and queue[0][0] + bs <= edge:
        day, counts = queue.popleft()
        _expose(surge, day + bs, since)
        alerted = surge.fired_ts >= day  # fired while the day's onsets were in a scored window
        for name, n in counts.items():
            prior = surge.priors[name]
            m = prior.get()[0]
            prior.clip = max(1.0, 1.5 * m) if alerted else max(clip, 3.0 * m)
            for before in range(int(n)):
                prior.arrival(float(before))
    _expose(surge, edge, since)


def _expose(surge: _Surge, t: float, since: float) -> None:
    """Expose every prior of ``surge`` up to ``t`` (one key each), from ``since`` at the earliest."""
    if t <= since:
        return
    for prior in surge.priors.values():
        if prior.t is None:
            prior.expose(since, 1.0)  # the first exposure only sets the time
        prior.expose(t, 1.0)


def score_surge(surge: _Surge, ts: float, who: str, scales: tuple[float, ...], dispersion: float,
                since: float | None, min_complainants: int):
    """Best tier among those ``who`` is a member of: (score, tier, Surprise, members in its window)."""
    corr = math.log10(len(surge.tiers)) if len(surge.tiers) > 1 else 0.0
    best = None
    for tier in surge.tiers:
        prior = surge.priors[tier.name]
        m, v = prior.get()
        # at least the prior's over-dispersion: winsorised learning understates the variance
        v = max(v, m + m * m / dispersion)
        s = surge.rates[tier.name].score(ts, scales, baseline=(m, v), since=since)
        sc = max(0.0, s.score - corr)
        lo = ts - s.window
        members = {o[2] for o in surge.onsets if o[1] == tier.name and lo < o[0] <= ts}
        if who not in members or len(members) < min_complainants:
            continue
        if best is None or sc > best[0]:
            best = (sc, tier, s, members)
    return best
