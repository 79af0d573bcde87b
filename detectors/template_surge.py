"""template_surge: one letter template filed for improbably many complainants.

Agencies file near-identical letters (same wording, only name, amount,
product and dates differ) for many debtors. Genuine complaints are written
by their authors, so two unrelated long texts are rarely near-duplicates;
short boilerplate ("客户来电查询账单") is common and is skipped by length.

Streaming template index (bounded):

* ``textsig.mask`` the text; skip it if fewer than ``min_chars`` remain.
* MinHash signature (``num_perm`` slots) and LSH band keys; the LSH table
  indexes only each cluster's *representative* (its first member).
* Candidates are clusters sharing a band with the text; the text joins the
  candidate whose representative has the highest estimated Jaccard, if that
  is >= ``similarity``; otherwise it founds a new cluster. Comparing with the
  fixed representative (never with other members) avoids chaining: A~B~C
  does not put A and C together unless C is close to A itself.
* LSH can miss: a letter at Jaccard ~0.58 to its representative shares no
  band about 15 % of the time, and would found a second cluster, splitting
  the template's complainants between two keys (an agency alerted 1-3
  letters later). So a text with no near-duplicate whose *rare* content (see
  ``detectors.paraphrase``) is a near-duplicate (>= ``similarity``) of a
  family's founder joins the cluster that founder founded: it is a copy of
  that letter. It joins the family too, as it did before (the family sees
  the same letters either way). Paraphrases share less rare content
  (0.1-0.6) and found their own near-duplicate cluster, as before.
* Clusters idle for ``ttl`` are evicted (oldest first) and at most
  ``max_keys`` are kept (the least recently used go first).

Per cluster: distinct complainants (last-seen, bounded), institutions, the
last ``max_event_ids`` event ids, and a ``RateModel`` of new distinct
complainants per day. The null for a cluster is its own learned daily rate
shrunk towards a population prior of its *length class* (masked length in
hanzi-equivalents: <80, <160, >=160): short boilerplate is legitimately shared
by unrelated people far more often than a long letter, and the prior learns
that (rate and over-dispersion) from the clusters of the class. A new long
template is normally used by one person. A day in which a cluster fired or
whose own count was surprising (``-log10 p >= learn_below`` on the one-day
window) is kept out of its baseline, so a campaign does not become its own
normal while a steady public template, each of whose days is unremarkable,
learns its rate and stays silent. Findings are emitted at each new
complainant while ``-log10 p >= threshold`` over 1/7/30-day windows (clipped
to the cluster's age; charged only for the windows that differ at that age,
except in the short class, which is charged for all three: see ``_judge``).
During the first ``warmup`` of event time (1 day) the detector only learns.

The finding key is ``template:<hex>``, a hash of the representative's
signature: stable across restarts and processes.

Batches: ``prepare(events)`` computes what is pure in the above (mask, length,
signature, band keys, shingles) for a whole poll at once, and ``update`` takes
it from there; ``update`` alone computes it per text. Both give the same
findings and state (tests/test_template_surge.py runs both). The LSH lookups
of a batch's letters in the index's sorted runs are also made together, when
the first letter needs them (``_packed``): the runs change only a few times a
batch, while the dict of recent postings is read per letter as before.

Modules: ``template_state`` (a cluster's compact and expanded state, and
``touch``, which records one use of it), ``template_index`` (the LSH index of
representatives: lookup checks, closest candidate, eviction, older
checkpoints' layouts), ``textbatch`` (the pure per-text features, per text or
per batch, and the ``prepare`` cache), ``template_findings`` (key, summary
and evidence); this one assigns texts to clusters, keeps the priors and
judges.
"""
from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from typing import Sequence

import numpy as np

from detectors.base import Finding
from detectors.fmt import DAY
from detectors.paraphrase import RareIndex, RareShingles
from detectors.postings import PackedView, Postings
from detectors.rates import ExposureClock
from detectors.surprise import SURPRISE_FLOOR, ReportsSurprises
from detectors.template_findings import template_finding, template_key, template_surprise
from detectors.template_index import candidates, closest, unindex, upgrade
# the cluster state moved to detectors.template_state; _Cluster stays importable here (old checkpoints)
from detectors.template_state import FAMILY, _Cluster, _seen, class_priors, touch
from detectors.textbatch import Prepared, TextFeatures, prepare_batch, text_features
from detectors.textsig import MinHasher, pack_sig, sig_array, sort_unique
from detectors.windows import one_test_per_window
from streamer.events import Event

__all__ = ["TemplateSurge"]

#: The short length class (masked length below the first ``length_classes`` bound):
#: shared short phrasing makes most of the detector's judgements (see ``_judge``).
SHORT = 0



class TemplateSurge(ReportsSurprises):
    """Detector: a (near-)identical text used for improbably many complainants."""

    name = "template_surge"
    # id(event) -> (event, masked length, features or None) of the last ``prepare``d batch;
    # transient (not pickled). The class default serves instances and checkpoints without one.
    _prep: Prepared | None = None
    # which LSH runs the prepared texts' ``packed`` hits were found in (see _packed); transient
    _view: PackedView | None = None

    def __init__(
        self,
        *,
        min_chars: int = 40,
        shingle: int = 4,
        num_perm: int = 64,
        bands: int = 16,
        seed: int = 20240304,
        similarity: float = 0.5,
        window: float = 30 * DAY,
        scales: tuple[float, ...] = (DAY, 7 * DAY, 30 * DAY),
        threshold: float = 5.0,
        critical: float = 12.0,
        bucket: float = DAY,
        prior: float = 0.1 / 30,
        prior_dispersion: float = 0.5,
        min_dispersion: float = 0.05,
        length_classes: tuple[int, ...] = (80, 160),
        warmup: float = DAY,
        learn_below: float = 3.0,
        ttl: float | None = None,
        max_keys: int = 50_000,
        max_members: int = 512,
        max_insts: int = 64,
        max_event_ids: int = 50,
        evict_batch: int = 16,
        rare_shingle: int = 3,
        rare_max_df: float = 0.01,
        rare_min: int = 50,
        rare_similarity: float = 0.1,
        rare_perm: int = 64,
        rare_dispersion: float = 1.0,
    ) -> None:
        self.min_chars = min_chars
        self.shingle = shingle
        self.hasher = MinHasher(num_perm=num_perm, bands=bands, seed=seed)
        self.similarity = similarity
        self.window = float(window)
        self.scales = tuple(float(s) for s in scales)
        # which window is "one bucket" (the burst test that guards the own baseline)
        self._bucket_scale = self.scales.index(float(bucket)) if float(bucket) in self.scales else None
        self.threshold = threshold
        self.critical = critical
        self.bucket = float(bucket)
        self.length_classes = tuple(length_classes)
        # one population prior per masked-length class, then the families' (see class_priors)
        self.priors = class_priors(prior, prior_dispersion, min_dispersion, rare_dispersion, self.bucket,
                                   len(self.length_classes) + 1)
        self._n_class = [0] * len(self.priors)  # live clusters per class (prior exposure)
        # Population exposure is lazy but exact (see priors.ExposureClock): the clock logs
        # event times and a prior replays what it is owed when read or when its class's
        # cluster count changes -- eagerly exposing all five priors cost ~3 us per event.
        self._clock = ExposureClock()
        for p in self.priors:
            self._clock.attach(p, 0)
        self.warmup = float(warmup)
        self.learn_below = learn_below
        self._start: float | None = None
        self.ttl = float(ttl if ttl is not None else window)
        self.max_keys = max_keys
        self.max_members = max_members
        self.max_insts = max_insts
        self.max_event_ids = max_event_ids
        self.evict_batch = evict_batch
        self._clusters: OrderedDict[int, _Cluster] = OrderedDict()  # least recently touched first
        # band key folded to 32 bits -> cluster ids (near-duplicate representatives);
        # candidates are checked against their full band keys (_candidates)
        self._lsh = Postings(np.uint32)
        self._next_id = 0
        self._now = -math.inf
        self.evicted_total = 0
        self.skipped_short = 0
        self.findings_total = 0
        # paraphrase tier: rare-content families (see detectors.paraphrase)
        self.rare_shingle = rare_shingle
        self.rare_min = rare_min
        self.rare_similarity = rare_similarity
        self.rare = RareShingles(max_df=rare_max_df)
        # permutation MinHash here: rare sets are small (few hundred shingles, so it is cheap)
        # and matched at a low similarity, where one-permutation hashing's densified
        # empty bins cost recall (see textsig.MinHasher)
        self.rare_hasher = MinHasher(num_perm=rare_perm, bands=rare_perm // 4, seed=seed + 1, scheme="perm")
        self.rare_index = RareIndex(sigs=False)  # the families hold their signatures

    # ---------------------------------------------------------------- index
    def _candidates(self, bks: list[int], q: np.ndarray | None = None) -> list[int]:
        """Clusters sharing one of the band keys ``bks`` (see ``template_index.candidates``)."""
        return candidates(self, bks, q)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_prep", None)  # a cache of the current batch, not detection state
        state.pop("_view", None)
        return state

    def __setstate__(self, state: dict) -> None:
        state = upgrade(state)  # the indexes of older checkpoints (see template_index)
        self.__dict__.update(state)
        if "_clock" not in state:  # a checkpoint of eager exposure: every prior is exposed up to _now
            self._clock = ExposureClock.resume(self._now, zip(self.priors, self._n_class))

    def _evict(self) -> None:
        horizon = self._now - self.ttl
        cl = self._clusters
        n = 0
        while cl and (n < self.evict_batch or len(cl) > self.max_keys):
            cid = next(iter(cl))
            c = cl[cid]
            if c.last_ts >= horizon and len(cl) <= self.max_keys:
                break
            del cl[cid]
            unindex(self, cid, c)
            self._retire(c)
            self.evicted_total += 1
            n += 1

    def _retire(self, c: _Cluster) -> None:
        n = self._n_class[c.cls] = self._n_class[c.cls] - 1
        self.priors[c.cls].set_keys(n)  # settles the exposure owed at the old count first

    # ---------------------------------------------------------------- update
    def prepare(self, events: Sequence[Event]) -> None:
        """Compute the pure per-text features of a batch ahead of its ``update`` calls.

        Masks every text that may be long enough, then shingles, MinHashes and
        bands all the long ones in a few numpy calls over the whole batch
        (``textbatch.prepare_batch``) where ``update`` alone spends ~15 small
        numpy calls per text. Detection state is not touched: ``update`` finds
        an event's features by ``id(event)`` and gives exactly what it gives
        without them. The previous batch's cache is dropped.
        """
        self._prep = self._view = None
        self._prep = prepare_batch(self, events)

    def update(self, event: Event) -> list[Finding]:
        ts = event.ts
        self._clear_surprises()  # sub-threshold judgements of this event (see surprises())
        if ts > self._now:
            self._now = ts
            self._clock.tick(ts)  # population exposure up to now (applied when a prior is read)
        if self._start is None:
            self._start = ts
        cl = self._clusters
        # _evict's own first test, without the call on the ~all events where it finds nothing
        if cl and (len(cl) > self.max_keys or next(iter(cl.values())).last_ts < self._now - self.ttl):
            self._evict()
        if not event.text:
            return []
        prep = self._prep.pop(id(event), None) if self._prep else None
        if prep is not None and prep[0] is event and prep[1] < self.min_chars:
            self.skipped_short += 1  # measured short by prepare (most records): nothing to compute
            return []
        length, feats = text_features(self, event, prep)
        if feats is None:
            self.skipped_short += 1
            return []
        out = self._assign(event, feats, length)
        if len(self._clusters) > self.max_keys:
            self._evict()
        return out

    def _assign(self, event: Event, feats: TextFeatures, length: int) -> list[Finding]:
        ts = event.ts
        sig, q, bks = feats.sig, feats.q, feats.bks
        best, best_sim = -1, -1.0
        # 32-bit folded keys: proposals, checked below
        cands = sorted(set(self._lsh.lookup(bks, q, self._packed(feats))))
        if cands:
            best, best_sim = closest(self, cands, sig)
        # every long text counts in the rare-shingle document frequency; its rare windows
        # are de-duplicated below only if there are enough of them even with repeats
        rare = self.rare.rare_windows(feats.para, ts, feats.cells, dedupe=False)
        if best >= 0 and best_sim >= self.similarity:
            return self._join(best, event, best_sim)
        fam, fam_sim, rsig = -1, 0.0, None
        if rare.shape[0] >= self.rare_min and (rare := sort_unique(rare)).shape[0] >= self.rare_min:
            # no near-duplicate: is it a paraphrase of a recent letter's rare content?
            rsig = self.rare_hasher.signature(rare)
            fam, fam_sim = self.rare_index.best(rsig, self._family_sig)
            twin = self._twin(fam) if fam_sim >= self.similarity else -1
            if twin >= 0:
                # Its rare content is a near-duplicate of the letter that founded both the
                # family and a near-duplicate cluster: a copy of that letter the LSH bands
                # missed. It joins the letter's cluster (at its whole-text similarity)
                # rather than found a second one that would split the template's people;
                # and its family, as it always did (moderately paraphrased campaigns are
                # found there, and must not lose members to the cluster).
                out = self._join(twin, event, int(np.count_nonzero(
                    sig_array(self._clusters[twin].sig) == sig)) / sig.shape[0])
                return out + self._assign_family(event, rsig, length, fam, fam_sim)
        c = self._found(_Cluster(pack_sig(sig), ts, length),
                        bisect.bisect_right(self.length_classes, length))
        self._lsh.add(self._next_id - 1, bks)
        out = self._use(c, event, 1.0)
        if rsig is not None:
            out += self._assign_family(event, rsig, length, fam, fam_sim)
        return out

    def _packed(self, feats: TextFeatures) -> list[int] | None:
        """The LSH index's sorted-run hits for ``feats`` (``Postings.packed_lookup``), or
        None for the plain lookup.

        Searched for the text and every prepared text still to come at once, when
        the first of them needs it and again after each flush or merge of the index
        (then the hits are stale: ``PackedView``), i.e. a few times a batch instead
        of once per text (~10 us each). The texts still to come are what is left of
        ``_prep`` (``update`` pops each event's entry first).
        """
        view = self._view
        if feats.packed is not None and view is not None and view.current(self._lsh):
            return feats.packed
        if not self._prep:  # one text (no batch): the plain lookup costs the same
            return None
        todo = [feats, *(f for _, _, f in self._prep.values() if f is not None)]
        q = np.concatenate([f.q for f in todo]).reshape(len(todo), -1)  # (3x faster than np.stack)
        rows, self._view = self._lsh.packed_lookup(q)
        for f, row in zip(todo, rows):
            f.packed = row
        return feats.packed

    def _twin(self, fam: int) -> int:
        """The near-duplicate cluster founded by the same letter as family ``fam``, or -1.

        A family is founded only by a letter that has just founded a near-duplicate
        cluster (``_assign``), and ids are handed out in order and never reused, so that
        cluster is ``fam - 1`` while it lives. The checks turn anything else (an evicted
        twin, an older checkpoint's numbering) into "none" (no new state to pickle).
        """
        cl = self._clusters
        twin = cl.get(fam - 1)
        if twin is None or twin.family or twin.first_ts != cl[fam].first_ts:
            return -1
        return fam - 1

    def _join(self, cid: int, event: Event, sim: float) -> list[Finding]:
        """``event`` is a use of existing cluster ``cid`` (either tier), unless re-delivered."""
        c = self._clusters[cid]
        if _seen(c, event.event_id):
            return []  # a re-delivery: already counted
        del self._clusters[cid]
        self._clusters[cid] = c  # most recently touched last
        return self._use(c, event, sim)

    def _found(self, c: _Cluster, cls: int) -> _Cluster:
        c.cls = cls
        n = self._n_class[cls] = self._n_class[cls] + 1
        self.priors[cls].set_keys(n)
        self._clusters[self._next_id] = c
        self._next_id += 1
        return c

    def _assign_family(self, event: Event, sig: np.ndarray, length: int, cid: int, sim: float) -> list[Finding]:
        if cid >= 0 and sim >= self.rare_similarity:
            return self._join(cid, event, sim)
        c = _Cluster(pack_sig(sig), event.ts, length)
        self.rare_index.add(self._next_id, c.sig)  # the same bytes object: stored once
        self._found(c, FAMILY)
        return self._use(c, event, 1.0)

    def _family_sig(self, cid: int) -> bytes | np.ndarray:
        return self._clusters[cid].sig

    def _warm(self, ts: float) -> bool:
        """Still in warm-up: before the first bucket boundary at least ``warmup`` after the start.

        Warm-up ends on a bucket boundary, not mid-bucket: the open bucket and the
        windows tested right after would otherwise hold arrivals made during warm-up
        that no baseline has learned yet, so a steady public template copied a few
        times that morning was judged against the population prior that evening
        (issue #3, holdout seed 1). Derived from ``_start``: no new state to pickle.
        """
        if self._start is None or self.warmup <= 0.0:
            return False
        return ts < math.ceil((self._start + self.warmup) / self.bucket) * self.bucket

    def _use(self, c: _Cluster, event: Event, sim: float) -> list[Finding]:
        """Count one use of cluster ``c``; judge it; learn what is normal."""
        ts = event.ts
        before = touch(self, c, event, sim)
        if before is None:
            return []
        f, score, burst = self._judge(c, event)
        warm = self._warm(ts)
        if warm or (score < self.learn_below and not c.fired):
            # an unremarkable extra user teaches the class what is normal
            self.priors[c.cls].arrival(before)
        if not warm and (f is not None or burst >= self.learn_below) and c.rate is not None:
            # a flagged or bursting bucket stays out of the cluster's own baseline,
            # so a campaign does not become its own normal; a steady template,
            # whose days are each unremarkable, still learns its rate
            c.rate.hot = True
        return [f] if f is not None else []

    _key_of = staticmethod(template_key)  # (tests and older callers name it here)

    def _judge(self, c: _Cluster, event: Event) -> tuple[Finding | None, float, float]:
        """(finding or None, score that decides learning, uncorrected score of the one-bucket window).

        A cluster is judged with Bonferroni over the windows that *differ*
        (``windows.one_test_per_window``: clipped to a young cluster's age the 1/7/30-day
        windows are one test, not three) -- except in the short class (``SHORT``), which
        keeps the charge for three windows. That class makes ~10-20 times the judgements
        of any other (on a `hard` or `holdout` run ~400-650 at 3+ complainants, against
        4-75 for each longer class and 25-35 for paraphrase families): at one
        per-judgement p it would raise that many times the false alerts, and the charge
        is its share of that look-elsewhere margin. Measured without it, a short organic
        complaint phrased alike by 7 people in 21 h alerted (holdout seed 5), under a
        short-class prior whose tail matches the organic one (docs/holdout.md).
        The learning cut (``learn_below``) reads the score with all windows charged in
        every class: the correction is about how many alerts a judgement may raise, not
        about which arrivals are ordinary enough to teach the prior (charging less there
        kept a young organic family's arrivals out of the family prior, which then
        alerted on it later: holdout seed 7).
        """
        n = len(c.members)
        if n < 2 or c.rate is None:
            return None, 0.0, 0.0
        ts = event.ts
        prior = self.priors[c.cls]
        s = c.rate.score(ts, self.scales, prior, given=0.0 if c.family else 1.0, r_min=prior.r_min,
                         since=c.first_ts)
        # what decides whether this arrival teaches the prior (see _use): the score with all
        # three windows charged, whichever class, so which arrivals are learned does not move
        learn = s.score
        if c.cls != SHORT:
            s = one_test_per_window(s, self.scales, ts - c.first_ts, self.bucket)
        burst = s.per_scale[self._bucket_scale] if self._bucket_scale is not None else 0.0
        if s.score < self.threshold or n < 3:
            if s.score >= SURPRISE_FLOOR:  # weak evidence, for corroboration with other detectors
                self._report(template_surprise(self, c, event, s, n))
            return None, learn, burst
        if self._warm(ts):
            return None, learn, burst  # still learning what normal looks like
        c.fired = n
        self.findings_total += 1
        return template_finding(self, c, event, s, n), learn, burst

    # ---------------------------------------------------------------- gauges
    def stats(self) -> dict[str, float]:
        return {
            "tracked_keys": len(self._clusters),
            "clusters": len(self._clusters),
            "paraphrase_families": len(self.rare_index),
            "lsh_entries": len(self._lsh),  # postings (cluster x band)
            "evicted_total": self.evicted_total,
            "skipped_short": self.skipped_short,
            "findings_total": self.findings_total,
        }
