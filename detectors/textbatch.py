"""Pure per-text features of ``template_surge``, for one text or a whole batch.

``TemplateSurge.update`` needs, for every text long enough to index, its
near-duplicate MinHash signature, the folded LSH band keys of it (as an array
and as a list), the paraphrase-tier shingle hashes and their count-min
cells. None of that depends on detector state, so ``TemplateSurge.prepare``
computes it for a whole poll's events at once: ~15 numpy calls per batch
instead of ~15 per text, which is what a 200-character letter's features
cost (each numpy call has a ~1 us floor, and these arrays are small).

``features`` is the one-text path (what ``update`` without ``prepare`` does);
``features_batch`` must give the same numbers for every text, and the tests
check that it does. The batch path concatenates the texts' code points and
computes every rolling window hash once over the concatenation: a window's
hash depends only on its own characters, so slicing each text's windows out
of it gives its hashes exactly (the few windows that straddle two texts are
computed and ignored).

``prepare_batch`` and ``text_features`` are the detector's two ends of this:
the first masks and measures a poll's texts and batches the long ones (what
``TemplateSurge.prepare`` caches), the second gives ``update`` one event's
length and features, from that cache or computed afresh.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from detectors.maskbatch import mask_many, surely_short_many
from detectors.paraphrase import RareShingles
from detectors.postings import fold32
from detectors.textmask import surely_short
from detectors.textsig import _C1, _P, _S26, MinHasher, _mix64_inplace, effective_length, mask, rolling_hashes
from streamer.events import Event

if TYPE_CHECKING:
    from detectors.template_surge import TemplateSurge

__all__ = ["TextFeatures", "features", "features_batch", "prepare_batch", "text_features"]

_MAX64 = np.uint64(0xFFFFFFFFFFFFFFFF)


class TextFeatures:
    """What ``TemplateSurge._assign`` needs of one masked text (read-only arrays).

    ``sig``: uint32 MinHash signature; ``q``: its band keys folded to 32 bits
    (uint32 array) and ``bks`` the same as a list of ints; ``para``: the
    paraphrase-shingle hashes, in text order, repeats kept (what
    ``RareShingles.rare_windows`` takes); ``cells``: their count-min cells in
    ``RareShingles`` (shape (depth, len(para))), or None to let it compute them.
    ``packed``: not a text feature but a cache the detector fills for a batch's
    texts at once (``TemplateSurge._packed``): the LSH index's sorted-run hits.
    """

    __slots__ = ("sig", "q", "bks", "para", "cells", "packed")

    def __init__(self, sig: np.ndarray, q: np.ndarray, bks: list[int], para: np.ndarray,
                 cells: np.ndarray | None) -> None:
        self.sig, self.q, self.bks, self.para, self.cells = sig, q, bks, para, cells
        self.packed: list[int] | None = None


#: ``TemplateSurge._prep``: id(event) -> (event, masked length, features or None)
Prepared = dict[int, tuple[Event, int, TextFeatures | None]]


def features(masked: str, hasher: MinHasher, shingle: int, rare_shingle: int) -> TextFeatures:
    """Features of one masked text (both shingle sizes from one rolling pass)."""
    near, para = rolling_hashes(masked, (shingle, rare_shingle))
    sig = hasher.signature(near)
    q = fold32(hasher.band_key_array(sig))
    return TextFeatures(sig, q, q.tolist(), para, None)


def features_batch(maskeds: Sequence[str], hasher: MinHasher, shingle: int, rare_shingle: int,
                   rare: RareShingles) -> list[TextFeatures]:
    """``features`` of every text in ``maskeds``, vectorised over the batch.

    Every text must be at least ``max(shingle, rare_shingle)`` characters long
    (shorter ones hash as one whole-text window: the caller keeps those on the
    one-text path). ``rare`` gives the count-min cells of the paraphrase
    shingles (pure: a function of its width, depth and salts).

    Every text's windows are one contiguous run of the batch's, so ``para``
    and ``cells`` are views of the batch arrays.
    """
    out: list[TextFeatures] = []
    # in slices of about _SLICE code points: the temporaries (~100 bytes a character)
    # then stay in the CPU cache, which one pass over a poll of 1,000-character
    # letters (tens of MB) does not; a slice still shares each numpy call among many texts
    i = 0
    while i < len(maskeds):
        j, size = i, 0
        while j < len(maskeds) and (j == i or size + len(maskeds[j]) <= _SLICE):
            size += len(maskeds[j])
            j += 1
        out += _features_slice(maskeds[i:j], hasher, shingle, rare_shingle, rare)
        i = j
    return out


_SLICE = 16384


def prepare_batch(det: TemplateSurge, events: Sequence[Event]) -> Prepared:
    """Mask and measure every text of ``events`` that may be long enough, and batch the
    features of the long ones (``features_batch``), keyed by ``id(event)``.

    Each entry holds its event, so the id cannot be reused by another object while
    the entry lives. A text that fails here is left out (or left without features),
    so ``update`` computes it itself and raises where it did before.
    """
    prep: Prepared = {}
    todo: list[tuple[int, str]] = []
    longest = max(det.shingle, det.rare_shingle)
    maybe_long: list[Event] = []
    with_text = [e for e in events if e.text]
    for event, short in zip(with_text, surely_short_many([e.text for e in with_text], det.min_chars)):
        if short:
            # recorded, so ``update`` does not test it again (length 0: what it takes it as)
            prep[id(event)] = (event, 0, None)
        else:
            maybe_long.append(event)
    try:
        maskeds: list[str | None] = list(mask_many([e.text for e in maybe_long]))
    except Exception:  # some text will not mask: one at a time, leaving that one out
        maskeds = [_mask_or_none(e.text) for e in maybe_long]
    for event, masked in zip(maybe_long, maskeds):
        if masked is None:  # (update raises it where it did before)
            continue
        length = effective_length(masked)
        prep[id(event)] = (event, length, None)
        if length >= det.min_chars and len(masked) >= longest:
            todo.append((id(event), masked))
    if todo and det.hasher.scheme == "oph":
        try:
            feats = features_batch([m for _, m in todo], det.hasher, det.shingle, det.rare_shingle, det.rare)
        except (UnicodeEncodeError, ValueError):  # e.g. a lone surrogate: leave it to update
            feats = None
        if feats is not None:
            for (key, _), f in zip(todo, feats):
                event, length, _ = prep[key]
                prep[key] = (event, length, f)
    return prep


def _mask_or_none(text: str) -> str | None:
    try:
        return mask(text)
    except Exception:
        return None


def text_features(det: TemplateSurge, event: Event, prep: tuple[Event, int, TextFeatures | None] | None
                  ) -> tuple[int, TextFeatures | None]:
    """(masked length, features) of ``event``'s (non-empty) text; features None when the
    length is under ``det.min_chars``. ``prep``: its entry of the prepared batch, if any
    (used only if it is this very event object)."""
    masked: str | None = None
    feats: TextFeatures | None = None
    text = event.text
    if prep is not None and prep[0] is event:
        _, length, feats = prep  # masked and measured by prepare
    elif surely_short(text, det.min_chars):  # what masking would find, without the regexes
        length = 0
    else:
        masked = mask(text)
        length = effective_length(masked)
    if length < det.min_chars:
        return length, None
    if feats is None:  # (prepared but not batched: mask's LRU still has the text)
        feats = features(mask(text) if masked is None else masked, det.hasher, det.shingle, det.rare_shingle)
    return length, feats


def _features_slice(maskeds: Sequence[str], hasher: MinHasher, shingle: int, rare_shingle: int,
                    rare: RareShingles) -> list[TextFeatures]:
    t = len(maskeds)
    lens = np.fromiter(map(len, maskeds), dtype=np.int64, count=t)
    starts = np.zeros(t, dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    cps = np.frombuffer("".join(maskeds).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    tid = np.repeat(np.arange(t), lens)  # text of each code point
    off = np.arange(cps.shape[0]) - np.repeat(starts, lens)  # position within its text
    wins = _windows(cps, (shingle, rare_shingle))

    # near-duplicate tier: one-permutation MinHash of each text's k-windows
    sig = _oph_batch(hasher, wins[shingle], tid, off, lens - shingle, t)
    h = sig.astype(np.uint64).reshape(t, hasher.bands, hasher.rows) @ hasher.band_mul  # wraps, as per text
    h ^= hasher.band_salt
    _mix64_inplace(h)
    q = fold32(h)
    bks = q.tolist()

    # paraphrase tier: text i's windows start where its characters do
    para = wins[rare_shingle]
    cells = rare._cells(para)
    a = starts.tolist()
    b = (starts + lens - rare_shingle + 1).tolist()
    return [TextFeatures(sig[i], q[i], bks[i], para[a[i]:b[i]], cells[:, a[i]:b[i]]) for i in range(t)]


def _windows(cps: np.ndarray, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Mixed hash of every ``k``-window of ``cps`` for each ``k`` in ``ks`` (as
    ``textsig.rolling_hashes``: the ``j+1``-windows from the ``j``-windows)."""
    out: dict[int, np.ndarray] = {}
    h = cps
    for j in range(1, max(ks) + 1):
        if j > 1:
            h = h[:-1] * _P  # uint64: wraps
            h += cps[j - 1:]
        if j in ks:
            out[j] = h.copy()  # (mixed below; h goes on unmixed)
    for w in out.values():
        _mix64_inplace(w)
    return out


def _oph_batch(hasher: MinHasher, x_all: np.ndarray, tid: np.ndarray, off: np.ndarray, last: np.ndarray,
               t: int) -> np.ndarray:
    """(t, num_perm) signatures, the same as ``hasher.signature`` of each text's windows.

    A slot is the minimum re-mixed hash of its bin (``np.minimum.at`` over
    (text, bin) groups, where the one-text path sorts and searches), shifted
    like there; empty bins borrow along the same probe orders. ``last``: each
    text's last window start.
    """
    n = x_all.shape[0]
    x = x_all ^ hasher.salt
    x *= _C1
    p = hasher.num_perm
    # bin i holds [edges[i], edges[i+1]) (what the one-text path's searchsorted on the
    # sorted hashes finds): the top bits when num_perm is a power of two
    b = p.bit_length() - 1
    if p == 1 << b:
        g = (x >> np.uint64(64 - b)).astype(np.int64) if b else np.zeros(n, dtype=np.int64)
    else:
        g = np.searchsorted(hasher.edges, x, side="right") - 1
    g += tid[:n] * p
    g[off[:n] > last[tid[:n]]] = t * p  # windows across two texts: a spare group
    mins = np.full(t * p + 1, _MAX64, dtype=np.uint64)
    np.minimum.at(mins, g, x)
    full = (np.bincount(g, minlength=t * p + 1)[:-1] > 0).reshape(t, p)
    sig = (mins[:-1] >> _S26).astype(np.uint32).reshape(t, p)
    te, be = np.nonzero(~full)
    if te.shape[0]:
        # (t, p) gathers through flat indices ``te * p + bin``: one ``take``/``put`` on the
        # raveled array is ~2.5x faster than numpy's two-array fancy indexing, same cells
        flat = sig.reshape(-1)  # a view (sig is C-contiguous): writes go through
        flat[te * p + be] = flat.take(te * p + _borrow(hasher.probe, full, te, be))
    return sig


#: probe steps tried for every empty bin at once before the few still unresolved get the rest
_FIRST_PROBES = 8


def _borrow(probe: np.ndarray, full: np.ndarray, te: np.ndarray, be: np.ndarray) -> np.ndarray:
    """The bin each empty bin ``be`` of text ``te`` copies: the first full one in its probe order.

    The same as ``argmax`` of ``full`` along each whole probe order (0 if none is
    full), but most empty bins find a full one within a few steps (a short letter
    leaves about a quarter of its bins empty), so gathering all ``num_perm`` steps
    for every empty bin of a batch was ~60 % of ``features_batch``: the first
    ``_FIRST_PROBES`` steps are gathered for all, the rest only for the few left.
    """
    p = full.shape[1]
    full = full.ravel()  # text te's bin b at te * p + b: flat takes (see _oph_batch)
    head = probe[be, :_FIRST_PROBES]
    hit = full.take(te[:, None] * p + head)
    first = hit.argmax(axis=1)
    at = np.arange(te.shape[0]) * head.shape[1] + first  # (row, first) of head and hit, flat
    src = head.take(at)
    left = np.flatnonzero(~hit.take(at))  # no full bin among the first steps
    if left.shape[0]:
        order = probe[be[left]]
        src[left] = order[np.arange(left.shape[0]), full.take(te[left, None] * p + order).argmax(axis=1)]
    return src
