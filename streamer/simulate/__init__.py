"""Labelled complaint-stream simulator for surgewatch.

Produces contract-v1 complaint events (``shared/contract``) with ground truth:
a genuine organic majority across several institutions, labelled organised
campaigns (agency letters, covert paraphrased templates) and decoys that look
suspicious but are legitimate (app outage, boilerplate hotline summaries,
couples sharing an address, family / lawyer representatives).

    from streamer.simulate import simulate, write_scenario, PROFILES
    events, truth = simulate(profile="default", seed=7)
    write_scenario("out/default-7", events, truth)

Deterministic: the same ``(profile, seed)`` gives byte-identical output.
"""
from __future__ import annotations

from streamer.simulate.campaigns import CAMPAIGN_GENERATORS
from streamer.simulate.core import simulate, write_scenario
from streamer.simulate.decoys import DECOY_GENERATORS
from streamer.simulate.profiles import PROFILES, GeneratorSpec, InstitutionSpec, Profile

__all__ = ["simulate", "write_scenario", "PROFILES", "Profile", "GeneratorSpec", "InstitutionSpec",
           "CAMPAIGN_GENERATORS", "DECOY_GENERATORS"]
