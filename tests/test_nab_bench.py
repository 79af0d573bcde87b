"""bench/nab.py: the surge-rate model run over NAB-layout series (fast; never the whole benchmark)."""
from __future__ import annotations

import csv
import importlib.util
import math
import random
import sys
from pathlib import Path

import pytest

from detectors.series import LevelNovelty, SeriesModel, lower_surprise, nbinom_logcdf, poisson_logcdf

_ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", _ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


nab = _load("nab")
nab_report = _load("nab_report")


def _counts(n, mu, seed=1):
    """Poisson-ish counts with a daily-like rhythm (288 samples a cycle)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lam = mu * (1.0 + 0.5 * math.sin(2 * math.pi * i / 288))
        # Poisson by inversion (small means)
        k, p, u = 0, math.exp(-lam), rng.random()
        c = p
        while u > c:
            k += 1
            p *= lam / k
            c += p
        out.append(k)
    return out


def _write(path, values, start=1_425_000_000):
    import datetime as dt

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        for i, v in enumerate(values):
            t = dt.datetime.fromtimestamp(start + 300 * i, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            w.writerow([t, v])


def test_output_has_the_same_rows_in_order_and_scores_in_unit_interval(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    counts = _counts(700, 5.0)
    metric = [round(40 + 3 * math.sin(i / 20) + random.Random(i).gauss(0, 1), 3) for i in range(600)]
    metric[450:460] = [95.5] * 10
    _write(data / "realTweets" / "a.csv", counts)
    _write(data / "realAWSCloudwatch" / "b.csv", metric)
    nab.run(str(data), str(out), quiet=True)
    for rel in ("realTweets/a.csv", "realAWSCloudwatch/b.csv"):
        with open(data / rel) as fh:
            src = list(csv.reader(fh))
        with open(out / rel) as fh:
            res = list(csv.reader(fh))
        assert res[0] == ["timestamp", "value", "anomaly_score"]
        assert len(res) == len(src)
        assert [r[:2] for r in res[1:]] == src[1:]  # same rows, same order, values untouched
        scores = [float(r[2]) for r in res[1:]]
        assert all(0.0 <= s <= 1.0 for s in scores)
    # --category restricts the run
    out2 = tmp_path / "out2"
    nab.main(["--data", str(data), "--out", str(out2), "--category", "realTweets"])
    assert (out2 / "realTweets" / "a.csv").exists() and not (out2 / "realAWSCloudwatch").exists()


@pytest.mark.parametrize("kind", ["counts", "metric"])
def test_causal_scores_of_a_prefix_do_not_depend_on_later_rows(kind):
    if kind == "counts":
        values = [float(v) for v in _counts(900, 8.0, seed=3)]
    else:
        rng = random.Random(5)
        values = [20 + 2 * math.sin(i / 30) + rng.gauss(0, 0.5) for i in range(900)]
    k = 500
    base = nab.score_series(values)
    altered = values[:k] + [v * 7 + 50 for v in values[k:]]
    alt = nab.score_series(altered)
    assert alt[:k] == base[:k]
    assert alt[k:] != base[k:]  # the alteration is visible later, so the check is not vacuous
    # a prefix alone scores the same as within the full series
    assert nab.score_series(values[:k]) == base[:k]


def test_a_planted_burst_scores_higher_than_anywhere_else():
    values = _counts(2000, 4.0, seed=7)
    for i in range(1500, 1506):
        values[i] += 25
    scores = nab.score_series(values)
    burst = max(scores[1500:1506])
    elsewhere = max(scores[300:1490] + scores[1520:])
    assert burst > elsewhere
    assert 1500 <= max(range(len(scores)), key=scores.__getitem__) < 1506


def test_a_drop_in_a_continuous_metric_is_seen_two_sided():
    rng = random.Random(11)
    values = [50 + rng.gauss(0, 1.0) for _ in range(1500)]
    for i in range(1200, 1230):
        values[i] = 5.0 + rng.gauss(0, 0.2)
    m = SeriesModel()
    res = [m.update(v) for v in values]
    assert max(r.score for r in res[1200:1210]) > max(r.score for r in res[300:1190])
    assert res[1201].direction == -1


@pytest.mark.parametrize("k,mu", [(0, 3.0), (2, 3.0), (5, 12.0), (40, 80.0)])
def test_poisson_lower_tail_matches_direct_sum(k, mu):
    direct = sum(math.exp(x * math.log(mu) - mu - math.lgamma(x + 1)) for x in range(k + 1))
    assert math.exp(poisson_logcdf(k, mu)) == pytest.approx(direct, rel=1e-9)


@pytest.mark.parametrize("k,m,v", [(0, 3.0, 9.0), (2, 5.0, 20.0), (10, 30.0, 100.0)])
def test_nbinom_lower_tail_matches_direct_sum(k, m, v):
    r = m * m / (v - m)
    p = r / (r + m)
    direct = sum(math.exp(math.lgamma(x + r) - math.lgamma(r) - math.lgamma(x + 1) + r * math.log(p)
                          + x * math.log1p(-p)) for x in range(k + 1))
    assert math.exp(nbinom_logcdf(k, m, v)) == pytest.approx(direct, rel=1e-9)
    assert lower_surprise(k, m, v) == pytest.approx(-math.log10(direct), rel=1e-9)
    assert lower_surprise(m + 1, m, v) == 0.0


def test_level_novelty_is_the_empirical_tail_rank_within_its_window():
    nov = LevelNovelty(window=5)
    assert nov.score(3.0) == 0.0  # no history yet
    for v in (1.0, 2.0, 3.0, 4.0, 5.0):
        nov.add(v)
    assert nov.score(9.0, 1) == pytest.approx(math.log10(6))  # a new high: nothing as high in 5
    assert nov.score(4.0, 1) == pytest.approx(-math.log10(3 / 6))  # 4 and 5 are as high
    assert nov.score(0.5, -1) == pytest.approx(math.log10(6))  # a new low, lower tail
    assert nov.score(9.0, 0) == 0.0
    nov.add(float("nan"))  # ignored
    nov.add(0.0)  # pushes 1.0 out of the 5-value window
    assert nov.score(0.5, -1) == pytest.approx(-math.log10(2 / 6))
    with pytest.raises(ValueError):
        LevelNovelty(0)


def test_novelty_ranks_a_first_of_its_kind_burst_above_a_repeat():
    values = _counts(3000, 4.0, seed=13)
    for start in (1500, 2500):
        for i in range(start, start + 6):
            values[i] += 25
    scores = nab.score_series(values, nab.Params(emit="novelty"))
    first, second = max(scores[1500:1506]), max(scores[2500:2506])
    assert first > second > 0.0
    with pytest.raises(ValueError):
        nab.score_series(values[:10], nab.Params(emit="bogus"))
    with pytest.raises(ValueError):
        nab.score_series(values[:10], nab.Params(confirm=-1))


def _rows(scores):
    return [i for i, s in enumerate(scores) if s > 0]


def test_novelty_re_ranks_the_alarm_rows_and_confirm_delays_each_by_its_samples():
    values = _counts(3000, 4.0, seed=13)
    for start in (1500, 2500):
        for i in range(start, start + 6):
            values[i] += 25
    p = nab.Params(confirm=0, break_margin=None)
    surprise = nab.score_series(values, nab.Params(emit="surprise"))
    onsets = [i for i, s in enumerate(surprise) if s >= p.alarm_level / (p.alarm_level + p.squash)]
    assert 1500 in onsets and 2500 in onsets
    # without confirmation or break-through the alarm rows are the surprise emission's onsets
    assert _rows(nab.score_series(values, p)) == onsets
    # with confirmation each emits `confirm` samples later (and ranks the burst's sum)
    confirmed = nab.score_series(values, nab.Params(confirm=2, break_margin=None))
    assert _rows(confirmed) == [i + 2 for i in onsets]


def test_confirmed_novelty_ranks_a_sustained_burst_above_a_one_sample_blip_of_about_the_same_height():
    values = _counts(3000, 4.0, seed=21)
    values[1500] = 50  # a one-sample blip ...
    values[2500:2506] = [44] * 6  # ... and, later, a sustained burst a little lower
    plain = nab.score_series(values, nab.Params(confirm=0))
    confirmed = nab.score_series(values, nab.Params(confirm=2))
    assert max(confirmed[2500:2510]) > max(confirmed[1500:1510]) > 0.0
    # the single-value rank puts the blip first (the burst's level is not a new high)
    assert max(plain[1500:1510]) > max(plain[2500:2510]) > 0.0


def test_a_much_more_novel_alarm_breaks_through_the_quiet_period():
    rng = random.Random(4)
    values = [4.0 + rng.randint(-1, 1) for _ in range(2000)]
    values[100:600] = [30.0 + rng.randint(-1, 1) for _ in range(500)]  # an old high plateau
    values[1500] = 22.0  # an alarm at a level seen 500 times: little novelty
    values[1550] = 200.0  # 50 samples later, inside its quiet period: a level never seen
    muted = nab.score_series(values, nab.Params(confirm=0, break_margin=None))
    broken = nab.score_series(values, nab.Params(confirm=0, break_margin=2.0))
    assert muted[1500] > 0.0 and muted[1550] == 0.0
    assert broken[1500] == muted[1500] and broken[1550] > 3 * broken[1500]


def test_continuous_scales_apply_to_continuous_metrics_only():
    counts = [float(v) for v in _counts(1500, 6.0, seed=2)]
    plain = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005)
    extra = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005, continuous_scales=(48,))
    assert [plain.update(v) for v in counts] == [extra.update(v) for v in counts]
    rng = random.Random(8)
    metric = [50 + rng.gauss(0, 2.0) for _ in range(1500)]
    for i in range(1200, 1260):  # a slow, modest rise: 1.5 sd per sample, sustained
        metric[i] += 3.0
    plain = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005)
    extra = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005, continuous_scales=(48,))
    a = [plain.update(v) for v in metric]
    b = [extra.update(v) for v in metric]
    assert max(r.score for r in b[1200:1260]) > max(r.score for r in a[1200:1260])
    assert max(r.window for r in b[1200:1260]) == 48


def test_report_reads_the_published_subset_table_from_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "| Detector | Standard |\n| --- | --- |\n| X | 1 |\n\n"
        "Published detectors scored like that (threshold optimised on the subset):\n\n"
        "| detector | realTweets std / lowFP / lowFN | realAWSCloudwatch std / lowFP / lowFN |\n"
        "| --- | --- | --- |\n"
        "| ARTime | 83.17 / 74.58 / 88.78 | 69.92 / 61.60 / 75.50 |\n"
        "| null | 0 / 0 / 0 | 0 / 0 / 0 |\n"
    )
    t = nab_report.published_subset_table(str(readme))
    assert t["ARTime"]["realTweets"] == (83.17, 74.58, 88.78)
    assert t["null"]["realAWSCloudwatch"] == (0.0, 0.0, 0.0)


def test_param_overrides_parse_literals_and_reject_unknown_names():
    p = nab.with_overrides(nab.PARAMS, ["confirm=0", "continuous_scales=()", "break_margin=None",
                                        "emit=surprise"])
    assert (p.confirm, p.continuous_scales, p.break_margin, p.emit) == (0, (), None, "surprise")
    assert nab.PARAMS.confirm == 2  # the default set is untouched
    with pytest.raises(SystemExit):
        nab.with_overrides(nab.PARAMS, ["bogus=1"])


def _daily_spikes(phase_shift_last: int):
    """Counts with a spike at the same time every day (288 samples a day) for 12 days;
    the last day's spike is moved by ``phase_shift_last`` samples."""
    values = [float(v) for v in _counts(288 * 13, 4.0, seed=17)]
    for day in range(12):
        at = 288 * day + 150 + (phase_shift_last if day == 11 else 0)
        values[at:at + 3] = [60.0, 60.0, 60.0]
    return values, 288 * 11 + 150 + phase_shift_last


@pytest.mark.parametrize("shift", [0, 2])
def test_a_spike_seen_at_this_time_on_earlier_days_is_discounted(shift):
    values, last = _daily_spikes(shift)
    off = nab.score_series(values, nab.Params(season=0, break_margin=None))
    on = nab.score_series(values, nab.Params(break_margin=None))
    assert max(off[last:last + 5]) > 0.0
    # ten earlier days showed this level within +- season_slack samples of this time of day
    assert max(on[last:last + 5]) < max(off[last:last + 5])


def test_a_spike_at_a_new_time_of_day_is_not_discounted():
    values, last = _daily_spikes(100)  # far outside the slack
    off = nab.score_series(values, nab.Params(season=0, break_margin=None))
    on = nab.score_series(values, nab.Params(break_margin=None))
    assert max(on[last:last + 5]) == max(off[last:last + 5]) > 0.0


def test_a_shift_window_is_tested_against_the_baseline_from_before_the_window():
    rng = random.Random(9)
    metric = [50 + rng.gauss(0, 2.0) for _ in range(1500)]
    for i in range(1200, 1500):  # a lasting step of 2 sd: the fast baseline learns it in ~5 samples
        metric[i] += 4.0
    plain = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005)
    shift = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005, continuous_shift_scales=(24,))
    a = [plain.update(v) for v in metric]
    b = [shift.update(v) for v in metric]
    # the plain windows see the step only while the baseline catches up; the shift window
    # compares the whole 2 hours with the level before them
    assert max(r.score for r in b[1210:1230]) > max(r.score for r in a[1210:1230]) + 2.0
    top = max(b[1210:1230], key=lambda r: r.score)
    assert top.window == 24 and top.direction == 1
    assert top.expected < 0.95 * top.observed  # the expectation is the pre-step level (50 against ~54)
    # count series are untouched by the continuous-only shift windows
    counts = [float(v) for v in _counts(800, 6.0, seed=2)]
    c1 = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005)
    c2 = SeriesModel((1, 6, 24), 0.2, alpha_long=0.005, continuous_shift_scales=(24,))
    assert [c1.update(v) for v in counts] == [c2.update(v) for v in counts]


def test_an_alarm_from_a_long_window_emits_its_window_sum_novelty_at_once():
    p = nab.Params(rank_window=True, season=0)
    layer = nab.AlarmLayer(p)
    out = [layer.step(1.0, 0.0, 0, 1) for _ in range(300)]
    out += [layer.step(1.5, 0.0, 0, 1) for _ in range(23)]
    out.append(layer.step(1.5, 6.0, 1, 24))  # the 24-window alarms: its sum 36 is a new high
    # 300 complete 24-sums were seen before it (the first 23 rows have none)
    assert out[-1] == pytest.approx(math.log10(301))
    assert out[:-1] == [0.0] * 323
    # without rank_window the same alarm waits `confirm` rows and ranks the 3-sample sum
    old = nab.AlarmLayer(nab.Params(rank_window=False, season=0))
    rows = [old.step(1.0, 0.0, 0, 1) for _ in range(300)] + [old.step(1.5, 0.0, 0, 1) for _ in range(23)]
    rows.append(old.step(1.5, 6.0, 1, 24))
    assert rows[-1] == 0.0
    assert [old.step(1.5, 0.0, 0, 1) for _ in range(2)][-1] > 0.0


def test_window_sums_of_the_alarm_layer_match_direct_sums():
    layer = nab.AlarmLayer(nab.Params(continuous_shift_scales=(36,)))
    assert sorted(layer.windows) == [6, 24, 36, 48]
    rng = random.Random(3)
    vals = [rng.random() for _ in range(60)]
    for n, v in enumerate(vals, 1):
        sums = layer._window_sums(v)
        for k, total in sums.items():
            if k > n:
                assert math.isnan(total)
            else:
                assert total == pytest.approx(sum(vals[n - k:n]))


def test_report_per_file_deltas_list_only_the_files_that_changed():
    def summary(a, b, fp):
        prof = {"normalized": 50.0 + a, "fp": fp, "per_file": {"cat/a.csv": a, "cat/b.csv": b}}
        return {"profiles": {p: prof for p in nab_report.PROFILES}}

    text = nab_report.per_file_deltas("cat", summary(1.0, 2.0, 5), summary(1.5, 2.0, 3))
    assert "a.csv" in text and "b.csv" not in text
    assert "1.000 ->    1.500 (+0.500)" in text and "fp rows 5 -> 3" in text
