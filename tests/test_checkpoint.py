"""Checkpoints restore a pipeline that continues exactly; bad files are refused clearly."""
from __future__ import annotations

import orjson
import pytest

from streamer import checkpoint
from streamer.testing import TEST_PSEUDO, MemorySink, raw_event
from tests.test_pipeline import CountingDetector

from streamer.pipeline import Pipeline


def pipe():
    sink = MemorySink()
    return Pipeline([CountingDetector()], TEST_PSEUDO, alert_sinks=[sink]), sink


def test_restored_pipeline_continues_exactly(tmp_path):
    msgs = [orjson.dumps(raw_event(ts=i)) for i in range(20)]
    ref, ref_sink = pipe()
    for m in msgs:
        ref.process(m)

    a, a_sink = pipe()
    for m in msgs[:10]:
        a.process(m)
    checkpoint.save(str(tmp_path), checkpoint.Checkpoint(checkpoint.FORMAT_VERSION, {("t", 0): 10}, checkpoint.snapshot(a)))
    b, b_sink = pipe()
    ck = checkpoint.load(str(tmp_path))
    checkpoint.restore(b, ck.state)
    assert ck.offsets == {("t", 0): 10}
    for m in msgs[10:]:
        b.process(m)
    b.process(msgs[3])  # a re-delivered event from before the checkpoint is still recognised
    assert a_sink.records + b_sink.records == ref_sink.records
    assert b.stats.events.get(("duplicate", "hotline", "service")) == 1


def test_missing_checkpoint_is_none(tmp_path):
    assert checkpoint.load(str(tmp_path)) is None


def test_other_format_version_is_refused_with_advice(tmp_path, monkeypatch):
    a, _ = pipe()
    checkpoint.save(str(tmp_path), checkpoint.Checkpoint(1, {}, checkpoint.snapshot(a)))
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", 2)
    with pytest.raises(checkpoint.CheckpointError, match="format 1.*fresh --state-dir"):
        checkpoint.load(str(tmp_path))


def test_corruption_is_detected(tmp_path):
    a, _ = pipe()
    checkpoint.save(str(tmp_path), checkpoint.Checkpoint(1, {}, checkpoint.snapshot(a)))
    p = tmp_path / "checkpoint.pkl"
    data = bytearray(p.read_bytes())
    data[-5] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match="checksum"):
        checkpoint.load(str(tmp_path))


def test_detector_set_mismatch_is_refused(tmp_path):
    a, _ = pipe()
    state = checkpoint.snapshot(a)
    b = Pipeline([], TEST_PSEUDO)
    with pytest.raises(checkpoint.CheckpointError, match="detectors"):
        checkpoint.restore(b, state)


# complainant_fanout no longer exposes its priors through a clock (they lag event time
# and are exposed by hand); its older checkpoints are tested in test_complainant_fanout
@pytest.mark.parametrize("name", ["agent_surge", "issuer_surge", "template_surge"])
def test_checkpoint_of_eagerly_exposed_priors_continues_exactly(name):
    """A checkpoint written before priors were exposed lazily (no ``_clock``,
    plain priors exposed up to the last event time) restores into a detector
    that continues exactly like an uninterrupted one."""
    import copy

    from detector_streams import mixed_stream

    from detectors import default_detectors

    stream = mixed_stream()
    cut = len(stream) // 2
    ref = next(d for d in default_detectors() if d.name == name)
    for e in stream[:cut]:
        ref.update(e)
    ref._clock.settle()  # what eager exposure held at this point
    state = copy.deepcopy(ref.__dict__)
    priors = state.pop("_clock").priors
    for p in priors:
        for attr in ("clock", "pos", "n_keys"):
            p.__dict__.pop(attr, None)
    old = type(ref).__new__(type(ref))
    old.__setstate__(state)
    assert len(old._clock.priors) == len(priors) > 0
    tail_ref = [f for e in stream[cut:] for f in ref.update(e)]
    tail_old = [f for e in stream[cut:] for f in old.update(e)]
    assert tail_ref and orjson.dumps(tail_old) == orjson.dumps(tail_ref)
    ref._clock.settle()
    old._clock.settle()
    sums = lambda d: [(p.s_c, p.s_c2, p.s_e, p.t, p.n_keys) for p in d._clock.priors]  # noqa: E731
    assert sums(old) == sums(ref)
