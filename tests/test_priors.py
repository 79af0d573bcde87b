"""The lazy exposure clock: its shared per-step decay factors must give the step-by-step sums bit for bit."""
from __future__ import annotations

import pickle
import random

import pytest

from detectors.priors import ExposureClock, PopulationPrior

DAY = 86400.0


def _replay_step_by_step(p: PopulationPrior) -> None:
    """``catch_up`` as it was before the clock shared its decay factors (the reference)."""
    clock = p.clock
    times = clock.times
    i, end = p.pos, len(times)
    if i >= end:
        return
    p.pos = end
    t = p.t
    if t is None:
        t = times[i]
        i += 1
    n = p.n_keys
    if not n and p.s_e == 0.0 and p.s_c == 0.0 and p.s_c2 == 0.0:
        p.t = times[end - 1]
        return
    hl, bs = p.halflife, p.bucket_seconds
    s_c, s_c2, s_e = p.s_c, p.s_c2, p.s_e
    for ts in times[i:end]:
        dt = ts - t
        if dt <= 0.0:
            continue
        decay = 0.5 ** (dt / hl)
        s_c *= decay
        s_c2 *= decay
        s_e = s_e * decay + n * dt / bs
        t = ts
    p.s_c, p.s_c2, p.s_e, p.t = s_c, s_c2, s_e, t


def _state(p: PopulationPrior) -> tuple:
    return p.s_c, p.s_c2, p.s_e, p.t, p.pos


@pytest.mark.parametrize("seed,backwards", [(1, False), (2, False), (3, True), (4, True)])
def test_shared_decays_match_the_step_by_step_replay_bit_for_bit(seed, backwards, monkeypatch):
    """Two identical detectors' worth of priors (two half-lives, random float gaps, key
    counts, arrivals, reads, settling, pickles; with ``backwards`` also clocks ticked
    backwards, which callers do not do): one replays with the shared factors, the other
    with the reference; every read must agree exactly."""
    rng = random.Random(seed)

    def make() -> tuple[ExposureClock, list[PopulationPrior]]:
        clock = ExposureClock(cap=rng.choice((7, 50, 1024)))
        priors = [PopulationPrior(0.01 * (i + 1), r=0.5, halflife=(3 + i % 2) * DAY) for i in range(5)]
        for p in priors:
            clock.attach(p, 0)
        return clock, priors

    state = rng.getstate()
    fast_clock, fast = make()
    rng.setstate(state)
    ref_clock, ref = make()
    ts = 1.7e9
    for step in range(4000):
        gap = rng.choice((0.0, 0.25, 1.0, 37.3, 3600.0, rng.random() * 5000.0))
        if backwards and rng.random() < 0.05:
            gap = -rng.random() * 100.0
        ts += gap
        fast_clock.tick(ts)
        with monkeypatch.context() as m:  # settling past the cap catches up too
            m.setattr(PopulationPrior, "catch_up", _replay_step_by_step)
            ref_clock.tick(ts)
        j = rng.randrange(len(fast))
        action = rng.random()
        if action < 0.15:
            n = rng.randrange(4)
            with monkeypatch.context() as m:
                m.setattr(PopulationPrior, "catch_up", _replay_step_by_step)
                ref[j].set_keys(n)
            fast[j].set_keys(n)
        elif action < 0.25:
            before = float(rng.randrange(3))
            with monkeypatch.context() as m:
                m.setattr(PopulationPrior, "catch_up", _replay_step_by_step)
                ref[j].arrival(before)
            fast[j].arrival(before)
        elif action < 0.4:
            with monkeypatch.context() as m:
                m.setattr(PopulationPrior, "catch_up", _replay_step_by_step)
                want = ref[j].get()
            assert fast[j].get() == want
            assert _state(fast[j]) == _state(ref[j])
        if step in (1000, 2500):
            fast = pickle.loads(pickle.dumps(fast))
            fast_clock = fast[0].clock
    for f, r in zip(fast, ref):
        f.catch_up()
        _replay_step_by_step(r)
        assert _state(f) == _state(r)
    assert any(p.s_c > 0 for p in fast) and all(p.s_e > 0 for p in fast)


def test_derived_steps_are_not_pickled_and_old_clocks_derive_them():
    clock = ExposureClock()
    p = clock.attach(PopulationPrior(0.1), 3)
    for k in range(20):
        clock.tick(1000.0 + 60.0 * k)
    p.catch_up()  # derives the step lists
    assert clock._dts is not None
    restored = pickle.loads(pickle.dumps(clock))
    assert "_dts" not in restored.__dict__ and "_decays" not in restored.__dict__
    twin = pickle.loads(pickle.dumps(clock))
    for c in (clock, restored, twin):
        for k in range(20, 40):
            c.tick(1000.0 + 60.0 * k)
    p2, p3 = restored.priors[0], twin.priors[0]
    p.catch_up()
    p2.catch_up()
    _replay_step_by_step(p3)
    assert _state(p) == _state(p2) == _state(p3)
