"""Corroboration: Fisher's rule, the grouping gates, and the pipeline/episode wiring."""
from __future__ import annotations

import math

import orjson
import pytest

from detectors.base import Finding
from detectors.surprise import Surprise
from streamer.corroborate import THRESHOLD, Corroborator, fisher_score
from streamer.pipeline import Pipeline
from streamer.testing import TEST_PSEUDO, MemorySink, make_event, raw_event

PEOPLE = frozenset({"cust:a", "cust:b", "cust:c"})
IDS = ["e1", "e2", "e3"]


def sur(det: str, key: str, score: float, members=PEOPLE, ids=IDS, trigger: str = "e3") -> Surprise:
    return Surprise(det, key, score, 0.0, trigger, list(ids), frozenset(members), "One thing", {
        "distinct_complainants": len(members), "baseline_per_30d": 0.1})


EV = make_event(event_id="e3", ts=1.0)


def at(hours: float) -> float:
    """Epoch seconds of ``raw_event(ts=hours)`` (findings carry event time)."""
    return make_event(ts=hours).ts


@pytest.mark.parametrize("p1,p2", [(1e-3, 1e-3), (0.5, 1e-4), (1e-9, 0.2)])
def test_fisher_two_scores_match_the_closed_form(p1, p2):
    q = p1 * p2
    expected = -math.log10(q * (1 - math.log(q)))
    assert fisher_score([-math.log10(p1), -math.log10(p2)]) == pytest.approx(expected, rel=1e-9)


def test_fisher_one_score_is_itself_and_large_scores_do_not_underflow():
    assert fisher_score([4.2]) == pytest.approx(4.2)
    big = fisher_score([300.0, 300.0, 300.0])
    assert math.isfinite(big) and 880 < big < 900
    # combining is weaker than adding: independent evidence, not a product of p-values
    assert fisher_score([3.0, 3.0]) < 6.0


def test_two_independent_detectors_on_the_same_three_complainants_fire():
    c = Corroborator()
    out = c.combine(EV, [sur("agent_surge", "representative:1", 3.3), sur("template_surge", "template:1", 3.4)])
    assert len(out) == 1
    f = out[0]
    assert f.detector == "corroboration" and f.score >= THRESHOLD
    assert f.score == pytest.approx(fisher_score([3.3, 3.4]), abs=1e-3)
    assert f.key == "corroborated:representative:1+template:1"
    assert f.event_ids == IDS and f.trigger_id == "e3"
    assert f.evidence["shared_complainants"] == 3
    assert {x["detector"] for x in f.evidence["components"]} == {"agent_surge", "template_surge"}
    assert "3 complainants" in f.summary and "p=" in f.summary


def test_keys_of_one_detector_never_corroborate_each_other():
    # an agency's phone and its address are one piece of evidence, not two
    c = Corroborator()
    assert c.combine(EV, [sur("agent_surge", "phone:1", 4.9), sur("agent_surge", "address:1", 4.9)]) == []


def test_two_shared_complainants_are_not_enough():
    c = Corroborator()
    two = frozenset({"cust:a", "cust:b"})
    other = frozenset({"cust:a", "cust:b", "cust:z"})
    assert c.combine(EV, [sur("agent_surge", "phone:1", 4.9, members=PEOPLE),
                          sur("template_surge", "template:1", 4.9, members=other)]) == []
    assert c.combine(EV, [sur("agent_surge", "phone:1", 4.9, members=two),
                          sur("template_surge", "template:1", 4.9, members=two)]) == []


def test_weak_agreement_stays_quiet():
    c = Corroborator()
    assert c.combine(EV, [sur("agent_surge", "phone:1", 2.0), sur("template_surge", "template:1", 2.5)]) == []
    assert c.stats()["judged_total"] == 1 and c.stats()["findings_total"] == 0


def test_a_detectors_extra_keys_cost_nothing_but_more_detectors_cost_a_bonferroni_correction():
    pair = [sur("agent_surge", "representative:1", 3.3), sur("template_surge", "template:1", 3.4)]
    one = Corroborator().combine(EV, pair)[0]
    # a weaker second agent key (the agency's address, about the same people) is not a
    # second test: the detector's strongest key is its judgement, as when it alerts alone
    two = Corroborator(threshold=0.0).combine(EV, pair + [sur("agent_surge", "address:1", 1.5)])[0]
    assert two.evidence["combinations_tried"] == 2 and two.evidence["detector_combinations"] == 1
    assert two.score == pytest.approx(one.score, abs=1e-3)
    assert two.key == one.key  # the best group is still reported
    # a third detector offers four detector combinations (three pairs and the triple)
    three = Corroborator(threshold=0.0).combine(EV, pair + [sur("issuer_surge", "issuer:1:medical", 1.2)])[0]
    assert three.evidence["detector_combinations"] == 4
    best = max(fisher_score([3.3, 3.4]), fisher_score([3.3, 3.4, 1.2]))
    assert three.score == pytest.approx(best - math.log10(4), abs=1e-3)


def test_three_detectors_combine_when_they_share_the_people():
    c = Corroborator()
    out = c.combine(EV, [sur("agent_surge", "phone:1", 2.8), sur("template_surge", "template:1", 2.8),
                         sur("issuer_surge", "issuer:1:medical", 2.8)])
    assert len(out) == 1 and len(out[0].evidence["components"]) == 3


class Scripted:
    """A detector that replays a script: event id -> (findings, surprises)."""

    def __init__(self, name: str, script: dict) -> None:
        self.name, self.script, self._last = name, script, []

    def update(self, event):
        findings, self._last = self.script.get(event.event_id, ([], []))
        return list(findings)

    def surprises(self):
        return list(self._last)

    def stats(self):
        return {"tracked_keys": 0}


def test_pipeline_emits_the_combined_alert_and_links_the_later_detector_alert_to_it():
    later = Finding("agent_surge", "phone:1", 7.0, at(4.0), "e4", ["e1", "e2", "e3", "e4"], "phone alert")
    agent = Scripted("agent_surge", {"e3": ([], [sur("agent_surge", "phone:1", 3.3)]), "e4": ([later], [])})
    tmpl = Scripted("template_surge", {"e3": ([], [sur("template_surge", "template:1", 3.4)])})
    alerts = MemorySink()
    p = Pipeline([agent, tmpl], TEST_PSEUDO, alert_sinks=[alerts])
    for i in range(1, 5):
        p.process(orjson.dumps(raw_event(event_id=f"e{i}", ts=float(i))))
    first, second = alerts.records
    assert first["detector"] == "corroboration" and first["status"] == "firing"
    assert first["event_ids"] == IDS and first["starts_at"] == raw_event(ts=3.0)["ts"]
    assert second["detector"] == "agent_surge"
    # one campaign story: the later alert names the early warning as its campaign
    assert second["evidence"]["campaign"] == first["alert_id"]
    assert first["alert_id"] in second["evidence"]["linked_alerts"]
    assert p.stats.findings["corroboration"] == 1


def test_pipeline_does_not_corroborate_an_event_a_detector_already_alerted_on():
    fired = Finding("issuer_surge", "issuer:1:medical", 8.0, at(3.0), "e3", IDS, "issuer alert")
    agent = Scripted("agent_surge", {"e3": ([], [sur("agent_surge", "phone:1", 4.0)])})
    tmpl = Scripted("template_surge", {"e3": ([], [sur("template_surge", "template:1", 4.0)])})
    issuer = Scripted("issuer_surge", {"e3": ([fired], [])})
    alerts = MemorySink()
    p = Pipeline([agent, tmpl, issuer], TEST_PSEUDO, alert_sinks=[alerts])
    for i in range(1, 4):
        p.process(orjson.dumps(raw_event(event_id=f"e{i}", ts=float(i))))
    assert [r["detector"] for r in alerts.records] == ["issuer_surge"]


def test_a_failing_corroborator_is_isolated_and_counted():
    class Broken(Corroborator):
        def combine(self, event, surprises):
            raise RuntimeError("boom")

    agent = Scripted("agent_surge", {"e1": ([], [sur("agent_surge", "phone:1", 3.3, trigger="e1")])})
    tmpl = Scripted("template_surge", {"e1": ([], [sur("template_surge", "template:1", 3.4, trigger="e1")])})
    p = Pipeline([agent, tmpl], TEST_PSEUDO, corroborator=Broken())
    assert p.process(orjson.dumps(raw_event(event_id="e1"))) is not None
    assert p.stats.detector_errors == {"corroboration": 1}
