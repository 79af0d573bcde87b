"""Text signatures for near-duplicate complaint letters.

The hot path of the template detector, so everything after the regexes is
numpy over small integer arrays.

Pipeline::

    text --mask--> normalised text --shingle--> uint64 shingle hashes
         --minhash--> uint32 signature (num_perm) --bands--> LSH keys

* ``mask`` replaces the variable parts of a letter (numbers, amounts, dates,
  phone / id numbers, e-mails, Chinese names after 本人 / 我叫 / 姓名 and
  ``张某``-style names) by one placeholder character each, then NFKC-folds,
  lower-cases and drops punctuation and white space. Two copies of a template
  that differ only in name, amount and dates mask to (nearly) the same string.
* ``shingle_hashes`` hashes every ``k``-character window (k=4 by default: long
  enough that shared common words do not make unrelated Chinese texts
  similar, short enough that a changed character only breaks ``k`` shingles).
* ``minhash`` uses multiply-shift universal hashing with fixed-seed odd 64-bit
  multipliers: ``h_i(x) = (a_i * x + b_i) mod 2**64 >> 32``; the signature is
  the per-permutation minimum. ``jaccard`` estimates Jaccard similarity as the
  fraction of equal signature slots.
* ``band_keys`` cuts the signature into ``bands`` bands of ``rows`` slots and
  hashes each (with its band index) to a Python int, for an LSH table.
  With 64 permutations as 16 bands x 4 rows the S-curve midpoint is
  (1/16)**(1/4) = 0.5: pairs at Jaccard 0.7 are candidates with p=0.99, at
  0.3 with p=0.12.

Everything is deterministic across processes (no ``hash()``).
"""
from __future__ import annotations

import numpy as np

# the mask moved to detectors.textmask; its names stay importable from here
from detectors.textmask import PH_DATE, PH_EMAIL, PH_ID, PH_NAME, PH_NUM, effective_length, mask

__all__ = [
    "mask",
    "effective_length",
    "shingle_hashes",
    "rolling_hashes",
    "sort_unique",
    "minhash",
    "jaccard",
    "band_keys",
    "signature_hex",
    "pack_sig",
    "sig_array",
    "MinHasher",
    "PH_NUM",
    "PH_NAME",
    "PH_ID",
    "PH_EMAIL",
    "PH_DATE",
]

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_P = np.uint64(0x100000001B3)  # FNV-style odd multiplier for the rolling combine
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32, _S26 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32), np.uint64(26)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps mod 2**64)."""
    x = x ^ (x >> _S30)
    x = x * _C1
    x = x ^ (x >> _S27)
    x = x * _C2
    return x ^ (x >> _S31)


def _mix64_inplace(x: np.ndarray) -> None:
    """``_mix64`` overwriting ``x``: one scratch array instead of eight temporaries."""
    t = x >> _S30
    x ^= t
    x *= _C1
    np.right_shift(x, _S27, out=t)
    x ^= t
    x *= _C2
    np.right_shift(x, _S31, out=t)
    x ^= t


def rolling_hashes(masked: str, ks: tuple[int, ...] = (4,)) -> list[np.ndarray]:
    """For each ``k`` in ``ks``: the uint64 hashes of every ``k``-character
    window of ``masked``, in text order, repeats kept (a multiset; see
    ``sort_unique``).

    All sizes come from one code-point array and one rolling pass: the hash
    of a ``j+1``-window is the ``j``-window's times ``P`` plus the next code
    point, so the 3-shingles of the paraphrase tier are a by-product of the
    4-shingles of the near-duplicate tier instead of a second encode and
    pass; the wanted sizes are written side by side into one buffer, mixed
    there in one go, and returned as views of it. A text shorter than ``k``
    yields one hash (the whole text); an empty text yields an empty array.
    """
    if not masked:
        return [np.empty(0, dtype=np.uint64) for _ in ks]
    cps = np.frombuffer(masked.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = cps.shape[0]
    want = sorted({min(k, n) for k in ks})
    at: dict[int, int] = {}
    size = 0
    for j in want:
        at[j] = size
        size += n - j + 1
    buf = np.empty(size, dtype=np.uint64)
    h = cps  # hashes of the j-windows, j = 1, 2, ...
    for j in range(1, want[-1] + 1):
        if j > 1:
            dst = buf[at[j]:at[j] + n - j + 1] if j in at else None
            h = np.multiply(h[:-1], _P, out=dst)
            h += cps[j - 1:]
        elif 1 in at:
            buf[:n] = cps
    _mix64_inplace(buf)
    return [buf[at[min(k, n)]:at[min(k, n)] + n - min(k, n) + 1] for k in ks]


def sort_unique(h: np.ndarray) -> np.ndarray:
    """Sorted unique copy of a uint64 array (cheaper than np.unique's general path)."""
    if h.shape[0] <= 1:
        return h.copy()
    h = np.sort(h)
    keep = np.empty(h.shape[0], dtype=bool)
    keep[0] = True
    np.not_equal(h[1:], h[:-1], out=keep[1:])
    return h[keep]


def shingle_hashes(masked: str, k: int = 4) -> np.ndarray:
    """Sorted unique uint64 hashes of the ``k``-character shingles of ``masked``.

    A text shorter than ``k`` yields one shingle (the whole text); an empty
    text yields an empty array.
    """
    return sort_unique(rolling_hashes(masked, (k,))[0])


class MinHasher:
    """Fixed-seed MinHash over uint64 shingle hashes; also does LSH banding.

    Two schemes, both giving ``num_perm`` uint32 slots whose fraction of
    equal slots estimates Jaccard similarity:

    * ``"oph"`` (new instances): one-permutation hashing with optimal
      densification (Shrivastava 2017). The hashes are re-mixed with a
      seeded bijection and sorted; slot ``i`` is the minimum of the ones
      whose top bits fall in bin ``i`` -- in a sorted array that is the
      first one at or after the bin's lower edge, one ``searchsorted`` for
      all bins. An empty bin copies the slot of the first non-empty bin in
      its own fixed (seeded) probe order, so two texts with the same empty
      bins borrow alike and the estimate stays unbiased. Cost: one sort,
      instead of ``num_perm`` hash evaluations per shingle.
    * ``"perm"``: ``num_perm`` multiply-shift permutations
      ``(a_i * x + b_i) mod 2**64 >> 32`` and their minima. Kept only for
      hashers unpickled from checkpoints written before ``"oph"`` (so their
      stored signatures stay comparable with new ones) and where a low
      similarity threshold on small sets needs its lower variance: on the
      50-300 rare shingles of the paraphrase tier, matched at 7 of 64 slots,
      densified empty bins lost a covert campaign in the detection bench.

    Plain attributes (numpy arrays), so it pickles; two instances with the
    same ``num_perm``/``seed`` give identical signatures in any process.
    """

    scheme = "perm"  # what a hasher pickled before the attribute existed used

    def __init__(self, num_perm: int = 64, bands: int = 16, seed: int = 20240304, scheme: str = "oph") -> None:
        if scheme not in ("oph", "perm"):
            raise ValueError(f"unknown MinHash scheme {scheme!r}")
        if num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        self.num_perm = num_perm
        self.bands = bands
        self.rows = num_perm // bands
        self.seed = seed
        rng = np.random.Generator(np.random.PCG64(seed))
        self.a = (rng.integers(0, 2**63, num_perm, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self.b = rng.integers(0, 2**63, num_perm, dtype=np.uint64) << np.uint64(1)
        # per-band mixing constants for band keys
        self.band_mul = (rng.integers(0, 2**63, self.rows, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self.band_salt = rng.integers(0, 2**63, bands, dtype=np.uint64)
        # one-permutation hashing: seeded re-mix, bin lower edges, densification probe orders
        self.scheme = scheme
        self.salt = rng.integers(0, 2**63, 1, dtype=np.uint64)[0] << np.uint64(1)
        self.edges = np.array([(i << 64) // num_perm for i in range(num_perm)], dtype=np.uint64)
        self.probe = np.stack([rng.permutation(num_perm) for _ in range(num_perm)]).astype(np.intp)

    def signature(self, hashes: np.ndarray) -> np.ndarray:
        """uint32 MinHash signature of a set of shingle hashes (all-0xFFFFFFFF if empty).

        Order and repeats in ``hashes`` do not matter (a minimum), so the raw
        ``rolling_hashes`` can be passed without sorting them.
        """
        if hashes.shape[0] == 0:
            return np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        if self.scheme == "perm":
            return self._signature_perm(hashes)
        # seeded bijection: xor then an odd multiplier (Fibonacci hashing: the top
        # bits, which pick the bin, depend on every input bit); uint64 array
        # arithmetic wraps silently
        x = hashes ^ self.salt
        x *= _C1
        x.sort()
        n = x.shape[0]
        first = np.searchsorted(x, self.edges)  # index of each bin's minimum, if the bin is not empty
        full = np.empty(self.num_perm, dtype=bool)
        np.less(first[:-1], first[1:], out=full[:-1])
        full[-1] = first[-1] < n
        # slot value: 32 bits under the bin bits (they too depend on all low input bits)
        sig = (x[np.minimum(first, n - 1)] >> _S26).astype(np.uint32)
        if not full.all():
            empty = np.flatnonzero(~full)
            order = self.probe[empty]
            src = order[np.arange(empty.shape[0]), full[order].argmax(axis=1)]
            sig[empty] = sig[src]
        return sig

    def _signature_perm(self, hashes: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            hv = np.multiply.outer(self.a, hashes)
            hv += self.b[:, None]  # in place: one (num_perm x n) temporary, not three
        # the shift is monotone, so it commutes with the minimum: shift num_perm values, not num_perm x n
        return (hv.min(axis=1) >> _S32).astype(np.uint32)

    def band_keys(self, sig: np.ndarray | bytes) -> list[int]:
        """One Python int per band: a stable hash of (band index, band slots)."""
        return self.band_key_array(sig).tolist()

    def band_key_array(self, sig: np.ndarray | bytes) -> np.ndarray:
        """``band_keys`` as a uint64 array (for a ``Postings`` lookup without converting back).
        ``sig`` may be stored ``pack_sig`` bytes."""
        h = sig_array(sig).astype(np.uint64).reshape(self.bands, self.rows) @ self.band_mul  # wraps like the sum of products
        h ^= self.band_salt
        _mix64_inplace(h)
        return h

    def __call__(self, text: str, k: int = 4) -> np.ndarray:
        return self.signature(shingle_hashes(mask(text), k))


_DEFAULT = MinHasher()


def minhash(masked: str, k: int = 4, hasher: MinHasher | None = None) -> np.ndarray:
    """MinHash signature of an already masked text with the default hasher."""
    return (hasher or _DEFAULT).signature(shingle_hashes(masked, k))


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of equal signature slots."""
    return float(np.count_nonzero(sig_a == sig_b)) / sig_a.shape[0]


def band_keys(sig: np.ndarray, hasher: MinHasher | None = None) -> list[int]:
    return (hasher or _DEFAULT).band_keys(sig)


def pack_sig(sig: np.ndarray) -> bytes:
    """A signature as the little-endian bytes of its uint32 slots, for long-lived state.

    A 64-slot ndarray costs ~370 bytes (object header, separately allocated
    data); the same slots as ``bytes`` cost ~290, and a ``b"".join`` of several
    is a cheaper stack than ``np.stack`` of arrays. ``sig_array`` reads it back.
    """
    return np.ascontiguousarray(sig, dtype="<u4").tobytes()


def sig_array(sig: bytes | np.ndarray) -> np.ndarray:
    """A stored signature as a uint32 array (a read-only view for ``bytes``; arrays,
    as in checkpoints from before ``pack_sig``, are returned as they are)."""
    if isinstance(sig, bytes):
        return np.frombuffer(sig, dtype="<u4")
    return sig


def signature_hex(sig: np.ndarray | bytes, digest_size: int = 8) -> str:
    """Stable short hex id of a signature (blake2b of its bytes); ``pack_sig`` bytes
    hash to the same id as the array they came from."""
    import hashlib

    raw = sig if isinstance(sig, bytes) else np.ascontiguousarray(sig, dtype="<u4").tobytes()
    return hashlib.blake2b(raw, digest_size=digest_size).hexdigest()
