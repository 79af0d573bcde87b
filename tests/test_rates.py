"""The shared surge-rate model: tail probabilities, the population prior, RateModel."""
from __future__ import annotations

import math
import pickle

import pytest

from detectors.rates import (
    MAX_SCORE,
    PopulationPrior,
    RateModel,
    nbinom_sf,
    poisson_sf,
    surprise,
)

DAY = 86400.0


def _poisson_brute(k: int, mu: float) -> float:
    return 1.0 - sum(math.exp(x * math.log(mu) - mu - math.lgamma(x + 1)) for x in range(k))


def _nbinom_brute(k: int, m: float, v: float) -> float:
    r = m * m / (v - m)
    p = r / (r + m)
    return 1.0 - sum(
        math.exp(math.lgamma(x + r) - math.lgamma(r) - math.lgamma(x + 1) + r * math.log(p) + x * math.log1p(-p))
        for x in range(k)
    )


@pytest.mark.parametrize("k,mu", [(1, 0.1), (2, 0.1), (5, 0.1), (3, 3.0), (10, 3.0), (4, 0.0233), (30, 12.0)])
def test_poisson_tail_matches_direct_sum(k, mu):
    assert poisson_sf(k, mu) == pytest.approx(_poisson_brute(k, mu), rel=1e-6)


@pytest.mark.parametrize("k,m,v", [(3, 0.1, 0.3), (10, 3.0, 9.0), (1, 0.01, 0.05), (8, 1.0, 5.0)])
def test_nbinom_tail_matches_direct_sum(k, m, v):
    assert nbinom_sf(k, m, v) == pytest.approx(_nbinom_brute(k, m, v), rel=1e-6)


def test_tiny_tails_stay_finite_and_accurate_in_log_space():
    # 1 - cdf would round to 0 here; the upward log-space sum must not.
    p = poisson_sf(100, 3.0)
    assert 0.0 < p < 1e-100
    assert surprise(100, 3.0) == pytest.approx(-math.log10(p), rel=1e-9)
    assert surprise(10_000, 1.0) == MAX_SCORE


def test_surprise_is_zero_for_nothing_and_grows_with_the_count():
    assert surprise(0, 0.5) == 0.0
    assert surprise(-3, 0.5) == 0.0
    scores = [surprise(k, 0.01) for k in range(1, 8)]
    assert all(b > a for a, b in zip(scores, scores[1:]))


def test_overdispersion_makes_the_tail_heavier():
    assert surprise(6, 1.0, 4.0) < surprise(6, 1.0)  # negative binomial vs Poisson, same mean


def test_prior_without_data_is_the_default_and_never_below_floor():
    pr = PopulationPrior(0.01, r=0.5, floor=0.01)
    m, v = pr.get()
    assert m == pytest.approx(0.01)
    assert v == pytest.approx(0.01 + 0.01**2 / 0.5)
    # a huge quiet population cannot push the prior below its floor
    pr.expose(0.0, 0)
    pr.expose(100 * DAY, 100_000)
    assert pr.get()[0] == pytest.approx(0.01)


def test_prior_learns_a_higher_rate_from_a_population_that_shares():
    pr = PopulationPrior(0.001, r=0.5, floor=0.001, weight=100.0)
    pr.expose(0.0, 0)
    for day in range(1, 31):
        pr.expose(day * DAY, 1000)  # 1000 keys alive
        for _ in range(100):  # 100 of them gain one extra complainant each day
            pr.arrival(0.0)
    m, _ = pr.get()
    assert 0.08 < m < 0.12


def test_prior_clips_what_one_key_can_teach():
    pr = PopulationPrior(0.001, r=0.5, floor=0.001, weight=10.0, clip=2.0)
    pr.expose(0.0, 0)
    pr.expose(DAY, 100)
    for c in range(50):  # one key with 50 arrivals in one bucket
        pr.arrival(float(c))
    assert pr.s_c == 2.0


def test_window_sums_are_exact_sliding_windows():
    rm = RateModel(bucket_seconds=DAY)
    for h in (0, 1, 2, 30, 50):
        rm.add(h * 3600.0)
    assert rm.window_sum(50 * 3600.0, DAY) == 2  # 30h and 50h
    assert rm.window_sum(50 * 3600.0, 3 * DAY) == 5
    assert rm.window_sum(2 * 3600.0, 3600.0 * 1.5) == 2  # (0.5h, 2h]


def test_baseline_learns_a_steady_rate_and_idle_buckets_decay_it():
    rm = RateModel(bucket_seconds=DAY, fading_factor=0.1)
    for day in range(40):
        for k in range(5):
            rm.add(day * DAY + k * 3600.0)
    rm.advance(40 * DAY)
    m, _ = rm.baseline()
    assert 4.5 < m < 5.5
    rm.advance(70 * DAY)  # 30 idle days fed as zeros
    assert rm.baseline()[0] < 0.3


def test_idle_feeding_is_capped():
    rm = RateModel(bucket_seconds=DAY, max_idle=10)
    rm.add(0.0)
    rm.advance(10_000 * DAY)
    assert rm.n == 11  # the closed bucket + at most 10 idle zeros


def test_a_burst_is_surprising_against_a_steady_history_but_steady_days_are_not():
    prior = PopulationPrior(0.01, r=0.5)
    rm = RateModel(bucket_seconds=DAY)
    for day in range(20):
        for k in range(3):
            rm.add(day * DAY + 3600.0 * (k + 1))
    ts = 20 * DAY + 3 * 3600.0
    for k in range(3):
        rm.add(20 * DAY + 3600.0 * (k + 1))
    assert rm.score(ts, prior=prior).score < 2.0
    for k in range(12):
        rm.add(ts + 60.0 * (k + 1))
    assert rm.score(ts + 13 * 60.0, prior=prior).score > 5.0


def test_new_key_is_judged_by_the_prior():
    strict = PopulationPrior(0.1 / 30, r=0.5)
    lax = PopulationPrior(3.0, r=0.5)
    rm = RateModel(bucket_seconds=DAY)
    for k in range(5):
        rm.add(3600.0 * k)
    ts = 4 * 3600.0
    assert rm.score(ts, prior=strict, given=1.0, since=0.0).score > 5.0
    assert rm.score(ts, prior=lax, given=1.0, since=0.0).score < 1.0


def test_hot_bucket_is_not_learned():
    rm = RateModel(bucket_seconds=DAY)
    for k in range(20):
        rm.add(3600.0 + k)
    rm.hot = True
    rm.advance(DAY + 1)
    assert rm.n == 0  # the surge did not become its own normal
    rm.add(DAY + 2)
    rm.advance(2 * DAY + 1)
    assert rm.n == 1 and rm.mean.get() == 1.0


def test_rate_model_pickles_mid_stream_and_continues_identically():
    prior = PopulationPrior(0.05, r=0.3)
    a = RateModel(bucket_seconds=3600.0)
    for i in range(100):
        a.add(i * 1000.0, value=float(i % 4))
    b = pickle.loads(pickle.dumps(a))
    for i in range(100, 200):
        a.add(i * 1000.0, value=float(i % 7))
        b.add(i * 1000.0, value=float(i % 7))
        assert a.score(i * 1000.0, (3600.0, 6 * 3600.0), prior) == b.score(i * 1000.0, (3600.0, 6 * 3600.0), prior)


def _river_reference(values, fading_factor):
    """river's EWMean / EWVar fed the same values (what RateModel used to hold)."""
    from river import stats

    m, v = stats.EWMean(fading_factor), stats.EWVar(fading_factor)
    for x in values:
        m.update(x)
        v.update(x)
    return m, v


def test_ew_baseline_is_rivers_arithmetic_bit_for_bit():
    import random

    rng = random.Random(5)
    for ff in (0.1, 0.05, 0.3):
        rm = RateModel(bucket_seconds=DAY, fading_factor=ff, max_idle=5)
        learned = []
        ts = 0.0
        for _ in range(300):
            ts += rng.choice([600.0, 3 * 3600.0, DAY, 4 * DAY, 9 * DAY])
            before_cur, count, hot = rm.cur, rm.count, rng.random() < 0.1
            rm.hot = hot
            rm.add(ts, rng.choice([1.0, 0.5, 2.25]))
            if before_cur is not None and rm.cur > before_cur:
                if not hot:
                    learned.append(count)
                learned.extend([0.0] * min(rm.cur - before_cur - 1, 5))
            m, v = _river_reference(learned, ff)
            assert (rm.mean.get(), rm.var.get()) == (m.get(), v.get())
            assert rm.n == len(learned)


def test_checkpoint_with_river_statistics_and_deque_loads_exactly():
    from collections import deque

    values = [3.0, 0.0, 1.5, 7.0, 0.0]
    m, v = _river_reference(values, 0.1)
    ref = RateModel(bucket_seconds=DAY)
    for x in values:
        ref._learn(x)
    old_state = {"bucket_seconds": DAY, "max_idle": 60, "cur": 4, "count": 2.0, "n": 5, "mean": m, "var": v,
                 "recent": deque([(4 * DAY, 1.0), (4 * DAY + 1, 1.0)], maxlen=16), "hot": False}
    rm = RateModel.__new__(RateModel)
    rm.__setstate__(old_state)
    assert (rm.m1, rm.m2) == (ref.m1, ref.m2)
    assert rm.max_recent == 16 and rm.recent == [4 * DAY, 1.0, 4 * DAY + 1, 1.0]
    for i in range(20):  # keeps at most max_recent arrivals, like the deque did
        rm.add(4 * DAY + 10 + i)
    assert len(rm.recent) == 2 * 16
    rm2 = pickle.loads(pickle.dumps(rm))
    assert rm2.__getstate__() == rm.__getstate__()


def test_expose_all_matches_expose_bit_for_bit():
    from detectors.rates import expose_all

    a = {k: PopulationPrior(0.01 * (i + 1), r=0.5, halflife=(5 + i) * DAY) for i, k in enumerate("xyzw")}
    b = {k: PopulationPrior(0.01 * (i + 1), r=0.5, halflife=(5 + i) * DAY) for i, k in enumerate("xyzw")}
    counts = {"x": 3, "y": 0, "z": 1}
    ts = 1000.0
    for step in range(200):
        ts += 37.0 * (step % 5)
        for k, p in a.items():
            p.expose(ts, counts.get(k, 0))
        expose_all(b, ts, counts)
        if step % 7 == 0:
            a["x"].arrival(1.0)
            b["x"].arrival(1.0)
        if step == 50:
            counts["w"] = 2  # a kind that had no keys gets some
    for k in a:
        assert (a[k].s_c, a[k].s_c2, a[k].s_e, a[k].t) == (b[k].s_c, b[k].s_c2, b[k].s_e, b[k].t)


def _state(p: PopulationPrior) -> tuple:
    p.catch_up()
    return p.s_c, p.s_c2, p.s_e, p.t


@pytest.mark.parametrize("cap", [1024, 5])
def test_lazy_exposure_through_a_clock_matches_eager_exposure_bit_for_bit(cap):
    """Ticks, key-count changes, arrivals and reads in a random order: the
    lazily exposed priors must hold exactly the eager sums (also across the
    clock's settling and a pickle round trip)."""
    import random

    from detectors.rates import ExposureClock, expose_all

    rng = random.Random(7)

    def make():
        return {k: PopulationPrior(0.01 * (i + 1), r=0.5, halflife=(5 + i) * DAY) for i, k in enumerate("xyzw")}

    eager, lazy = make(), make()
    clock = ExposureClock(cap=cap)
    counts: dict[str, int] = {}
    for p in lazy.values():
        clock.attach(p, 0)
    ts = 1000.0
    for step in range(3000):
        ts += rng.choice((0.0, 1.0, 37.0, 3600.0, 0.1))
        if step == 0 or ts > clock.times[-1]:
            expose_all(eager, ts, counts)
            clock.tick(ts)
        k = rng.choice("xyzw")
        action = rng.random()
        if action < 0.2:  # a key of kind k comes or goes
            n = counts[k] = max(0, counts.get(k, 0) + rng.choice((1, 1, -1)))
            lazy[k].set_keys(n)
        elif action < 0.3:
            before = float(rng.randrange(3))
            eager[k].arrival(before)
            lazy[k].arrival(before)
        elif action < 0.35:
            assert lazy[k].get() == eager[k].get()
        if step == 1500:
            lazy = pickle.loads(pickle.dumps(lazy))
            clock = lazy["x"].clock
            assert all(p.clock is clock for p in lazy.values())
    assert len(clock.times) <= cap + 1
    for k in eager:
        assert _state(lazy[k]) == (eager[k].s_c, eager[k].s_c2, eager[k].s_e, eager[k].t)
    assert eager["x"].s_e > 0 and eager["x"].s_c > 0  # the stream exercised both sums


def test_a_prior_on_a_clock_cannot_be_exposed_by_hand():
    from detectors.rates import ExposureClock

    p = ExposureClock().attach(PopulationPrior(0.1))
    with pytest.raises(RuntimeError):
        p.expose(0.0, 1)


def test_rate_models_share_equal_small_counts_and_bucket_indices_within_a_bound():
    import detectors.rates as R

    models = [RateModel(bucket_seconds=DAY) for _ in range(3)]
    for i, rm in enumerate(models):
        rm.add(400 * DAY + i)
    a, b, c = models
    assert a.count == 1.0 and a.count is b.count is c.count
    assert a.cur == 400 and a.cur is b.cur is c.cur
    a.add(400 * DAY + 5, 0.5)
    assert a.count == 1.5 and b.count == 1.0  # sharing is of objects, never of state
    for day in range(R._MAX_SHARED_BUCKETS + 10):
        RateModel(bucket_seconds=DAY).add((1000 + day) * DAY)
    assert len(R._SHARED_BUCKETS) <= R._MAX_SHARED_BUCKETS


def test_score_computes_a_tail_once_for_windows_with_the_same_count_and_mean(monkeypatch):
    """A key younger than a day has the same (obs, mu) in its 1/7/30-day windows: one tail
    computation serves them, and every window's raw score is still what surprise() gives."""
    import detectors.rates as rates
    from detectors.tails import surprise

    calls = []

    def counted(k, mean, var=None):
        calls.append((k, mean, var))
        return surprise(k, mean, var)

    monkeypatch.setattr(rates, "surprise", counted)
    scales = (DAY, 7 * DAY, 30 * DAY)
    young = RateModel(bucket_seconds=DAY)
    for i in range(5):
        young.add(1000.0 + i)
    s = young.score(1010.0, scales, baseline=(0.2, 0.5), since=1000.0)
    assert len(calls) == 1 and s.per_scale == (s.per_scale[0],) * 3
    assert s.per_scale[0] == surprise(5, 0.2, 0.2 + 0.2 * 0.2 / (0.2 * 0.2 / 0.3))
    calls.clear()
    old = RateModel(bucket_seconds=DAY)
    for t in (0.0, 3 * DAY, 20 * DAY, 20 * DAY + 1):
        old.add(t)
    s = old.score(20 * DAY + 2, scales, baseline=(0.2, 0.5), since=0.0)
    assert len(calls) == 3  # different windows, different sums: each its own tail
    assert [surprise(*c) for c in calls] == list(s.per_scale)
