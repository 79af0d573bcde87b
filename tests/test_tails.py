"""The negative-binomial tail must stay bit for bit what it was before its loop was made cheaper."""
from __future__ import annotations

import math
import random

import pytest

from detectors.tails import nbinom_logsf, poisson_logsf


def _reference_nbinom_logsf(k: float, mean: float, var: float) -> float:
    """``nbinom_logsf`` before the float-only loop (int x, closure log pmf): the reference."""
    k = math.ceil(k - 1e-9)
    if k <= 0:
        return 0.0
    if mean <= 0.0:
        return -math.inf
    if var <= mean * (1.0 + 1e-9):
        return poisson_logsf(k, mean)
    r = mean * mean / (var - mean)
    p = r / (r + mean)
    log_p, log_q = math.log(p), math.log1p(-p)
    lg_r = math.lgamma(r)

    def logpmf(x: int) -> float:
        return math.lgamma(x + r) - lg_r - math.lgamma(x + 1) + r * log_p + x * log_q

    q = 1.0 - p
    if k <= mean:
        lp0 = r * log_p
        if lp0 > -700.0:
            term = cdf = math.exp(lp0)
            for x in range(k - 1):
                term *= (x + r) / (x + 1) * q
                cdf += term
        else:
            cdf = 0.0
            for x in range(k):
                cdf += math.exp(logpmf(x))
        return math.log(max(1.0 - cdf, 1e-300))
    total = term = 1.0
    x = k
    for _ in range(4000):
        ratio = (x + r) / (x + 1) * q
        term *= ratio
        total += term
        x += 1
        if term < 1e-16 * total or (ratio < 1.0 and term * ratio / (1.0 - ratio) < 1e-16 * total):
            break
    else:
        ratio = (x + r) / (x + 1) * q
        if ratio < 1.0:
            total += term * ratio / (1.0 - ratio)
    return min(0.0, logpmf(k) + math.log(total))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nbinom_logsf_is_the_reference_bit_for_bit_on_random_input(seed):
    """Means from 1e-4 to 1e3, dispersions from near-Poisson to very heavy, counts in the
    bulk and deep in the tail (fractional counts too): every value is exactly the reference's."""
    rng = random.Random(seed)
    for _ in range(3000):
        mean = 10.0 ** rng.uniform(-4, 3)
        var = mean * (1.0 + 10.0 ** rng.uniform(-10, 3))
        k = rng.choice((rng.randrange(0, 30), rng.uniform(0, 3 * mean + 40), mean * rng.uniform(0, 2)))
        assert _same(nbinom_logsf(k, mean, var), _reference_nbinom_logsf(k, mean, var)), (k, mean, var)


@pytest.mark.parametrize(
    "k,mean,var",
    [
        (2000, 1000.0, 1e9),  # r tiny, q near 1: the 4000 steps run out (geometric close)
        (3000, 1000.0, 1e6),  # a heavy tail that converges slowly
        (2.0**52, 2.0**51, 2.0**53),  # counts beyond exact float steps keep the int loop
        (700, 500.0, 800.0),  # the bulk
        (1, 1e-9, 1e-3),
    ],
)
def test_nbinom_logsf_edge_cases_match_the_reference(k, mean, var):
    assert _same(nbinom_logsf(k, mean, var), _reference_nbinom_logsf(k, mean, var))
