#!/usr/bin/env python3
"""Score bench/nab.py output with the verified NAB scorer and print it beside the published table.

    python bench/nab.py --data /work/shared/benchmarks/nab/data --out /tmp/nab_out
    python bench/nab_report.py --results /tmp/nab_out

For each category (default: realTweets and realAWSCloudwatch) this runs
``nab_score.py RESULTS --labels LABELS --subset CATEGORY --json`` as a
subprocess (the scorer is used as is, never re-implemented here), which
optimises one threshold per profile on that subset. The published figures
are *read* from the "Published detectors scored like that" table of the NAB
README beside the scorer (subset scores are only comparable with subset
scores computed the same way); nothing is hard-coded.

``--run`` first runs bench/nab.py over ``--data`` into ``--results``.
``--baseline OTHER`` scores a second results folder (an earlier run) the same way and
prints the per-file raw-score deltas (each run at its own optimised threshold), so a
change's gains and losses can be traced to files.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

NAB_DIR = "/work/shared/benchmarks/nab"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
SHORT = {"standard": "std", "reward_low_FP_rate": "lowFP", "reward_low_FN_rate": "lowFN"}
HERE = os.path.dirname(os.path.abspath(__file__))


def published_subset_table(readme_path):
    """{detector: {category: (std, lowFP, lowFN)}} from the README's subset table."""
    with open(readme_path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    header_i = None
    after = None  # the subset table follows the sentence "Published detectors scored like that"
    for i, line in enumerate(lines):
        if after is None and "Published detectors scored like that" in line:
            after = i
        elif after is not None and line.startswith("|") and "std / lowFP / lowFN" in line:
            header_i = i
            break
    if header_i is None:
        raise ValueError(f"{readme_path}: no subset scoreboard table (header with 'std / lowFP / lowFN')")
    cells = [c.strip() for c in lines[header_i].strip().strip("|").split("|")]
    cats = [c.split()[0] for c in cells[1:]]
    table = {}
    for line in lines[header_i + 2:]:
        if not line.startswith("|"):
            break
        row = [c.strip() for c in line.strip().strip("|").split("|")]
        det = row[0]
        table[det] = {}
        for cat, cell in zip(cats, row[1:]):
            nums = re.findall(r"-?\d+(?:\.\d+)?", cell)
            if len(nums) == 3:
                table[det][cat] = tuple(float(x) for x in nums)
    return table


def score_category(results, category, scorer, labels, per_file=False):
    cmd = [sys.executable, scorer, results, "--labels", labels, "--subset", category, "--json"]
    if per_file:
        cmd.append("--per-file")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    summary = json.loads(out)
    return summary, cmd


def per_file_deltas(category, base, new):
    """Text table of the per-file raw scores that changed between two scorer summaries
    (``--json --per-file``), per profile, each run at its own optimised threshold."""
    lines = [f"per-file raw score, {category}: baseline -> this run (changed files only)"]
    for p in PROFILES:
        b, n = base["profiles"][p], new["profiles"][p]
        lines.append(f"  {SHORT[p]}: NAB {b['normalized']:.2f} -> {n['normalized']:.2f}, "
                     f"fp rows {b['fp']} -> {n['fp']}")
        for key in sorted(n["per_file"]):
            old, now = b["per_file"].get(key, 0.0), n["per_file"][key]
            if abs(now - old) > 1e-9:
                lines.append(f"    {key.split('/', 1)[-1]:48s} {old:8.3f} -> {now:8.3f} ({now - old:+.3f})")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, help="folder written by bench/nab.py --out")
    ap.add_argument("--nab", default=NAB_DIR, help="folder with nab_score.py, README.md, labels/, data/")
    ap.add_argument("--category", action="append", help="categories to score (repeatable); "
                    "default realTweets and realAWSCloudwatch")
    ap.add_argument("--run", action="store_true", help="run bench/nab.py over NAB/data into --results first")
    ap.add_argument("--json", action="store_true", help="print the measured figures as JSON too")
    ap.add_argument("--baseline", help="an earlier results folder: print per-file raw-score deltas against it")
    a = ap.parse_args(argv)
    cats = a.category or ["realTweets", "realAWSCloudwatch"]
    scorer = os.path.join(a.nab, "nab_score.py")
    labels = os.path.join(a.nab, "labels", "combined_windows.json")
    if a.run:
        sys.path.insert(0, HERE)
        import nab  # noqa: E402  (bench/nab.py)

        nab.run(os.path.join(a.nab, "data"), a.results, cats)
    published = published_subset_table(os.path.join(a.nab, "README.md"))

    measured = {}
    deltas = []
    for cat in cats:
        summary, cmd = score_category(a.results, cat, scorer, labels, per_file=bool(a.baseline))
        if a.baseline:
            base, _ = score_category(a.baseline, cat, scorer, labels, per_file=True)
            deltas.append((cat, base, summary))
        print("$ " + " ".join(cmd))
        prof = summary["profiles"]
        measured[cat] = {p: prof[p]["normalized"] for p in PROFILES}
        print(f"  {cat}: files={summary['files']} windows={summary['windows']}")
        for p in PROFILES:
            r = prof[p]
            print(f"    {p:20s} threshold={r['threshold']!s:>22s} raw={r['raw']:9.4f} "
                  f"NAB={r['normalized']:6.2f}  (tp rows={r['tp']} fp rows={r['fp']})")
    print()
    head = f"{'detector':28s}" + "".join(f" | {c + ' std/lowFP/lowFN':>38s}" for c in cats)
    print(head)
    print("-" * len(head))
    print(f"{'surgewatch rate model':28s}" + "".join(
        " | " + f"{' / '.join(f'{measured[c][p]:.2f}' for p in PROFILES):>38s}" for c in cats))
    for det, row in published.items():
        cells = []
        for c in cats:
            v = row.get(c)
            cells.append(" | " + f"{' / '.join(f'{x:.2f}' for x in v) if v else 'n/a':>38s}")
        print(f"{det + ' (published)':28s}" + "".join(cells))
    print("\n(published: NAB README subset table, threshold optimised on the subset like ours)")
    for cat, base, summary in deltas:
        print()
        print(per_file_deltas(cat, base, summary))
    if a.json:
        print(json.dumps({"measured": measured, "published": published}, indent=1))


if __name__ == "__main__":
    main()
