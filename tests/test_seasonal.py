"""detectors/seasonal.py: the time-of-day baseline, and its windows in SeriesModel / bench/nab.py."""
from __future__ import annotations

import copy
import math
import random

import pytest

from detectors.seasonal import SeasonalBaseline, gauss_upper_surprise
from detectors.series import SeriesModel
from tests.test_nab_bench import nab

DAY = 86400.0
STEP = 300.0  # 5-min samples, 288 a day


def _profile(ts: float) -> float:
    """A daily rhythm: 2 per sample at night, 20 around noon."""
    hour = (ts % DAY) / 3600.0
    return 2.0 + 18.0 * max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0)) if 6.0 <= hour <= 18.0 else 2.0


def _poisson(lam: float, rng: random.Random) -> int:
    k, p, u = 0, math.exp(-lam), rng.random()
    c = p
    while u > c:
        k += 1
        p *= lam / k
        c += p
    return k


def _series(days: int, seed: int = 1, factor=lambda ts: 1.0) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    ts = [i * STEP for i in range(days * 288)]
    return ts, [float(_poisson(_profile(t) * factor(t), rng)) for t in ts]


def _feed(sb: SeasonalBaseline, ts, values, hot=lambda t: False):
    out = []
    for t, v in zip(ts, values):
        out.append(sb.update(v, t))
        sb.learn(hot(t))
    return out


def test_gauss_upper_surprise_matches_erfc_and_is_continuous_at_the_switch():
    for z in (0.5, 1.0, 3.0, 6.0, 7.9):
        assert gauss_upper_surprise(z) == pytest.approx(-math.log10(0.5 * math.erfc(z / math.sqrt(2))), rel=1e-12)
    assert gauss_upper_surprise(0.0) == gauss_upper_surprise(-2.0) == 0.0
    assert gauss_upper_surprise(8.0) == pytest.approx(-math.log10(0.5 * math.erfc(8.0 / math.sqrt(2))), rel=1e-3)
    assert gauss_upper_surprise(40.0) > gauss_upper_surprise(30.0) > 100.0  # no underflow


def test_the_profile_is_learned_from_earlier_days_only():
    sb = SeasonalBaseline((6,), min_days=3)
    ts, values = _series(3)
    _feed(sb, ts, values)
    assert math.isnan(sb.expect(3 * DAY + 12 * 3600))  # 3 days accumulated, only 2 folded in so far
    ts4, values4 = _series(1, seed=2)
    ts4 = [t + 3 * DAY for t in ts4]
    _feed(sb, ts4[:170], values4[:170])  # day 4 until 14:10: the slots around noon have folded day 3 in
    noon = sb.expect(3 * DAY + 12.5 * 3600)
    night = sb.expect(3 * DAY + 2.5 * 3600)
    assert noon == pytest.approx(_profile(12.5 * 3600), rel=0.25)
    assert night == pytest.approx(2.0, rel=0.35)
    # today's own values (a huge day 4) do not move today's expectation of the same slot
    sb2 = SeasonalBaseline((6,), min_days=3)
    _feed(sb2, ts, values)
    _feed(sb2, ts4[:170], [v * 50 for v in values4[:170]])
    assert sb2.expect(3 * DAY + 12.5 * 3600) == noon


def test_a_rise_is_judged_against_the_same_hour_not_the_daily_peak():
    """Ten per sample at 03:00 (usually 2) surprises; the same ten at 11:00 (usually ~17) does not."""
    sb = SeasonalBaseline((12,), min_days=3, min_disp=288)
    ts, values = _series(8)
    _feed(sb, ts, values)
    day = 8 * DAY

    def window_surprise(hour: float) -> float:
        s = copy.deepcopy(sb)
        start = day + hour * 3600
        before = [start - (12 - i) * STEP for i in range(12)]  # usual values up to the rise
        _feed(s, before, [_profile(t) for t in before])
        res = []
        for i in range(12):
            res = s.update(10.0, start + i * STEP)
            s.learn(False)
        return res[0][3]

    assert window_surprise(3.0) > 8.0
    assert window_surprise(11.0) == 0.0


def test_hot_samples_are_not_learned_but_only_hot_max_in_a_row():
    sb = SeasonalBaseline((6,), min_days=1, hot_max=3)
    for i in range(5):  # day 0, first slot: 2 learned, then 3 hot ones kept out (hot_max 3)
        sb.update(100.0 if i >= 2 else 1.0, i * STEP)
        sb.learn(hot=i >= 2)
    assert sb.acc[0] == 2.0 and sb.nacc[0] == 2
    sb.update(100.0, 5 * STEP)
    sb.learn(hot=True)  # the 4th hot sample in a row is learned: a lasting change is not kept out forever
    assert sb.acc[0] == 102.0 and sb.nacc[0] == 3


def test_the_level_factor_follows_a_busy_day_and_the_window_uses_the_factor_from_before_it():
    """A whole day at twice the usual level: against the profile alone its windows surprise
    (until the residuals' centre adapts); against the day's level learned before the window
    (alpha_level) they surprise far less."""
    ts, values = _series(10, seed=4, factor=lambda t: 2.0 if t >= 9 * DAY else 1.0)
    plain = SeasonalBaseline((24,), min_days=3)
    level = SeasonalBaseline((24,), min_days=3, alpha_level=0.02)
    s_plain = [max((r[3] for r in res), default=0.0) for res in _feed(plain, ts, values)]
    s_level = [max((r[3] for r in res), default=0.0) for res in _feed(level, ts, values)]
    busy = slice(9 * 288 + 36, 10 * 288)  # the busy day, once the level factor begins to catch up
    assert max(s_plain[busy]) > 3.0
    assert sum(s_level[busy]) < sum(s_plain[busy]) / 2
    assert level.factors[-1] == pytest.approx(2.0, rel=0.25)


def test_series_model_seasonal_windows_leave_continuous_metrics_untouched_and_see_count_rises():
    rng = random.Random(3)
    metric = [20 + 2 * math.sin(i / 30) + rng.gauss(0, 0.5) for i in range(3000)]
    a = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005)
    b = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005, seasonal_scales=(24,))
    assert [a.update(v).score for v in metric] == [b.update(v).score for v in metric]
    # counts: a 3-h rise to 5x at night is found by the seasonal window (the rate model's own
    # fast baseline learns it within a few samples)
    ts, values = _series(8, seed=6)
    start = 7 * 288 + 24  # 02:00 on day 8
    values = values[:start] + [float(_poisson(10.0, rng)) for _ in range(36)] + values[start + 36:]
    m = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005, seasonal_scales=(24,))
    plain = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005)
    rs = [m.update(v, t) for t, v in zip(ts, values)]
    ps = [plain.update(v, t) for t, v in zip(ts, values)]
    rise = range(start + 12, start + 36)
    assert max(rs[i].score for i in rise) > max(ps[i].score for i in rise) + 3.0
    assert any(rs[i].window == 24 and rs[i].direction == 1 for i in rise)


def test_seasonal_windows_are_causal_in_score_series():
    ts, values = _series(6, seed=8)
    p = nab.with_overrides(nab.PARAMS, ["seasonal_scales=(24,)", "seasonal_alpha_level=0.02"])
    k = 5 * 288
    base = nab.score_series(values, p, ts)
    altered = values[:k] + [v * 7 + 50 for v in values[k:]]
    alt = nab.score_series(altered, p, ts)
    assert alt[:k] == base[:k]
    assert alt[k:] != base[k:]
    assert nab.score_series(values[:k], p, ts[:k]) == base[:k]


def test_timestamps_fall_back_to_the_sample_index_and_are_parsed_as_utc():
    assert nab.parse_ts("2015-02-26 21:42:53") == 1424986973.0
    ts, values = _series(5, seed=9)
    p = nab.with_overrides(nab.PARAMS, ["seasonal_scales=(24,)"])
    assert nab.score_series(values, p) == nab.score_series(values, p, ts)  # ts = 300 * i


def test_seasonal_hot_false_leaves_the_fast_baselines_hot_decisions_to_the_plain_windows():
    rng = random.Random(11)
    ts, values = _series(8, seed=6)
    start = 7 * 288 + 24
    values = values[:start] + [float(_poisson(10.0, rng)) for _ in range(36)] + values[start + 36:]

    def hot_flags(**kw):
        m = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005, **kw)
        flags = []
        for t, v in zip(ts, values):
            m.update(v, t)
            flags.append(m.rm.hot)
        return flags

    plain = hot_flags()
    assert hot_flags(seasonal_scales=(24,), seasonal_hot=False) == plain
    assert hot_flags(seasonal_scales=(24,)) != plain  # the seasonal window marks the rise hot
