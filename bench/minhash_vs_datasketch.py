#!/usr/bin/env python3
"""template_surge's signature path (detectors.textsig) vs datasketch's MinHash, docs/s.

    python bench/minhash_vs_datasketch.py                 # 400- and 1000-character letters, 5 runs
    python bench/minhash_vs_datasketch.py --docs 500 --runs 3

Same texts for both (distinct simulator-built Chinese letters, bench/_common.py),
64 permutations each. Rows:

* ``textsig full``          mask + shingle_hashes(k=4) + MinHasher.signature + band_keys
                            (everything template_surge does per long text before the index lookup)
* ``textsig mask``          ``textsig.mask`` alone (shared by any signature scheme)
* ``textsig shingle+minhash`` shingle_hashes + signature on the already-masked text
                            (one-permutation hashing with densification, the default scheme)
* ``textsig ... (perm scheme)`` the same with 64 multiply-shift permutations (the scheme
                            of the paraphrase tier and of hashers from old checkpoints)
* ``datasketch shingle+minhash`` the same 4-character shingles of the masked text, utf-8
                            encoded, into ``MinHash(num_perm=64)`` with ``update_batch``
                            (a fresh MinHash per document, the documented usage)
* ``datasketch, shared permutations`` as above but every MinHash reuses one
                            permutation array (``permutations=``), skipping their per-object setup
* ``datasketch update_batch only`` just ``update_batch`` on prebuilt shingle bytes

The ratio column is textsig shingle+minhash over each datasketch row, measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

from detectors.textsig import MinHasher, mask, shingle_hashes  # noqa: E402


def rate(fn, items, runs: int) -> tuple[float, list[float]]:
    rs = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(items)
        rs.append(len(items) / (time.perf_counter() - t0))
    return C.median(rs), rs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=2000, help="texts per size")
    ap.add_argument("--sizes", default="400,1000", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    try:
        from datasketch import MinHash
        import datasketch
    except ImportError:
        print("datasketch is not installed: pip install datasketch", file=sys.stderr)
        return 2

    m = C.header("textsig MinHash vs datasketch MinHash (64 permutations, 4-character shingles)")
    print(f"datasketch {getattr(datasketch, '__version__', '?')}; {args.docs} docs per size; median of {args.runs} runs")
    hasher = MinHasher(num_perm=64, bands=16)
    perm_hasher = MinHasher(num_perm=64, bands=16, scheme="perm")
    m0 = MinHash(num_perm=64)
    perm, scheme = m0.permutations, getattr(m0, "scheme", None)
    pkw = {"permutations": perm} if scheme is None else {"permutations": perm, "scheme": scheme}
    results = {"machine": m, "command": " ".join(["python", *sys.argv]), "sizes": {}}
    for size in args.sizes:
        texts = C.letter_texts(args.docs, chars=size)
        masked = [mask(t) for t in texts]
        shingles = [[s[i:i + 4].encode("utf-8") for i in range(max(1, len(s) - 3))] for s in masked]

        def sw_full(items):
            for t in items:
                sig = hasher.signature(shingle_hashes(mask(t), 4))
                hasher.band_keys(sig)

        def sw_mask(items):
            for t in items:
                mask(t)

        def sw_sig(items):
            for s in items:
                hasher.signature(shingle_hashes(s, 4))

        def sw_sig_perm(items):
            for s in items:
                perm_hasher.signature(shingle_hashes(s, 4))

        def ds_sig(items):
            for s in items:
                mh = MinHash(num_perm=64)
                mh.update_batch([s[i:i + 4].encode("utf-8") for i in range(max(1, len(s) - 3))])

        def ds_sig_perm(items):
            for s in items:
                mh = MinHash(num_perm=64, **pkw)
                mh.update_batch([s[i:i + 4].encode("utf-8") for i in range(max(1, len(s) - 3))])

        def ds_update_only(items):
            for sh in items:
                MinHash(num_perm=64, **pkw).update_batch(sh)

        sw_full(texts[:50]); ds_sig(masked[:50])  # warm-up
        rows = [
            ("textsig full (mask+shingle+minhash+bands)", *rate(sw_full, texts, args.runs)),
            ("textsig mask", *rate(sw_mask, texts, args.runs)),
            ("textsig shingle+minhash", *rate(sw_sig, masked, args.runs)),
            ("textsig shingle+minhash (perm scheme)", *rate(sw_sig_perm, masked, args.runs)),
            ("datasketch shingle+minhash (fresh MinHash)", *rate(ds_sig, masked, args.runs)),
            ("datasketch shingle+minhash (shared perms)", *rate(ds_sig_perm, masked, args.runs)),
            ("datasketch update_batch only (prebuilt)", *rate(ds_update_only, shingles, args.runs)),
        ]
        ref = rows[2][1]
        avg_chars = sum(map(len, texts)) / len(texts)
        avg_masked = sum(map(len, masked)) / len(masked)
        print(f"\n[{size}-character letters] {len(texts)} docs, avg {avg_chars:.0f} chars "
              f"({sum(len(t.encode()) for t in texts) / len(texts):,.0f} B UTF-8), masked {avg_masked:.0f} chars, "
              f"{sum(map(len, shingles)) / len(shingles):.0f} shingles/doc")
        print(f"   {'path':<46} {'docs/s':>10} {'us/doc':>8} {'textsig sig / this':>19}")
        for name, med, _rs in rows:
            ratio = f"{ref / med:,.2f}x" if name.startswith("datasketch") else ""
            print(f"   {name:<46} {med:>10,.0f} {1e6 / med:>8.1f} {ratio:>19}")
        results["sizes"][size] = {name: {"docs_per_s": round(med), "runs": [round(r) for r in rs]} for name, med, rs in rows}
    return C.finish(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
