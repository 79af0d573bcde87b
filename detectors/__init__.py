"""Streaming detectors behind one small protocol (see ``detectors.base``).

Public API::

    from detectors import default_detectors
    dets = default_detectors()          # fresh instances, default parameters
    for ev in events:
        for d in dets:
            findings = d.update(ev)

Each detector is its own module; add new ones to ``default_detectors`` and the
shared contract tests (``tests/test_detector_contract.py``) cover them.
"""
from __future__ import annotations

from detectors.agent_surge import AgentSurge
from detectors.base import SEVERITIES, Detector, Finding, severity_for
from detectors.category_shift import CategoryShift
from detectors.complainant_fanout import ComplainantFanout
from detectors.issuer_surge import IssuerSurge
from detectors.template_surge import TemplateSurge

__all__ = ["Finding", "Detector", "SEVERITIES", "severity_for", "AgentSurge", "TemplateSurge", "IssuerSurge",
           "ComplainantFanout", "CategoryShift",
           "default_detectors"]


def default_detectors(max_keys: int | None = None) -> list[Detector]:
    """Fresh instances of every detector with default parameters, in a fixed order.

    ``max_keys`` (optional) caps the tracked keys of *every* detector -- the
    memory bound an operator configures (``surgewatch --max-keys``); the
    coldest state is evicted first and evictions are counted.
    """
    classes = (AgentSurge, TemplateSurge, IssuerSurge, ComplainantFanout, CategoryShift)
    return [cls() if max_keys is None else cls(max_keys=max_keys) for cls in classes]
