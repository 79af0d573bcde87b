"""Tail probabilities for counts: how surprising is ``k`` arrivals when ``mean`` were expected?

``poisson_sf`` and ``nbinom_sf`` give ``P[X >= k]`` computed in log space with
``math.lgamma`` (no scipy), and ``surprise(k, mean, var)`` turns that into a
score ``-log10 p``, using the negative binomial when the variance exceeds the
mean (over-dispersion: bursty keys, lawyers with several clients) and the
Poisson otherwise. Gaussian z-scores are useless at the counts we see
(0, 1, 2, 3 ...). Pure functions of numbers: the rate models, the
detectors and the NAB adapter share them.
"""
from __future__ import annotations

import math

__all__ = ["LOG10E", "MAX_SCORE", "poisson_logsf", "nbinom_logsf", "poisson_sf", "nbinom_sf", "surprise"]

LOG10E = math.log10(math.e)
MAX_SCORE = 300.0  # -log10 of the smallest p we report (beyond double precision)
_TAIL_TERMS = 4000
_TAIL_EPS = 1e-16
_EXACT_INT = 2**53  # integers below it are exact floats


def poisson_logsf(k: float, mu: float) -> float:
    """natural log of P[X >= k] for X ~ Poisson(mu)."""
    k = math.ceil(k - 1e-9)
    if k <= 0:
        return 0.0
    if mu <= 0.0:
        return -math.inf
    if k <= mu:  # the bulk: 1 - cdf is not small, sum the left part
        if mu < 600.0:  # pmf recurrence, no underflow of exp(-mu)
            term = cdf = math.exp(-mu)
            for x in range(1, k):
                term *= mu / x
                cdf += term
        else:
            log_mu = math.log(mu)
            cdf = 0.0
            for x in range(k):
                cdf += math.exp(x * log_mu - mu - math.lgamma(x + 1))
        return math.log(max(1.0 - cdf, 1e-300))
    first = k * math.log(mu) - mu - math.lgamma(k + 1)
    total = term = 1.0  # relative to pmf(k); ratios mu/(x+1) < 1 and falling
    x = k
    while True:
        x += 1
        term *= mu / x
        total += term
        if term < _TAIL_EPS * total:
            break
    return min(0.0, first + math.log(total))


def _nb_logpmf(x: int, r: float, lg_r: float, log_p: float, log_q: float) -> float:
    """log pmf of the negative binomial at ``x`` (a function of the module, not a closure
    in ``nbinom_logsf``: a closure would turn the hot loop's ``r`` into a cell variable)."""
    return math.lgamma(x + r) - lg_r - math.lgamma(x + 1) + r * log_p + x * log_q


def nbinom_logsf(k: float, mean: float, var: float) -> float:
    """natural log of P[X >= k] for a negative binomial with this mean and variance.

    Parametrised by ``r = mean**2 / (var - mean)`` and ``p = r / (r + mean)``;
    falls back to the Poisson when ``var <= mean``.
    """
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
    q = 1.0 - p
    if k <= mean:  # the bulk: sum the left part by the pmf recurrence
        lp0 = r * log_p
        if lp0 > -700.0:
            term = cdf = math.exp(lp0)
            for x in range(k - 1):
                term *= (x + r) / (x + 1) * q
                cdf += term
        else:
            cdf = 0.0
            for x in range(k):
                cdf += math.exp(_nb_logpmf(x, r, lg_r, log_p, log_q))
        return math.log(max(1.0 - cdf, 1e-300))
    total = term = 1.0  # relative to pmf(k)
    # x as a float (the interpreter's float-only fast path): while x stays below 2**53,
    # ``x + r`` and ``x + 1.0`` are the very floats the int x gives (ints convert exactly)
    x, one = (float(k), 1.0) if k < _EXACT_INT - _TAIL_TERMS else (k, 1)
    eps = _TAIL_EPS
    for _ in range(_TAIL_TERMS):
        ratio = (x + r) / (x + one) * q
        term *= ratio
        total += term
        x += one
        lim = eps * total  # the same float the two tests computed separately before
        if term < lim or (ratio < 1.0 and term * ratio / (1.0 - ratio) < lim):
            break
    else:  # slowly converging: close with a geometric bound
        ratio = (x + r) / (x + one) * q
        if ratio < 1.0:
            total += term * ratio / (1.0 - ratio)
    return min(0.0, _nb_logpmf(k, r, lg_r, log_p, log_q) + math.log(total))


def poisson_sf(k: float, mu: float) -> float:
    return math.exp(poisson_logsf(k, mu))


def nbinom_sf(k: float, mean: float, var: float) -> float:
    return math.exp(nbinom_logsf(k, mean, var))


def surprise(k: float, mean: float, var: float | None = None) -> float:
    """``-log10 P[X >= k]`` under a Poisson (``var`` None or <= mean) or
    negative binomial with this mean/variance; 0 when ``k <= 0``; capped at
    ``MAX_SCORE``."""
    if var is None or var <= mean:
        lp = poisson_logsf(k, mean)
    else:
        lp = nbinom_logsf(k, mean, var)
    if lp == -math.inf:
        return MAX_SCORE
    return min(MAX_SCORE, max(0.0, -lp * LOG10E))
