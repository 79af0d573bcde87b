"""The benchmark scripts still run (tiny sizes, no timing assertions).

bench/throughput.py and bench/memory.py are run with ``--quick`` so they do
not rot as the pipeline and detectors change; the Kafka benchmarks need a
broker and minutes, and are run by hand (see BENCHMARKS.md).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{Path(script).stem}.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / script), "--quick", "--json", str(out), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "machine :" in proc.stdout and "command :" in proc.stdout
    return json.loads(out.read_text())


def test_throughput_quick(tmp_path):
    res = _run("throughput.py", tmp_path=tmp_path)
    assert set(res["streams"]) == {"hotline", "letters1k", "letters400", "mixed"}
    for name, s in res["streams"].items():
        assert s["median_eps"] > 0, name
        assert s["info"]["dead_letters"] == 0, name          # the generated inputs are contract-valid
        assert s["info"]["scored"] == s["events"], name      # every event reached the detectors
        assert "detector:template_surge" in s["breakdown_us_per_event"], name


def test_throughput_batched_and_per_event_feeds_give_the_same_outputs(tmp_path):
    batched = _run("throughput.py", "--streams", "mixed", "--batch", "64", tmp_path=tmp_path)
    per_event = _run("throughput.py", "--streams", "mixed", "--per-event", tmp_path=tmp_path)
    assert (batched["batch"], per_event["batch"]) == (64, 0)
    a, b = batched["streams"]["mixed"]["info"], per_event["streams"]["mixed"]["info"]
    assert a == b and a["alert_emissions"] > 0


def test_memory_quick(tmp_path):
    # one detector keeps this under a few seconds (each child process imports numpy and every detector)
    res = _run("memory.py", "--detectors", "template_surge", tmp_path=tmp_path)
    for det in ("template_surge",):
        r = res["detectors"][det]
        last = r["flood"]["points"][-1]
        assert last["tracked"] > 0 and last["pickled"] > 0, det
        assert last["live"] > 100 * last["tracked"], det  # the state walk reached the per-key state
        assert r["tracemalloc"], det


def test_ingest_bench_runs(tmp_path):
    out = tmp_path / "ingest.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "ingest.py"), "--rounds", "1", "--stream", "hotline",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    res = json.loads(out.read_text())
    assert res["events"] > 0
    stages = res["us_per_event"]
    assert set(stages) == {"decode", "validate", "to_event", "total", "pipeline", "gc"}
    # the total is measured as its own pass, so it is roughly (not exactly) the sum of the stages
    assert all(stages[s]["median_us"] > 0 for s in stages)
