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
