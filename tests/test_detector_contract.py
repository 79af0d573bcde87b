"""One contract suite for every detector in ``default_detectors()``.

A new detector added there is covered by these tests for free: determinism,
pickling mid-stream, bounded state, no raw personal data in findings, and
well-formed findings. Detectors must accept a ``max_keys`` keyword (the cap on
tracked keys) and report ``tracked_keys`` in ``stats()``.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import random
import subprocess
import sys

import orjson
import pytest
from detector_streams import ev, forged_certificate, mixed_stream, organic_letter

from detectors import SEVERITIES, Detector, Finding, default_detectors
from detectors.base import Prepares

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DETECTORS = [type(d) for d in default_detectors()]
IDS = [cls.name for cls in DETECTORS]


@pytest.fixture(scope="module")
def stream():
    return mixed_stream()


def run(det, events):
    return [f for e in events for f in det.update(e)]


def as_json(findings: list[Finding]) -> bytes:
    return orjson.dumps(findings, option=orjson.OPT_SORT_KEYS)


def test_default_detectors_are_fresh_protocol_instances():
    a, b = default_detectors(), default_detectors()
    assert [d.name for d in a] == [d.name for d in b]
    assert len({d.name for d in a}) == len(a)
    for x, y in zip(a, b):
        assert isinstance(x, Detector) and x is not y


#: what each detector must find in the contract stream: the agency campaign (event ids
#: ``ag-``), except the mix detector, whose subject is the shifting institution (``shift-``)
PLANTED = {"category_shift": "shift-"}


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_fires_on_the_campaign_in_the_contract_stream(cls, stream):
    # every other property below is only meaningful if the detector says something
    findings = run(cls(), stream)
    assert findings
    prefix = PLANTED.get(cls.name, "ag-")
    assert all(eid.startswith(prefix) for f in findings for eid in f.event_ids)


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_deterministic_across_instances(cls, stream):
    assert as_json(run(cls(), stream)) == as_json(run(cls(), stream))


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_deterministic_across_processes_with_different_hash_seeds(cls, stream):
    code = (
        "import sys, orjson; sys.path[:0] = [%r, %r]\n"
        "from detector_streams import mixed_stream\n"
        "from detectors import default_detectors\n"
        "d = [d for d in default_detectors() if d.name == %r][0]\n"
        "fs = [f for e in mixed_stream() for f in d.update(e)]\n"
        "sys.stdout.buffer.write(orjson.dumps(fs, option=orjson.OPT_SORT_KEYS))\n"
    ) % (ROOT, HERE, cls.name)
    outs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.append(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout)
    assert outs[0] == outs[1] == as_json(run(cls(), stream))


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_pickle_round_trip_mid_stream_continues_identically(cls, stream):
    original = cls()
    cut = len(stream) // 2
    first_half = run(original, stream[:cut])
    restored = pickle.loads(pickle.dumps(original))
    assert restored.stats() == original.stats()
    rest_a, rest_b = run(original, stream[cut:]), run(restored, stream[cut:])
    assert rest_a and as_json(rest_a) == as_json(rest_b)
    assert as_json(first_half + rest_a) == as_json(run(cls(), stream))


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_redelivered_events_are_not_counted_twice(cls, stream):
    doubled = [e for e in stream for _ in range(2)]
    assert as_json(run(cls(), doubled)) == as_json(run(cls(), stream))


# the detectors that offer the optional batch hook (a detector that gains one is covered)
PREPARING = [c for c in DETECTORS if isinstance(c(), Prepares)]


def test_some_default_detector_prepares():
    assert "template_surge" in [c.name for c in PREPARING]


@pytest.mark.parametrize("cls", PREPARING, ids=[c.name for c in PREPARING])
def test_prepare_hook_does_not_change_findings(cls, stream):
    """``prepare`` (the optional batch hook, detectors.base.Prepares) is pure w.r.t. detection:
    batches that include re-deliveries, prepared but never updated, change nothing; nor does
    a checkpoint taken between a batch's prepare and its updates."""
    det = cls()
    got: list[Finding] = []
    for i in range(0, len(stream), 50):
        chunk = stream[i:i + 50]
        det.prepare(chunk + chunk[:5])  # the re-deliveries are dropped by the pipeline, after prepare
        if i == 500:
            det = pickle.loads(pickle.dumps(det))
        got += run(det, chunk)
    assert got and as_json(got) == as_json(run(cls(), stream))


def _distinct_events(n: int, start: int = 0):
    rng = random.Random(start)
    for i in range(start, start + n):
        yield ev(f"m{i}", i * 0.02, f"M{i}", inst=f"inst-{i % 7}",
                 contacts=[("phone", f"1{i:010d}", "representative"), ("email", f"u{i}@x.cn", "self"),
                           ("address", f"某市某路{i}号", "unknown")],
                 text=f"编号{i}：" + organic_letter(rng) + "".join(chr(0x4E00 + (i * 31 + k * 17) % 20000) for k in range(60)))


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_state_is_bounded(cls):
    det = cls(max_keys=100)
    for e in _distinct_events(1500):
        det.update(e)
        assert det.stats()["tracked_keys"] <= 100
    size_1 = len(pickle.dumps(det))
    for e in _distinct_events(3000, start=1500):
        det.update(e)
    assert det.stats()["tracked_keys"] <= 100
    size_2 = len(pickle.dumps(det))
    assert size_2 < 1.25 * size_1 + 20_000  # flat, not growing with the stream
    assert size_2 < 2_000_000


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_stats_are_numeric_gauges(cls, stream):
    det = cls()
    run(det, stream[:200])
    st = det.stats()
    assert "tracked_keys" in st
    assert all(isinstance(k, str) and isinstance(v, (int, float)) and math.isfinite(v) for k, v in st.items())
    json.dumps(st)


RAW_PHONE, RAW_NAME, RAW_ID, RAW_ADDR = "17355550123", "欧阳娜娜", "C-RAW-99887766", "浙江省杭州市西湖区文化路206号"


def _pii_stream():
    """A campaign whose raw identifiers we know, so we can look for them in the findings."""
    rng = random.Random(21)
    base = mixed_stream(seed=21, n_organic=600, n_debtors=0)
    campaign = []
    for i in range(12):
        text = (f"本人{RAW_NAME if i == 0 else '张三丰'}，身份证号11010519491231002X，电话{RAW_PHONE}，"
                f"住址{RAW_ADDR}。" + "本人因突发重症住院治疗，丧失还款能力，贵行催收人员多次骚扰本人亲友，"
                "严重侵犯本人隐私。现依据相关规定，要求贵行停息挂账，减免全部罚息及违约金，分60期还款，"
                "并停止一切催收行为，否则本人将向监管部门投诉。" + organic_letter(rng)[:0])
        campaign.append(ev(f"pii-{i:03d}", 24 * 3 + 9 + i, RAW_ID if i == 0 else f"{RAW_ID}-{i}",
                           inst=("bank-a", "cfc-d")[i % 2], text=text, attachments=forged_certificate(f"pii-{i}"),
                           contacts=[("phone", RAW_PHONE, "representative"), ("representative", RAW_NAME, "representative"),
                                     ("address", RAW_ADDR, "unknown")]))
    for i in range(4):  # the first debtors are also filed at three more institutions within hours (fan-out)
        for j, inst in enumerate(("bank-b", "cfc-e", "bank-c")):
            campaign.append(ev(f"pii-{i:03d}-{j}", 24 * 3 + 9 + i + 0.2 * (j + 1), RAW_ID if i == 0 else f"{RAW_ID}-{i}",
                               inst=inst, text=campaign[i].text,
                               contacts=[("phone", RAW_PHONE, "representative"), ("address", RAW_ADDR, "unknown")]))
    return sorted(base + campaign, key=lambda e: (e.ts, e.event_id)), campaign


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_no_raw_personal_data_or_text_in_findings(cls):
    events, campaign = _pii_stream()
    findings = run(cls(), events)
    assert findings, "the PII stream must trigger the detector, or this test proves nothing"
    blob = as_json(findings).decode()
    for raw in (RAW_PHONE, RAW_NAME, RAW_ID, RAW_ADDR, "11010519491231002X", "张三丰", "突发重症", "停息挂账"):
        assert raw not in blob
    for e in events:
        if e.text:
            assert e.text not in blob and e.text[:20] not in blob


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_findings_conform(cls, stream):
    det = cls()
    fed: set[str] = set()
    n = 0
    for e in stream:
        fed.add(e.event_id)
        for f in det.update(e):
            n += 1
            assert isinstance(f, Finding)
            assert f.detector == det.name == cls.name
            assert isinstance(f.key, str) and f.key and ":" in f.key
            assert isinstance(f.score, float) and math.isfinite(f.score) and f.score > 0
            assert f.severity in SEVERITIES
            assert f.ts == e.ts and f.trigger_id == e.event_id
            assert f.event_ids and set(f.event_ids) <= fed and f.trigger_id in f.event_ids
            assert len(f.event_ids) == len(set(f.event_ids))
            assert isinstance(f.summary, str) and f.summary.endswith(".") and "\n" not in f.summary
            orjson.dumps(f.evidence)
    assert n > 0
