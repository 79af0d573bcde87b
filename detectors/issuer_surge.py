"""issuer_surge: one certificate issuer vouching for improbably many complainants.

Debt-dodging agencies attach forged evidence: a hospital's diagnosis
certificate ("critically ill"), a village committee's hardship certificate.
Forgers reuse one issuer (and often one scanned file) for a whole batch of
debtors, so suddenly many -- mostly young -- complainants are "critically ill"
with certificates from the same hospital, and the seal texts are often
implausible. Genuine certificates come from many issuers: a given county
hospital certifies few of *this* flow's complainants, and a big city hospital
that certifies many does so at a steady, learnable rate, for patients of all
ages.

Keys
----
Per attachment of a certificate class (``medical_certificate`` -> medical,
``hardship_certificate`` -> hardship, ``unemployment_certificate`` ->
unemployment, ``authorization`` -> authorization; ``id_copy``/``other`` are
ignored: an ID card's issuer is a police bureau that serves everyone) the
issuer name is normalised (NFKC, case-folded, white space, punctuation and
symbols removed) and the state key is ``(class, name)``. The alert key is
``issuer:<blake2b-64 hex of the normalised name>:<class>`` -- an organisation
is not personal data, but the key is still a fixed-length, keyed-form digest
(stable across processes; no salted ``hash()``). The issuer's *name* appears in
the summary/evidence only when it looks like an organisation (ends with a known
organisation suffix such as 医院/卫生院/委员会/公司/中心, at most 40 chars), so a
person's name typed into the issuer field never reaches an alert. Complainant
ids, phones and texts never do.

Model
-----
Per key: distinct complainants seen within ``window`` (30 days; last-seen
times, bounded), institutions, certificate kinds, the last ``max_event_ids``
event ids, the sha256 of recent certificate files (bounded), seal-plausibility
reasons, and a ``rates.RateModel`` (daily buckets) of *weighted* arrivals of
new distinct complainants. Each new complainant adds a weight in "suspicion
units":

* age (medical/hardship certificates): under ``young_age`` (35) -> 1.0,
  falling linearly to ``old_weight`` at ``old_age`` (55) and beyond (0.5 for
  medical: critical illness is mostly an older person's misfortune, a wave of
  "critically ill" 25-year-olds is not; 0.7 for hardship); age unknown -> the
  mean of 1 and ``old_weight``. Graded, not a step: a 37-year-old is still an
  unusual critical-illness patient. Unemployment/authorization certificates
  are not age-weighted (flat 0.75 / 0.5);
* implausible seal (any rule below fired for this certificate) -> weight x
  ``seal_factor`` (2);
* reused scan (the certificate's sha256 was already filed by *another*
  complainant for this issuer) -> + ``reuse_bonus`` (2): a genuine hospital
  scans each patient's certificate separately, identical files across people
  are copies. A weight is capped at ``max_weight`` (4).

The founding complainant is why a key exists (*given*, not evidence): the
rate model counts only the weight of the complainants after it. The null is
the class's ``PopulationPrior``: further weight arrives at a small per-day
rate -- medical and hardship 0.03 per 30 days, unemployment 0.1,
authorization 1 (law firms and legal-aid clinics legitimately represent
several clients). The prior learns from unremarkable arrivals (score < 3)
across all keys of the class (floors at the defaults; a flow where issuers
commonly repeat relaxes it by itself). Its negative-binomial dispersion is
capped at ``r_max = 0.5``: issuers differ in size by orders of magnitude (a
county clinic vs a provincial hospital), a heterogeneity daily counts of
rare events cannot show, and the heavier tail keeps mid-sized issuers quiet.
A key's own learned daily rate (``RateModel``: EW mean of closed daily
buckets) shrinks the prior towards it -- Gamma-Poisson style, prior weight
``pseudo`` = 7 buckets, dispersion ``r + n x`` -- so a big hospital that
steadily certifies several complainants a week learns its own higher
baseline; the null variance is at least the key's own learned day-to-day
variance (a busy hospital's weekday/weekend swing is wider than the model's).
A key first seen after the warm-up was *silent* for the days the detector had
been watching (at most ``max_silent`` = 30 buckets) and those zero days count
as history too: an issuer unseen for weeks is a quiet one.

At each new complainant the sliding-window weight over 1, 7 and 30 days is
tested (windows clipped to the key's age, but covering at least
``min_window`` = 6 h, since certificates arrive in office hours): negative
binomial tail, interpolated between the integer counts either side of a
fractional weight, Bonferroni over the three windows. A finding is emitted
when ``-log10 p >= threshold`` (5.5) and the key has at least 3 distinct
complainants -- or 2 when one of them carried an implausible seal or a reused
scan. With the defaults a fresh hospital fires on the 3rd young complainant
within a few hours (weight 2 beyond the founding one) or the 4th within a
day, and on the 2nd when its seals are implausible or its scans reused; three
elderly patients of one hospital in a day (weight ~1) do not fire. A bucket
whose score reached ``hot_above`` (the threshold) is kept out of the key's
baseline (``RateModel.hot``), so a wave does not become its own normal;
lower values were tried and rejected: excluding every merely unusual day
biases a sparse genuine issuer's baseline down until it fires.

Known limitation: a slow wave (one forged certificate a day) is learned as
the issuer's rate before it becomes significant; the shared-phone and template
detectors are the defence there.

During the first ``warmup`` (3 days) of event time the detector only learns:
every issuer already active when the detector starts is a pre-existing flow
whose rate must be learned, not a surge (a big hospital would otherwise look
like a brand-new issuer with a burst on day one). Keys born in the warm-up
trust their own history: the prior weighs ``pseudo_established`` (1) bucket
in their baseline instead of ``pseudo`` (7), and no day of theirs is hot.

Implausible seals (``seal_reasons``, a deliberately small rule set; each is
listed in evidence by code):

* ``seal_issuer_mismatch`` -- the organisation on the seal (seal text minus
  its seal-type suffix) is neither contained in the issuer name nor contains
  it: issuer 某市第一人民医院, seal 某市中心医院诊断证明专用章. A seal that drops
  the higher-level prefix (issuer 某镇某村村民委员会, seal 某村村民委员会公章) is
  consistent.
* ``admin_order_reversed`` -- in the issuer or the seal's organisation an
  administrative unit is followed by a *higher* one (省 > 市/州 > 县/区 >
  乡/镇/街道 > 村/社区/居委会): "某某村某某街道" -- a village cannot contain a
  street office. Common words containing these characters (市场, 城市, 村镇银行,
  镇江, 小区, 新村, 县城, 省立 ...) are neutralised first.
* ``wrong_seal_type`` -- a seal type that is not used on this kind of
  certificate: 门诊专用章/财务专用章/收费专用章/发票专用章/合同专用章/挂号专用章 on
  a diagnosis certificate; a hospital's medical seal or a finance/contract
  seal on a hardship or unemployment certificate.
* ``issuer_kind_mismatch`` -- a medical certificate whose issuer is not a
  medical institution (no 医院/卫生院/保健院/卫生中心/诊所/医疗/卫生服务/医学 in
  the name), or a hardship certificate issued by a hospital.

Findings carry ``issuer:<hex>:<class>`` keys, the last ``max_event_ids``
event ids and evidence: issuer (name when allowed), class, certificate kinds,
distinct complainants, institutions, young share, reused scans, implausible
seals and their reasons, seal types, baseline per 30 days, the scored window,
observed and expected weight, p-value.

State is bounded: at most ``max_keys`` issuer keys (least recently touched
evicted first; keys idle for ``ttl`` too), ``max_members`` complainants,
``max_insts`` institutions and ``max_shas`` file hashes per key. Everything
runs on event time and pickles (plain attributes and river statistics).
"""
from __future__ import annotations

import math
from collections import OrderedDict

from detectors.base import Finding
from detectors.fmt import DAY
from detectors.issuer_evidence import _CLASS_WORDS, issuer_finding
# _Issuer lives in issuer_state; it is imported here also because older
# checkpoints pickled it as detectors.issuer_surge._Issuer and must still load.
from detectors.issuer_state import _Issuer, touch
from detectors.rates import ExposureClock, PopulationPrior, surprise
from detectors.surprise import SURPRISE_FLOOR, ReportsSurprises, Surprise
from detectors.seals import KIND_CLASS, display_name, issuer_key, normalise_issuer, seal_reasons
from streamer.events import Event

__all__ = ["IssuerSurge", "DEFAULT_PRIORS", "KIND_CLASS", "normalise_issuer", "seal_reasons", "issuer_key"]


#: Default (and minimum) extra weighted complainants per issuer per day, by class.
DEFAULT_PRIORS: dict[str, float] = {
    "medical": 0.03 / 30,
    "hardship": 0.03 / 30,
    "unemployment": 0.1 / 30,
    "authorization": 1.0 / 30,
}

#: weight of a complainant of age >= young_age, by class (None: not age-weighted, flat weight given)
_OLD_WEIGHT = {"medical": 0.5, "hardship": 0.7}
_FLAT_WEIGHT = {"unemployment": 0.75, "authorization": 0.5}


def _frac_surprise(obs: float, mu: float, var: float | None) -> float:
    """``-log10 P[X >= obs]`` linearly interpolated between the integers either side."""
    if obs <= 0.0:
        return 0.0
    k0 = math.floor(obs + 1e-9)
    f = obs - k0
    s0 = surprise(k0, mu, var) if k0 > 0 else 0.0
    if f <= 1e-9:
        return s0
    s1 = surprise(k0 + 1, mu, var)
    return s0 + f * (s1 - s0)


class IssuerSurge(ReportsSurprises):
    """Detector: one certificate issuer vouching for improbably many complainants."""

    name = "issuer_surge"

    def __init__(
        self,
        *,
        window: float = 30 * DAY,
        scales: tuple[float, ...] = (DAY, 7 * DAY, 30 * DAY),
        threshold: float = 5.5,
        critical: float = 12.0,
        bucket: float = DAY,
        ttl: float | None = None,
        warmup: float = 3 * DAY,
        max_keys: int = 50_000,
        max_members: int = 256,
        max_insts: int = 64,
        max_shas: int = 128,
        max_event_ids: int = 50,
        max_recent: int = 64,
        priors: dict[str, float] | None = None,
        dispersion: float = 0.5,
        r_max: float = 0.5,
        pseudo: float = 7.0,
        pseudo_established: float = 1.0,
        max_silent: float = 30.0,
        young_age: int = 35,
        old_age: int = 55,
        min_window: float = 6 * 3600.0,
        old_weight: dict[str, float] | None = None,
        flat_weight: dict[str, float] | None = None,
        seal_factor: float = 2.0,
        reuse_bonus: float = 2.0,
        max_weight: float = 4.0,
        min_complainants: int = 3,
        min_complainants_suspect: int = 2,
        learn_below: float = 3.0,
        hot_above: float | None = None,
        evict_batch: int = 16,
    ) -> None:
        self.window = float(window)
        self.scales = tuple(float(s) for s in scales)
        self.threshold = threshold
        self.critical = critical
        self.bucket = float(bucket)
        self.ttl = float(ttl if ttl is not None else window)
        self.warmup = float(warmup)
        self.max_keys = max_keys
        self.max_members = max_members
        self.max_insts = max_insts
        self.max_shas = max_shas
        if max_event_ids < 1:
            raise ValueError("max_event_ids must be at least 1")  # a finding names its evidence
        self.max_event_ids = max_event_ids
        self.max_recent = max_recent
        self.dispersion = dispersion
        self.r_max = r_max
        self.pseudo = pseudo
        self.pseudo_established = pseudo_established
        self.max_silent = max_silent
        self.young_age = young_age
        self.old_age = old_age
        self.min_window = float(min_window)
        self.old_weight = dict(_OLD_WEIGHT if old_weight is None else old_weight)
        self.flat_weight = dict(_FLAT_WEIGHT if flat_weight is None else flat_weight)
        self.seal_factor = seal_factor
        self.reuse_bonus = reuse_bonus
        self.max_weight = max_weight
        self.min_complainants = min_complainants
        self.min_complainants_suspect = min_complainants_suspect
        self.learn_below = learn_below
        self.hot_above = threshold if hot_above is None else hot_above
        self.evict_batch = evict_batch
        # priors are exposed lazily (exactly) on read or when their key count changes
        self._clock = ExposureClock()
        self.priors: dict[str, PopulationPrior] = {}
        self._prior_means = dict(DEFAULT_PRIORS if priors is None else priors)
        for cls in sorted(self._prior_means):
            self._prior(cls)
        self._n_class: dict[str, int] = {}
        self._keys: OrderedDict[tuple[str, str], _Issuer] = OrderedDict()  # insertion order == least recently touched first
        self._t0: float | None = None
        self._now = -math.inf
        self.evicted_total = 0
        self.findings_total = 0
        self.certificates_total = 0

    # ---------------------------------------------------------------- state
    def _prior(self, cls: str) -> PopulationPrior:
        p = self.priors.get(cls)
        if p is None:
            m = self._prior_means[cls]
            p = self.priors[cls] = PopulationPrior(m, self.dispersion, bucket_seconds=self.bucket, floor=m,
                                                   r_min=self.dispersion)
            self._clock.attach(p, 0)  # only at construction: every class of _prior_means has its prior
        return p

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "_clock" not in state:  # a checkpoint of eager exposure: every prior is exposed up to _now
            self._clock = ExposureClock.resume(self._now, ((p, self._n_class.get(c, 0)) for c, p in self.priors.items()))

    def _count(self, cls: str, delta: int) -> None:
        """Keys of ``cls`` come or go now: their prior's exposure changes rate."""
        n = self._n_class[cls] = self._n_class.get(cls, 0) + delta
        self.priors[cls].set_keys(n)

    def _evict(self) -> None:
        horizon = self._now - self.ttl
        keys = self._keys
        n = 0
        while keys and n < self.evict_batch:
            k = next(iter(keys))
            if keys[k].last_ts >= horizon and len(keys) <= self.max_keys:
                break
            self._count(keys.pop(k).cls, -1)
            self.evicted_total += 1
            n += 1
        while len(keys) > self.max_keys:  # hard cap, whatever the batch
            self._count(keys.pop(next(iter(keys))).cls, -1)
            self.evicted_total += 1

    def _weight(self, cls: str, age: int | None, implausible: bool, reused: bool) -> tuple[float, int]:
        young = -1 if age is None else int(age < self.young_age)
        if cls in self.old_weight:
            old = self.old_weight[cls]
            if age is None:
                w = (1.0 + old) / 2
            else:  # full weight below young_age, falling linearly to ``old`` at old_age
                x = (age - self.young_age) / max(1, self.old_age - self.young_age)
                w = 1.0 - (1.0 - old) * min(1.0, max(0.0, x))
        else:
            w = self.flat_weight.get(cls, 0.75)
        if implausible:
            w *= self.seal_factor
        if reused:
            w += self.reuse_bonus
        return min(w, self.max_weight), young

    # ---------------------------------------------------------------- update
    def update(self, event: Event) -> list[Finding]:
        ts = event.ts
        self._clear_surprises()  # sub-threshold judgements of this event (see surprises())
        if self._t0 is None:
            self._t0 = ts
        if ts > self._now:
            self._now = ts
            self._clock.tick(ts)  # population exposure up to now (applied when a prior is read)
        if not event.attachments:
            return []
        # group this event's certificates by (class, normalised issuer), in attachment order
        groups: dict[tuple[str, str], list] = {}
        for at in event.attachments:
            cls = KIND_CLASS.get(at.kind)
            if cls is None or cls not in self._prior_means:
                continue
            norm = normalise_issuer(at.issuer)
            if not norm:
                continue
            groups.setdefault((cls, norm), []).append(at)
        out: list[Finding] = []
        for k, ats in groups.items():
            a = self._keys.get(k)
            if a is None:
                a = _Issuer(k[0], display_name(ats[0].issuer), ts)
                self._keys[k] = a
                self._count(k[0], 1)
            else:
                if a.has_event(event.event_id):  # a re-delivery: already counted
                    continue
                self._keys[k] = self._keys.pop(k)  # most recently touched last
            before = touch(self, a, event, ats)
            if before is not None:
                f, score = self._judge(k, a, event)
                if f is not None:
                    out.append(f)
                if before >= 0 and score < self.learn_below and not a.fired:
                    self._prior(a.cls).arrival(before)  # an unremarkable extra complainant teaches the prior
        self._evict()
        return out

    def _baseline(self, a: _Issuer, prior: PopulationPrior) -> tuple[float, float]:
        """(mean, var) of a key's weight per bucket under the null.

        ``RateModel.baseline`` (the prior's Gamma-Poisson shrunk towards the
        key's own EW mean over its ``n`` learned buckets, prior weight
        ``w0 = min(r/m, pseudo)`` buckets, ``r`` capped at ``r_max``), with one addition: a key first seen
        after the warm-up was *silent* for the ``s0`` buckets the detector had
        been watching before (at most ``max_silent``), and those zeros are
        evidence too -- an issuer unseen for weeks is a quiet one. Its mean is
        ``(w0 m + n x) / (w0 + n + s0)`` (never below the prior's floor).
        Keys born in the warm-up use ``pseudo_established`` and no silence.
        The variance is at least the key's own learned day-to-day variance.
        """
        t0 = self._t0 if self._t0 is not None else a.first_ts
        established = a.first_ts < t0 + self.warmup
        pm, pv = prior.get()
        excess = pv - pm
        r = pm * pm / excess if excess > 1e-300 else 1e6
        r = min(r, self.r_max)  # issuers differ in size by orders of magnitude, whatever daily counts show
        rm = a.rate  # None: only the founder so far, no learned bucket
        n_learned = rm.n if rm is not None else 0
        n = float(min(n_learned, rm.max_idle)) if rm is not None else 0.0
        x = max(rm.mean.get(), 0.0) if n_learned else 0.0
        w0 = min(r / pm, self.pseudo_established if established else self.pseudo)
        s0 = 0.0 if established else min((a.first_ts - t0) / self.bucket, self.max_silent)
        m = max((w0 * pm + n * x) / (w0 + n + s0), prior.floor)
        v = m + m * m / (r + n * x)
        if n_learned >= 3:  # weekday/weekend swings of a busy issuer are wider than the model's
            v = max(v, rm.var.get())
        return m, v

    def _judge(self, key: tuple[str, str], a: _Issuer, event: Event) -> tuple[Finding | None, float]:
        recs = a.member_recs()
        n = len(recs)
        suspect = sum(1 for r in recs if r[3])
        ts = event.ts
        warming = self._t0 is not None and ts < self._t0 + self.warmup
        prior = self._prior(a.cls)
        m, v = self._baseline(a, prior)
        excess = v - m
        r = m * m / excess if excess > 1e-300 else math.inf
        r = max(r, prior.r_min)
        age = max(ts - a.first_ts, self.min_window)
        best = (-1.0, 0.0, 0.0, 0.0)
        # no rate model yet: only the founder, who counts 0 (see issuer_state.touch)
        sums = a.rate.window_sums(ts, self.scales) if a.rate is not None else [0.0] * len(self.scales)
        for s, total in zip(self.scales, sums):
            obs = total
            mu = m * min(s, age) / self.bucket
            if mu <= 0.0:
                raw = 300.0 if obs > 0 else 0.0
            else:
                raw = _frac_surprise(obs, mu, mu + mu * mu / r if r != math.inf else None)
            if raw > best[0]:
                best = (raw, s, obs, mu)
        raw, win, obs, mu = best
        score = max(0.0, raw - (math.log10(len(self.scales)) if len(self.scales) > 1 else 0.0))
        if score >= self.hot_above and not warming:
            a.rate_model(self.bucket, self.max_recent).hot = True  # a surprising day stays out of the key's baseline
        if score < self.threshold or warming or n < (self.min_complainants_suspect if suspect else self.min_complainants):
            if SURPRISE_FLOOR <= score < self.threshold and not warming:  # weak evidence, for corroboration
                self._report(Surprise(
                    self.name, issuer_key(key[1], key[0]), round(score, 3), ts, event.event_id, a.event_ids(),
                    frozenset(a.member_ids()), f"{a.display or 'One issuer'} ({_CLASS_WORDS.get(a.cls, a.cls)})",
                    {"issuer_class": a.cls, "distinct_complainants": n, "reused_sha256": a.reused,
                     "implausible_seals": suspect, "baseline_per_30d": round(m * 30 * DAY / self.bucket, 6)}))
            return None, score
        a.fired = n
        self.findings_total += 1
        return issuer_finding(self, key, a, event, score, n, suspect, m, win, obs, mu), score


    # ---------------------------------------------------------------- gauges
    def stats(self) -> dict[str, float]:
        return {
            "tracked_keys": len(self._keys),
            "evicted_total": self.evicted_total,
            "findings_total": self.findings_total,
            "certificates_total": self.certificates_total,
        }
