"""Bonferroni over the windows a ``RateModel.score`` call actually tested.

Shared by ``agent_surge`` and ``template_surge`` (every class but the short
one: see ``TemplateSurge._judge``), which test a key's 1-, 7- and 30-day
windows and keep the most surprising one.
"""
from __future__ import annotations

import dataclasses
import math

from detectors.rates import Surprise as Score  # a RateModel score (not detectors.surprise.Surprise)

__all__ = ["one_test_per_window"]


def one_test_per_window(s: Score, scales: tuple[float, ...], age: float, floor: float) -> Score:
    """``s`` with its multiple-window correction counting only the windows that differ.

    ``RateModel.score`` tests the 1-, 7- and 30-day windows and subtracts
    ``log10 3`` (Bonferroni). But it clips every window to the key's age
    (floored at one bucket): on a key younger than a day all three windows
    hold the same arrivals against the same expectation -- one test, not three
    -- and on one younger than a week the 7- and 30-day windows are one. An
    agency's phone is that young when its 3rd complainant arrives, and paid
    ``log10 3 ~ 0.48`` for tests it never made. Bonferroni over the distinct
    windows is as strict per judgement as the correction was meant to be.
    """
    k = len({min(w, max(age, floor)) for w in scales})
    if k == len(scales) or not s.per_scale:
        return s
    sc = max(0.0, max(s.per_scale) - math.log10(k))
    return dataclasses.replace(s, score=sc, p_value=10.0 ** -sc)
