"""The command line on a simulated stream: replay is deterministic, demo works, errors are clear."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ENV = dict(os.environ, SURGEWATCH_PSEUDONYM_KEY="cli-test-key")


def sw(*args: str, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamer.cli", *args], env=env or ENV, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("small")
    r = sw("simulate", "--profile", "small", "--seed", "5", "--out", str(d))
    assert r.returncode == 0, r.stderr
    return d


def test_replaying_twice_gives_byte_identical_alerts(small, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (a, b):
        r = sw("replay", "--input", str(small / "events.jsonl"), "--alerts", str(out))
        assert r.returncode == 0, r.stderr
    assert a.read_bytes() == b.read_bytes()
    alerts = [orjson.loads(x) for x in a.read_bytes().splitlines()]
    assert alerts, "a small scenario with planted campaigns must raise alerts"
    raw = (small / "events.jsonl").read_text()
    ids = {orjson.loads(x)["complainant"]["id"] for x in raw.splitlines()}
    blob = a.read_text()
    assert not any(i in blob for i in ids), "a raw complainant id leaked into the alerts"


def test_alerts_file_is_appended_never_truncated(small, tmp_path):
    out = tmp_path / "alerts.jsonl"
    out.write_text('{"previous": true}\n')
    r = sw("replay", "--input", str(small / "events.jsonl"), "--alerts", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith('{"previous": true}\n') and len(out.read_text().splitlines()) > 1


def test_replay_dead_letters_go_beside_the_alerts(tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_bytes(b'{"event_id": "x"}\n\xff\xfe\n')
    r = sw("replay", "--input", str(events), "--alerts", str(tmp_path / "out.jsonl"))
    assert r.returncode == 0, r.stderr
    dead = [orjson.loads(x) for x in (tmp_path / "out.dlq.jsonl").read_bytes().splitlines()]
    assert [(d["field"], d["origin"]["line"]) for d in dead] == [("ts", 1), ("$", 2)]


def test_missing_input_is_a_clear_error(tmp_path):
    r = sw("replay", "--input", str(tmp_path / "nope.jsonl"), "--alerts", str(tmp_path / "a.jsonl"))
    assert r.returncode != 0 and "nope.jsonl" in r.stderr


def test_run_refuses_to_start_without_a_pseudonym_key():
    env = {k: v for k, v in ENV.items() if k != "SURGEWATCH_PSEUDONYM_KEY"}
    r = sw("run", "--bootstrap-servers", "127.0.0.1:1", env=env, timeout=60)
    assert r.returncode == 2
    assert "SURGEWATCH_PSEUDONYM_KEY" in r.stderr


def test_help_names_environment_variables():
    r = sw("run", "--help")
    assert r.returncode == 0
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME", "SURGEWATCH_METRICS_PORT"):
        assert var in r.stdout


def test_demo_runs_without_services(tmp_path):
    r = sw("demo", "--out", str(tmp_path / "demo"), "--metrics-port", "0", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "caught" in r.stdout and str(tmp_path / "demo" / "alerts.jsonl") in r.stdout
    assert (tmp_path / "demo" / "alerts.jsonl").stat().st_size > 0
