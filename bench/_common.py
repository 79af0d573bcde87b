"""Shared helpers for the bench/ scripts: machine facts, medians, deterministic inputs.

Every benchmark prints a header with the machine (nproc, CPU model, Python),
the load average at start (other work on a 2-core box skews timings), and the
exact command line, so a figure pasted into BENCHMARKS.md can be reproduced.

Inputs are deterministic (simulator + seeded ``random.Random``):

* ``mixed_docs``    -- the simulator's ``default`` profile (mostly hotline/app
  records, ~3 % letters of 150-340 characters), repeated with shifted event
  time and prefixed ids when more events are needed;
* ``hotline_docs``  -- only the ``hotline`` records of the same stream;
* ``letter_docs``   -- distinct long Chinese letters of about ``chars``
  characters, each built by concatenating whole simulator letters (and, when
  short, sentences of others) picked at random, on top of the contacts and
  complainant shape of a real simulator letter event.
"""
from __future__ import annotations

import json
import os
import platform
import random
import shlex
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = ["machine", "header", "median", "timed_runs", "mixed_docs", "hotline_docs", "letter_docs",
           "rss_bytes", "fmt_rate", "REPO", "NullSink"]


# ---------------------------------------------------------------- the machine
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": tuple(round(x, 2) for x in load),
    }


def revision() -> str:
    """HEAD commit and the files that differ from it (other work in progress is measured too)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
        dirty = [ln[3:] for ln in dirty if ln.strip()]
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else " (clean)")


def header(title: str) -> dict:
    m = machine()
    m["revision"] = revision()
    print(f"== {title}")
    print(f"machine : nproc={m['nproc']}  cpu={m['cpu']}  python={m['python']}  ({m['platform']})")
    print(f"load    : {m['loadavg'][0]:.2f} {m['loadavg'][1]:.2f} {m['loadavg'][2]:.2f} (1/5/15 min, at start)")
    print(f"command : {shlex.join(['python', *sys.argv])}")
    print(f"date    : {datetime.now().isoformat(timespec='seconds')}")
    print(f"revision: {m['revision']}")
    return m


def median(xs) -> float:
    return statistics.median(xs)


def timed_runs(fn, runs: int) -> list[float]:
    """Wall seconds of ``runs`` calls of ``fn()`` (each call does its own setup outside the timing)."""
    out = []
    for _ in range(runs):
        out.append(fn())
    return out


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def rss_bytes() -> int:
    """Current resident set size of this process (VmRSS), in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class NullSink:
    """Accepts records and drops them (counts them)."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, record: dict) -> None:
        self.n += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- inputs
_SIM_CACHE: dict[tuple[str, int], list[dict]] = {}
#: the simulator profile the inputs come from ("small" makes smoke runs fast)
PROFILE = "default"


def _sim(profile: str | None = None, seed: int = 7) -> list[dict]:
    profile = profile or PROFILE
    key = (profile, seed)
    if key not in _SIM_CACHE:
        from streamer.simulate import simulate

        _SIM_CACHE[key] = simulate(profile, seed)[0]
    return _SIM_CACHE[key]


def _shift(doc: dict, days: float, prefix: str) -> dict:
    d = dict(doc)
    d["ts"] = (datetime.fromisoformat(doc["ts"]) + timedelta(days=days)).isoformat(timespec="seconds")
    d["event_id"] = prefix + doc["event_id"]
    if "repeat_of" in d and isinstance(d["repeat_of"], str):
        d["repeat_of"] = prefix + d["repeat_of"]
    return d


def _repeat(base: list[dict], n: int | None, span_days: float) -> list[dict]:
    """``base`` (event-time ordered), then shifted copies after it, cut to ``n``."""
    if n is None or n <= len(base):
        return list(base if n is None else base[:n])
    out = list(base)
    k = 1
    while len(out) < n:
        out.extend(_shift(d, span_days * k, f"r{k}-") for d in base[: n - len(out)])
        k += 1
    return out


def mixed_docs(n: int | None = None, profile: str | None = None, seed: int = 7) -> list[dict]:
    """The simulator's realistic mixed stream (19,100 events for ``default``/7)."""
    from streamer.simulate import PROFILES

    profile = profile or PROFILE
    return _repeat(_sim(profile, seed), n, PROFILES[profile].days)


def hotline_docs(n: int | None = None, profile: str | None = None, seed: int = 7) -> list[dict]:
    """Only the short hotline records of the mixed stream."""
    from streamer.simulate import PROFILES

    profile = profile or PROFILE
    base = [d for d in _sim(profile, seed) if d["channel"] == "hotline"]
    return _repeat(base, n, PROFILES[profile].days)


_SENT_END = "。！？!?\n"


def _sentences(text: str) -> list[str]:
    out, cur = [], []
    for ch in text:
        cur.append(ch)
        if ch in _SENT_END:
            s = "".join(cur).strip()
            if s:
                out.append(s)
            cur = []
    s = "".join(cur).strip()
    if s:
        out.append(s)
    return out


def letter_texts(n: int, chars: int = 1000, seed: int = 11, profile: str | None = None, sim_seed: int = 7) -> list[str]:
    """``n`` distinct realistic Chinese letters of exactly ``chars`` characters
    (the last sentence cut), built from the simulator's long letters."""
    sim = _sim(profile, sim_seed)
    pool = sorted({d["text"] for d in sim if len(d.get("text") or "") >= 150
                   and d["channel"] in ("letter", "email", "regulator", "app", "branch")})
    sents = sorted({s for t in pool for s in _sentences(t) if len(s) >= 8})
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        parts: list[str] = []
        total = 0
        while total < chars:
            # mostly whole letters; top up with single sentences near the target
            t = rng.choice(pool) if chars - total > 200 else rng.choice(sents)
            parts.append(t)
            total += len(t) + 1
        text = "\n".join(parts)
        text = text[:chars]
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def letter_docs(n: int, chars: int = 1000, seed: int = 11, spacing_s: float = 30.0) -> list[dict]:
    """Contract documents carrying ``n`` distinct ~``chars``-character letters,
    one every ``spacing_s`` seconds of event time (default 2,880 a day)."""
    sim = _sim()
    shells = [d for d in sim if len(d.get("text") or "") >= 150]
    texts = letter_texts(n, chars, seed)
    rng = random.Random(seed + 1)
    t0 = datetime.fromisoformat(sim[0]["ts"])
    out = []
    for i, text in enumerate(texts):
        d = dict(rng.choice(shells))
        d["event_id"] = f"L{chars}-{seed}-{i:07d}"
        d["ts"] = (t0 + timedelta(seconds=i * spacing_s)).isoformat(timespec="seconds")
        d["complainant"] = dict(d["complainant"], id=f"LC-{seed}-{i:07d}")
        d["channel"] = "letter"
        d["text"] = text
        # each writer gives an own phone (no shared contacts: this input measures the template path)
        d["contacts"] = [{"kind": "phone", "value": f"1{(3 + i % 7)}{i:09d}", "role": "self"}]
        d.pop("repeat_of", None)
        out.append(d)
    return out


def now() -> float:
    return time.perf_counter()


def finish(results: dict, json_path: str | None) -> int:
    """Every script's footer: the load at the end, then the figures as JSON if asked."""
    print(f"\nload at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)
    return 0
