"""No raw identifier from the input appears in any output of a run.

A simulated stream, plus invalid events that carry personal data, is replayed
with every output on: alerts, scored events, dead letters, logs (stderr) and
the metrics page. Every complainant id, contact value (phones, addresses,
representative names, e-mails) and complaint text of the input is searched
for in all of them.
"""
from __future__ import annotations

import os
import subprocess
import sys

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from streamer.metrics import PipelineCollector
from streamer.pipeline import Pipeline
from streamer.simulate import simulate
from streamer.testing import TEST_PSEUDO, MemorySink
from detectors import default_detectors


def _secrets(events: list[dict]) -> set[str]:
    out: set[str] = set()
    for e in events:
        out.add(e["complainant"]["id"])
        for c in e.get("contacts", []):
            if isinstance(c.get("value"), str) and len(c["value"]) >= 2:
                out.add(c["value"])
        if len(e.get("text", "")) >= 12:
            out.add(e["text"][:40])
    return out


def test_no_raw_identifier_in_any_output(tmp_path):
    events, _ = simulate("small", 3)
    bad = []
    for i, e in enumerate(events[:30]):
        d = dict(e, event_id=f"bad-{i}", channel="pigeon" if i % 2 else e["channel"])
        if i % 2 == 0:
            d["amount"] = "lots"
        bad.append(d)
    stream = events + bad
    secrets = _secrets(stream)
    assert len(secrets) > 1000
    src = tmp_path / "events.jsonl"
    src.write_bytes(b"\n".join(orjson.dumps(e) for e in stream) + b"\n")

    env = dict(os.environ, SURGEWATCH_PSEUDONYM_KEY="leak-test-key", SURGEWATCH_LOG_LEVEL="debug")
    r = subprocess.run([sys.executable, "-m", "streamer.cli", "replay", "--input", str(src),
                        "--alerts", str(tmp_path / "alerts.jsonl"), "--scored", str(tmp_path / "scored.jsonl"),
                        "--stdout"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    outputs = {
        "alerts": (tmp_path / "alerts.jsonl").read_text(),
        "scored": (tmp_path / "scored.jsonl").read_text(),
        "dead letters": (tmp_path / "alerts.dlq.jsonl").read_text(),
        "logs": r.stderr,
        "stdout": r.stdout,
    }
    assert outputs["alerts"] and outputs["scored"] and outputs["dead letters"].count("\n") == 30

    p = Pipeline(default_detectors(), TEST_PSEUDO, alert_sinks=[MemorySink()], dead_letter_sinks=[MemorySink()])
    for e in stream:
        p.process(orjson.dumps(e))
    reg = CollectorRegistry()
    reg.register(PipelineCollector(p))
    outputs["metrics"] = generate_latest(reg).decode()

    for name, text in outputs.items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{name} leaks {leaked[:3]}"
