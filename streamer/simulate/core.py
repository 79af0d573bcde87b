"""Orchestration: run the generators of a profile, number ids, emit contract documents.

Order of work: organic flow, then campaigns, then decoys, each on its own
random stream; then one global sort by event time and a per-institution id
sequence (so ids rise with time at each institution, as in a real intake
system), and finally ``repeat_of`` references and truth event lists are
resolved to ids. Output depends only on ``(profile, seed)``.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from streamer.simulate.campaigns import CAMPAIGN_GENERATORS
from streamer.simulate.clock import CST, iso
from streamer.simulate.decoys import DECOY_GENERATORS
from streamer.simulate.draft import Context, Draft
from streamer.simulate.hard import HARD_CAMPAIGNS, HARD_DECOYS
from streamer.simulate.holdout import HOLDOUT_CAMPAIGNS
from streamer.simulate.holdout_decoys import HOLDOUT_DECOYS
from streamer.simulate.organic import generate_organic
from streamer.simulate.profiles import PROFILES, GeneratorSpec, Profile

__all__ = ["simulate", "write_scenario", "ALL_CAMPAIGNS", "ALL_DECOYS"]

#: Every generator a profile may name (base + ``hard`` extras + held-out ``holdout`` ones).
ALL_CAMPAIGNS = {**CAMPAIGN_GENERATORS, **HARD_CAMPAIGNS, **HOLDOUT_CAMPAIGNS}
ALL_DECOYS = {**DECOY_GENERATORS, **HARD_DECOYS, **HOLDOUT_DECOYS}


def _to_doc(d: Draft, ts: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": "complaint.v1", "event_id": d.event_id, "ts": ts, "institution": d.institution,
        "channel": d.channel, "category": d.category, "complainant": d.complainant,
    }
    if d.contacts:
        doc["contacts"] = d.contacts
    if d.text:
        doc["text"] = d.text
    if d.demands:
        doc["demands"] = d.demands
    if d.amount is not None:
        doc["amount"] = d.amount
    if d.attachments:
        doc["attachments"] = d.attachments
    if d.repeat_of is not None:
        doc["repeat_of"] = d.repeat_of.event_id
    return doc


def _run(ctx: Context, spec: GeneratorSpec, registry: dict) -> dict:
    try:
        gen = registry[spec.kind]
    except KeyError:
        raise ValueError(f"unknown generator kind {spec.kind!r} (known: {sorted(registry)})") from None
    return gen(ctx, spec.id, **spec.params)


def simulate(profile: str | Profile = "default", seed: int = 7) -> tuple[list[dict], dict]:
    """Generate a labelled scenario: ``(events sorted by ts, truth)``. Deterministic in (profile, seed)."""
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    ctx = Context(prof, seed)
    generate_organic(ctx)
    campaigns = [_run(ctx, s, ALL_CAMPAIGNS) for s in prof.campaigns]
    decoys = [_run(ctx, s, ALL_DECOYS) for s in prof.decoys]
    for kind, drafts in ctx.organic_groups.items():
        if drafts:
            decoys.append({"id": f"organic-{kind}", "type": kind, "event_ids": drafts,
                           "notes": "genuine organic representation (relative / lawyer acting for 1-2 customers)",
                           "institutions": sorted({d.institution for d in drafts})})

    # number ids in time order per institution
    order = sorted(ctx.drafts, key=lambda d: (d.t, d.institution, d.seq))
    id_rng = ctx.rng("ids")
    counters = {name: id_rng.randrange(20_000, 2_000_000) for name in ctx.institutions}
    for d in order:
        counters[d.institution] += 1 if id_rng.random() < 0.8 else 2
        d.event_id = f"{d.institution}-{counters[d.institution]:07d}"
    events = []
    for d in order:
        if d.repeat_of is not None and d.repeat_of.t >= d.t:
            raise AssertionError("repeat_of must point to an earlier complaint")
        events.append(_to_doc(d, iso(ctx.start, d.t)))

    pos = {d.seq: i for i, d in enumerate(order)}
    for entry in (*campaigns, *decoys):
        entry["event_ids"] = [d.event_id for d in sorted(entry["event_ids"], key=lambda d: pos[d.seq])]
    labelled = sum(len(e["event_ids"]) for e in campaigns)
    decoy_ids = {i for e in decoys for i in e["event_ids"]}
    truth = {
        "profile": prof.name, "seed": seed,
        "start": ctx.start.astimezone(CST).isoformat(timespec="seconds"),
        "end": (ctx.start + timedelta(days=prof.days)).astimezone(CST).isoformat(timespec="seconds"),
        "n_events": len(events),
        "counts": {"campaign": labelled, "decoy": len(decoy_ids), "organic": len(events) - labelled},
        "institutions": [i.name for i in prof.institutions],
        "campaigns": campaigns,
        "decoys": decoys,
    }
    return events, truth


def write_scenario(out_dir: str | os.PathLike[str], events: list[dict], truth: dict) -> Path:
    """Write ``events.jsonl`` (one UTF-8 JSON document per line) and ``truth.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (out / "truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
    return out
