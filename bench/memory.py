#!/usr/bin/env python3
"""Memory per tracked key and process RSS under a flood of distinct keys.

    python bench/memory.py                                   # 10k / 100k / 1M, every detector
    python bench/memory.py --sizes 10000,100000 --detectors agent_surge
    python bench/memory.py --quick                           # tiny sizes (smoke test)

The flood: every event carries a new fake agent phone (role
``representative``), a new complainant and a new random Chinese text of
60-100 characters (so every long text founds its own template cluster), one
event per second of event time (1M events = 11.6 days, inside the default
30-day TTL: only the ``max_keys`` cap can bound the state). For the detectors
keyed on something else the event also carries a new key of theirs:
issuer_surge a medical certificate from a new hospital, category_shift a new
institution (the others see five). Events are built directly as
``streamer.events.Event`` (already pseudonymised keys), so the figures are the
detector's, not the parser's.

Each detector runs in a fresh child process (clean RSS) with its default
caps (agent_surge and complainant_fanout ``max_keys=200_000``, template_surge
and issuer_surge 50,000, category_shift 10,000; ``--max-keys`` sets all);
at checkpoints it records tracked keys, process RSS, elapsed time and the
bytes of the detector's live state (``deep_size``), and pickles the detector
(the checkpoint format) at 10k / 100k / the end. The state is measured
*before* pickling: a checkpoint can change state (complainant_fanout computes
its pending text fingerprints then), and a measurement must not do what
normal operation would not. A second child per size up to
``--tracemalloc-max`` runs under ``tracemalloc`` (4-5x slower), whose live
bytes also count the process's bounded caches (mask memo, batch cache): a
cross-check of ``deep_size``. A run is cut at ``--budget`` seconds and the rest
extrapolated (said so in the output); a cut run says how far it got.

bytes/key:
* live     = deep_size(detector) / tracked keys: every object reachable from the
             detector once (sys.getsizeof; numpy data included), classes and
             functions excluded -- what the state holds at that moment
* pickled  = len(pickle.dumps(detector)) / tracked keys  (checkpoint size)
* traced   = tracemalloc's live bytes after the flood - before / tracked keys
* rss      = (RSS after - RSS before the flood) / tracked keys (allocator overhead included)
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import random
import subprocess
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

# common hanzi for random texts (a realistic alphabet; random strings share no 4-shingles to speak of)
_HANZI = ("的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其进此话常与活正感"
          "银行还款逾期催收电话投诉协商分期利息减免本金贷款信用卡账单客服处理要求合理方案家庭困难生病住院失业收入工资")


DETECTORS = ("agent_surge", "template_surge", "issuer_surge", "complainant_fanout", "category_shift")


def make_event(i: int, rng: random.Random, t0: float, detector: str = ""):
    """Event ``i`` of the flood (every one a new key of ``detector``: see the module doc).
    Draws from ``rng`` the same way for every detector: the texts do not depend on it."""
    from streamer.events import Attachment, Contact, Event

    n = rng.randint(60, 100)
    text = "".join(rng.choices(_HANZI, k=n))
    attachments = ()
    if detector == "issuer_surge":
        attachments = (Attachment(kind="medical_certificate", issuer=f"第{i}人民医院", seal_text=f"第{i}人民医院",
                                  sha256=f"{i * 2654435761:064x}"),)
    return Event(
        event_id=f"m-{i:08d}", ts=t0 + i, ts_text="",
        institution=f"inst-{i:08d}" if detector == "category_shift" else f"bank-{i % 5}", channel="letter",
        category="collection", complainant=f"cust:{i:016x}",
        contacts=(Contact(kind="phone", key=f"phone:{(i * 2654435761) & 0xFFFFFFFFFFFF:016x}", role="representative"),),
        text=text, attachments=attachments, age=30 if attachments else None,
    )


def new_detector(name: str, max_keys: int | None):
    import detectors as D

    cls = {"agent_surge": D.AgentSurge, "template_surge": D.TemplateSurge, "issuer_surge": D.IssuerSurge,
           "complainant_fanout": D.ComplainantFanout, "category_shift": D.CategoryShift}[name]
    return cls() if max_keys is None else cls(max_keys=max_keys)


_NOT_STATE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def deep_size(root: object) -> int:
    """Bytes of every object reachable from ``root``, each counted once.

    ``sys.getsizeof`` per object (a numpy array's includes the data it owns; a
    view's base is followed), walking ``gc.get_referents``; classes, modules and
    functions are code, not state, and are not followed. Read-only: walking the
    state changes nothing in it (unlike pickling, see the module doc). Objects
    the state shares with the rest of the process (interned strings, small ints)
    count in full, so it errs high.
    """
    import numpy as np

    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, _NOT_STATE):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, np.ndarray):  # not a gc container: its data is in getsizeof, or in its base
            if o.base is not None:
                stack.append(o.base)
            continue
        stack.extend(gc.get_referents(o))
    return total


def tracked(det) -> int:
    s = det.stats()
    return int(s.get("tracked_keys", 0))


def child(args) -> dict:
    import tracemalloc

    rng = random.Random(12345)
    t0 = 1_709_500_000.0
    name = args.detector
    make_event(0, random.Random(2), t0, name)  # imports
    new_detector(name, args.max_keys).update(make_event(0, random.Random(1), t0 - 10, name))  # imports, warm caches
    if args.tracemalloc:
        tracemalloc.start()
    base_traced = tracemalloc.get_traced_memory()[0] if args.tracemalloc else 0
    rss0 = C.rss_bytes()
    det = new_detector(name, args.max_keys)
    cps = sorted({c for c in (10_000, 100_000, 200_000, 400_000, 600_000, 800_000, 1_000_000) if c <= args.n} | {args.n})
    pickle_at = {10_000, 100_000, args.n}
    points = []
    start = time.perf_counter()
    i = 0
    cut = False
    for cp in cps:
        while i < cp:
            det.update(make_event(i, rng, t0, name))
            i += 1
            if (i & 1023) == 0 and time.perf_counter() - start > args.budget:
                cut = True
                break
        pt = {"events": i, "tracked": tracked(det), "rss": C.rss_bytes(), "elapsed_s": round(time.perf_counter() - start, 2)}
        if args.tracemalloc:
            pt["traced"] = tracemalloc.get_traced_memory()[0] - base_traced
        else:  # before pickling (see the module doc); not charged to the budget
            t = time.perf_counter()
            pt["live"] = deep_size(det)
            start += time.perf_counter() - t
        if (i in pickle_at or cut) and not args.tracemalloc:
            t = time.perf_counter()
            pt["pickled"] = len(pickle.dumps(det, protocol=pickle.HIGHEST_PROTOCOL))
            pt["pickle_s"] = round(time.perf_counter() - t, 2)
            start += time.perf_counter() - t  # do not charge pickling to the flood's budget
        points.append(pt)
        if cut:
            break
    return {"detector": args.detector, "n": args.n, "max_keys": getattr(det, "max_keys", None), "rss_before": rss0,
            "points": points, "cut": cut, "stats": det.stats(), "tracemalloc": bool(args.tracemalloc)}


def run_child(det: str, n: int, budget: float, tracemalloc: bool = False, max_keys: int | None = None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", det, "--n", str(n), "--budget", str(budget)]
    if tracemalloc:
        cmd.append("--tracemalloc")
    if max_keys is not None:
        cmd += ["--max-keys", str(max_keys)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def kb(x: float) -> str:
    return f"{x / 1024:,.2f} KB"


def mb(x: float) -> str:
    return f"{x / 2**20:,.0f} MB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detectors", default=",".join(DETECTORS), type=lambda s: s.split(","))
    ap.add_argument("--sizes", default="10000,100000,1000000", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--budget", type=float, default=180.0, help="seconds per flood before cutting and extrapolating")
    ap.add_argument("--tracemalloc-max", type=int, default=10_000,
                    help="largest size also run under tracemalloc (a cross-check of live; 4-5x slower)")
    ap.add_argument("--max-keys", type=int, default=None, help="cap of every detector (default: its own)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--json", default=None)
    # child mode
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        args.detector = args.child
        print(json.dumps(child(args)))
        return 0
    if args.quick:
        args.sizes, args.budget, args.tracemalloc_max = [1_000], 20.0, 1_000

    m = C.header("surgewatch memory per tracked key and RSS under a key flood")
    results = {"machine": m, "command": " ".join(["python", *sys.argv]), "detectors": {}}
    biggest = max(args.sizes)
    for det in args.detectors:
        caps = "default caps" if args.max_keys is None else f"max_keys={args.max_keys:,}"
        print(f"\n[{det}] flood of {biggest:,} distinct keys ({caps}), checkpoints:")
        r = run_child(det, biggest, args.budget, max_keys=args.max_keys)
        print(f"   max_keys={r['max_keys']:,}; RSS before the flood {mb(r['rss_before'])}")
        print(f"   {'events':>10} {'tracked':>9} {'RSS':>8} {'elapsed':>8} {'live':>8} {'live/key':>10} {'pickled':>8} "
              f"{'pickled/key':>12} {'RSS delta/key':>14}")
        for pt in r["points"]:
            n_keys = max(1, pt["tracked"])
            pk = pt.get("pickled")
            per_pk = kb(pk / n_keys) if pk else ""
            per_rss = kb((pt["rss"] - r["rss_before"]) / n_keys)
            print(f"   {pt['events']:>10,} {pt['tracked']:>9,} {mb(pt['rss']):>8} {pt['elapsed_s']:>7.1f}s "
                  f"{mb(pt['live']):>8} {kb(pt['live'] / n_keys):>10} {(mb(pk) if pk else ''):>8} {per_pk:>12} {per_rss:>14}")
        last = r["points"][-1]
        per_key = last["live"] / max(1, last["tracked"])
        print(f"   live state at {last['events']:,} events: {kb(per_key)}/key "
              f"(target <= 1 KB: {'MET' if per_key <= 1024 else 'NOT met'})")
        if r["cut"]:
            rate = last["events"] / max(1e-9, last["elapsed_s"])
            print(f"   CUT at {last['events']:,} events after {last['elapsed_s']:.0f} s (budget {args.budget:.0f} s); "
                  f"{rate:,.0f} events/s -> {biggest:,} would take ~{biggest / rate:,.0f} s. "
                  f"Past the cap ({r['max_keys']:,}) tracked keys stay at the cap, so RSS is extrapolated flat.")
        tm = {}
        for n in args.sizes:
            if n <= args.tracemalloc_max:
                t = run_child(det, n, args.budget, tracemalloc=True, max_keys=args.max_keys)
                pt = t["points"][-1]
                tm[n] = {"events": pt["events"], "tracked": pt["tracked"], "traced": pt["traced"],
                         "per_key": pt["traced"] / max(1, pt["tracked"]), "cut": t["cut"]}
                print(f"   tracemalloc @ {pt['events']:,} events{' (CUT: short of ' + format(n, ',') + ')' if t['cut'] else ''}: "
                      f"{pt['tracked']:,} keys, traced {mb(pt['traced'])} -> {kb(tm[n]['per_key'])}/key "
                      f"(process caches included)")
        results["detectors"][det] = {"flood": r, "tracemalloc": tm}
    return C.finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
