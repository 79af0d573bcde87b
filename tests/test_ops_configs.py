"""The operations configs under deploy/ are valid, tested, and only use real metrics.

* promtool / amtool validate the Prometheus and Alertmanager configs and run
  the rule unit tests (skipped with a reason when the binaries are missing;
  tests/system-packages.sh installs them);
* every alerting rule has a firing and a not-firing promtool test case;
* every metric name a rule or dashboard queries is one surgewatch really
  exports -- derived by scraping the real collectors over a small real
  pipeline, so renaming a metric in code breaks this test, not production.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from detectors.base import Finding
from detectors.category_shift import CategoryShift
from streamer.alertmanager import AlertmanagerCollector, AlertmanagerSink
from streamer.episodes import EpisodeManager
from streamer.metrics import PipelineCollector
from streamer.pipeline import Pipeline
from streamer.testing import TEST_PSEUDO, MemorySink, raw_event

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "deploy/prometheus"
AM_CFG = ROOT / "deploy/alertmanager/alertmanager.yml"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "deploy/grafana").rglob("*.json"))
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
# Series Prometheus itself produces for every target / rule.
PROMETHEUS_BUILTIN = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (run tests/system-packages.sh)")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (run tests/system-packages.sh)")


def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


# -- promtool / amtool ------------------------------------------------------------
@needs_promtool
def test_promtool_accepts_the_prometheus_config():
    r = run(PROMTOOL, "check", "config", str(PROM / "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr


@needs_promtool
def test_promtool_accepts_the_rule_files():
    assert RULE_FILES
    r = run(PROMTOOL, "check", "rules", *map(str, RULE_FILES))
    assert r.returncode == 0, r.stdout + r.stderr


@needs_promtool
def test_promtool_rule_unit_tests_pass():
    assert RULE_TESTS
    r = run(PROMTOOL, "test", "rules", *map(str, RULE_TESTS))
    assert r.returncode == 0, r.stdout + r.stderr


@needs_amtool
def test_amtool_accepts_the_alertmanager_config():
    r = run(AMTOOL, "check-config", str(AM_CFG))
    assert r.returncode == 0, r.stdout + r.stderr


@needs_amtool
@pytest.mark.parametrize("labels, receiver", [
    (["service=surgewatch", "severity=critical", "detector=agent_surge"], "surgewatch-critical"),
    (["service=surgewatch", "severity=warning", "detector=agent_surge"], "surgewatch-agents"),
    (["service=surgewatch", "severity=warning", "detector=template_surge"], "surgewatch-templates"),
    # several detectors agreeing on the same complainants: the campaign (agents) team
    (["service=surgewatch", "severity=warning", "detector=corroboration"], "surgewatch-agents"),
    (["service=surgewatch", "severity=info", "detector=agent_surge"], "surgewatch-webhook"),
    (["severity=warning", "alertname=Other"], "surgewatch-webhook"),
])
def test_alertmanager_routes_by_severity_then_detector(labels, receiver):
    r = run(AMTOOL, "config", "routes", "test", f"--config.file={AM_CFG}", *labels)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == receiver


def test_alertmanager_groups_by_key_and_inhibits_warnings_for_the_same_key_only():
    cfg = yaml.safe_load(AM_CFG.read_text())
    assert cfg["route"]["group_by"] == ["alertname", "detector", "key"]
    rule = next(r for r in cfg["inhibit_rules"] if r.get("equal") == ["key"])
    assert 'severity="critical"' in rule["source_matchers"]
    # without a key=~".+" matcher a keyless critical would inhibit every keyless warning
    assert 'key=~".+"' in rule["source_matchers"] and 'key=~".+"' in rule["target_matchers"]


# -- every alert is unit-tested both ways -------------------------------------------
def _rules() -> list[dict]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def test_every_alert_rule_has_a_firing_and_a_quiet_test_case():
    alerts = {r["alert"] for r in _rules() if "alert" in r}
    firing: set[str] = set()
    quiet: set[str] = set()
    for f in RULE_TESTS:
        for case in yaml.safe_load(f.read_text()).get("tests", []):
            for t in case.get("alert_rule_test", []):
                (firing if t.get("exp_alerts") else quiet).add(t["alertname"])
    assert {"SurgewatchDown", "SurgewatchConsumerLagGrowing", "SurgewatchNoEvents", "SurgewatchDeadLetterRateHigh",
            "SurgewatchDetectorErrors", "SurgewatchCampaignActive"} <= alerts
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested not firing"


def test_every_alert_has_a_severity_and_a_runbook():
    for r in _rules():
        if "alert" in r:
            assert r["labels"]["severity"] in {"info", "warning", "critical"}, r["alert"]
            assert r["annotations"]["runbook_url"].startswith("https://"), r["alert"]


# -- metric names ---------------------------------------------------------------------
class _Source:
    """Stands in for KafkaSource: the collector only reads these two."""

    connected = True

    def partition_lag(self) -> dict[tuple[str, int], int]:
        return {("complaints", 0): 3}


class _Burst:
    name = "agent_surge"

    def __init__(self) -> None:
        self.n = 0

    def update(self, event):
        self.n += 1
        if self.n < 3:
            return []
        return [Finding(self.name, "phone:ab12", 13.0, event.ts, event.event_id, [event.event_id], "burst", "critical")]

    def stats(self):
        return {"tracked_keys": 1, "evicted_total": 0}


def exported_metric_names() -> set[str]:
    """Sample names a scrape of a live surgewatch returns (``_total``,
    ``_bucket``, ``_info`` included), from the real collectors."""
    am = AlertmanagerSink("http://127.0.0.1:9", repost_interval=5, max_retries=0, close_timeout=0.1)
    try:
        # the real mix detector too: it serves the per-institution category shares
        p = Pipeline([_Burst(), CategoryShift()], TEST_PSEUDO, alert_sinks=[MemorySink()], dead_letter_sinks=[MemorySink()],
                     episodes=EpisodeManager(quiet=3600.0))
        for i in range(4):
            p.process(orjson.dumps(raw_event(ts=i / 10)))
        p.process(b"not json")
        for i in range(25):  # a full 6-hour bucket at one institution, closed by the next event
            p.process(orjson.dumps(raw_event(ts=0.5 + i / 100, category=("collection", "service")[i % 2])))
        p.process(orjson.dumps(raw_event(ts=9.0)))  # resolves the episode
        reg = CollectorRegistry()
        reg.register(PipelineCollector(p, source=_Source(), mode="run"))
        reg.register(AlertmanagerCollector(am))
        text = generate_latest(reg).decode()
    finally:
        am.close()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_RANGE = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "histogram_quantile", "clamp_min",
    "clamp_max", "clamp", "abs", "absent", "absent_over_time", "changes", "resets", "time", "vector", "scalar",
    "label_replace", "label_join", "sort", "sort_desc", "round", "ceil", "floor", "sum_over_time", "avg_over_time",
    "max_over_time", "min_over_time", "count_over_time", "last_over_time", "timestamp", "le", "inf", "nan",
}


def metric_names_in(expr: str) -> set[str]:
    """Metric (and recording-rule) names in a PromQL expression: strips
    strings, ranges and label matchers/groupings, drops PromQL words."""
    expr = _RANGE.sub(" ", _STRING.sub('""', expr))
    expr = re.sub(r"\{[^}]*\}", " ", expr)                               # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\w+|\$\{[^}]*\}", " ", expr)                       # Grafana variables
    expr = re.sub(r"(?<![\w:.])\d+(\.\d+)?([eE][+-]?\d+)?(?![\w:])", " ", expr)  # numbers, 1e-9
    names = set()
    for tok in _TOKEN.findall(expr):
        if tok.lower() in _PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]?", tok):
            continue
        names.add(tok)
    return names


def test_metric_name_extraction_finds_metrics_not_functions_or_labels():
    got = metric_names_in('sum by (job, le) (rate(surgewatch_processing_seconds_bucket{result="ok"}[5m])) '
                          '/ on (job) clamp_min(job:surgewatch_events:rate5m, 1e-9) > 0.5')
    assert got == {"surgewatch_processing_seconds_bucket", "job:surgewatch_events:rate5m"}


def _dashboard_exprs(node) -> list[str]:
    if isinstance(node, dict):
        out = [node["expr"]] if isinstance(node.get("expr"), str) else []
        q = node.get("query")
        if isinstance(q, str) and (m := re.match(r"\s*label_values\(\s*([^,)]+)", q)):  # template variables
            out.append(m.group(1))
        for v in node.values():
            out += _dashboard_exprs(v)
        return out
    if isinstance(node, list):
        return [e for v in node for e in _dashboard_exprs(v)]
    return []


def test_rules_and_dashboards_only_query_metrics_surgewatch_exports():
    exported = exported_metric_names()
    # sanity: the scrape really covered the pipeline, Kafka and Alertmanager collectors
    assert {"surgewatch_events_total", "surgewatch_kafka_consumer_lag", "surgewatch_processing_seconds_bucket",
            "surgewatch_build_info", "surgewatch_alertmanager_posts_total"} <= exported
    rules = _rules()
    recorded = {r["record"] for r in rules if "record" in r}
    known = exported | recorded | PROMETHEUS_BUILTIN
    used: dict[str, set[str]] = {}
    for r in rules:
        used[r.get("record") or r["alert"]] = metric_names_in(str(r["expr"]))
    for path in DASHBOARDS:
        for i, e in enumerate(_dashboard_exprs(json.loads(path.read_text()))):
            used[f"{path.name}#{i}"] = metric_names_in(e)
    unknown = {where: sorted(names - known) for where, names in used.items() if names - known}
    assert unknown == {}, f"metric names not exported by surgewatch: {unknown}"
    assert all(used.values()), "an expression without any metric: the extractor is broken"
