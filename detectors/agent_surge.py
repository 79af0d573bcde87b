"""agent_surge: one contact point acting for improbably many complainants.

Organised agencies (代理投诉 / 反催收 / 停息挂账) reuse their own phones,
office address, representative name and company across many debtors and
institutions -- in letters, and on the hotline, where one agent calls for
debtor after debtor posing as the spouse or a relative. Genuine
representation is small: a relative acts for one customer, a couple shares
an address, a lawyer or a legal-aid clinic takes a few clients a month.

**Keys** are contact points (``Contact.key``, already pseudonymised, e.g.
``phone:5f1c...``) that act for someone:

* role ``representative`` or ``unknown`` -- tracked from the first sighting;
* role ``self`` -- remembered cheaply (one complainant and time per contact,
  LRU + TTL bounded) and promoted to a tracked key as soon as a *second*
  complainant gives the same value (or anyone gives it in another role), with
  the remembered sighting as the founding one. An agency phone typed into the
  customer's own field -- or taken from caller ID as the customer's -- is
  caught once it is shared.
* **reported third parties are not agents**: a contact of role ``unknown`` on
  a complaint of a ``THIRD_PARTY_CATEGORIES`` category (``fraud``) is the
  number a victim reports (the scam caller), not someone acting for the
  complainant. Such sightings are only counted (``third_party_total``); many
  victims reporting one scam number is the fraud team's signal, not ours.

Per key: the complainants seen within ``window`` (last-seen times, bounded),
institutions and channels (last-seen times, bounded), the last
``max_event_ids`` event ids, and a ``RateModel`` of *new distinct
complainant* arrivals.

**Null model.** The population prior of the contact's kind
(``rates.PopulationPrior``): after the complainant that made a key exist,
further distinct complainants arrive as a Gamma-Poisson (negative binomial,
dispersion ``r=0.5``) process with a small per-day rate (phones 0.1 per 30
days, names 0.3, addresses 0.5, organisations 1). At each new complainant
(or new institution / channel) the sliding-window counts over 1, 7 and 30
days (clipped to the key's age) are tested (``RateModel.score``, Bonferroni
over the windows that differ: clipped to a young key's age they are one test,
see ``_one_test_per_window``) and a finding is emitted when ``-log10 p >=
threshold`` (5). With the defaults a phone seen at two or more institutions
fires on its 4th complainant within a day, 5th within a week or 6th-8th
within 30 days; fewer than 3 complainants never fire (a couple, a family
representative, a lawyer's second client), and a legal-aid clinic with 3-4
clients a month stays well under the threshold.

**Institutions touched.** The benign way for one contact to serve many
complainants is to belong to the institution itself: a branch landline staff
type for elderly customers, a staff mobile, a placeholder number. Such
contacts never leave their institution, while agencies spread their debtors
over several banks. So the null is a mixture, resolved by where the key has
been seen within the window:

* seen at **two or more institutions** -- an institution-owned contact is
  ruled out; the key is judged against its kind's (personal) prior;
* confined to **one institution** -- judged against ``confined_factor`` (3)
  times that prior (same dispersion): spreading across banks is worth
  ``log10 3 ~ 0.5`` in score, which costs a single-institution agency about
  one more complainant before it fires;
* confined to **one institution's counter** (every sighting through a
  ``COUNTER_CHANNELS`` channel, ``branch``) -- the institution's own line:
  tracked but not judged, and its arrivals do not teach the prior
  (``own_line_total`` counts such keys). As soon as it shows up at another
  institution or through another channel it is judged like any key, with
  every complainant it has served in the window.

**Learning.** Priors learn from the keys they describe (extra complainants
over tracked key-days, winsorised, only from keys whose current score is
unremarkable and that are not own lines, blended with the defaults which
are also floors), so a population where addresses are routinely shared by
households relaxes the address prior by itself while agencies do not teach
it that agencies are normal.

Findings name the kind of contact and how it was given ("A phone given as a
representative's contact acted for 14 complainants at 3 institutions in 2
days; ..."), never its value.
"""
from __future__ import annotations

import math
from collections import OrderedDict

from detectors.agent_evidence import _subject, agent_finding
# _Agent lives in agent_state; it is imported here also because older
# checkpoints pickled it as detectors.agent_surge._Agent and must still load.
from detectors.agent_state import _Agent, touch
from detectors.base import Finding
from detectors.fmt import DAY
from detectors.rates import ExposureClock, PopulationPrior
from detectors.surprise import SURPRISE_FLOOR, ReportsSurprises, Surprise
# (moved to detectors.windows, shared with template_surge; the old name stays importable here)
from detectors.windows import one_test_per_window as _one_test_per_window
from streamer.events import Event

__all__ = ["AgentSurge", "DEFAULT_PRIORS"]


#: Default (and minimum) extra distinct complainants per contact per day, by
#: contact kind. Phones / e-mail / WeChat are personal; addresses are shared
#: by households; names collide across unrelated people and lawyers
#: legitimately serve several clients a month. The learned population rate
#: can only raise these.
DEFAULT_PRIORS: dict[str, float] = {
    "phone": 0.1 / 30,
    "email": 0.1 / 30,
    "wechat": 0.1 / 30,
    "address": 0.5 / 30,
    "representative": 0.3 / 30,
    "organization": 1.0 / 30,
}
_OTHER_PRIOR = 0.3 / 30

#: A key seen at only one institution (within the window) is judged against
#: this multiple of its kind's prior: institution-owned contacts (a branch
#: landline, a staff mobile, a placeholder number agents type) legitimately
#: serve many of that institution's customers and never appear elsewhere.
CONFINED_FACTOR = 3.0
#: Channels where the institution's own staff fill in the contact fields. A
#: key seen only through these, at one institution, is that institution's own
#: line and is not judged at all.
COUNTER_CHANNELS: tuple[str, ...] = ("branch",)
#: Complaint categories in which a contact of role ``unknown`` is a reported
#: third party (the scam caller's number), not someone acting for the complainant.
THIRD_PARTY_CATEGORIES: tuple[str, ...] = ("fraud",)
#: ``update``'s de-duplication set for an event with one contact: never read
_NO_KEYS: frozenset[str] = frozenset()




class AgentSurge(ReportsSurprises):
    """Detector: a contact point acting for improbably many complainants."""

    name = "agent_surge"

    def __init__(
        self,
        *,
        window: float = 30 * DAY,
        scales: tuple[float, ...] = (DAY, 7 * DAY, 30 * DAY),
        threshold: float = 5.0,
        critical: float = 12.0,
        bucket: float = DAY,
        ttl: float | None = None,
        max_keys: int = 200_000,
        max_self: int | None = None,
        max_members: int = 256,
        max_insts: int = 64,
        max_channels: int = 16,
        max_event_ids: int = 50,
        priors: dict[str, float] | None = None,
        dispersion: float = 0.5,
        confined_factor: float = CONFINED_FACTOR,
        counter_channels: tuple[str, ...] = COUNTER_CHANNELS,
        third_party_categories: tuple[str, ...] = THIRD_PARTY_CATEGORIES,
        learn_below: float = 3.0,
        evict_batch: int = 16,
    ) -> None:
        self.window = float(window)
        self.scales = tuple(float(s) for s in scales)
        self.threshold = threshold
        self.critical = critical
        self.bucket = float(bucket)
        self.ttl = float(ttl if ttl is not None else window)
        self.max_keys = max_keys
        self.max_self = max_self if max_self is not None else 2 * max_keys  # self-labelled contacts seen once
        self.max_members = max_members
        self.max_insts = max_insts
        self.max_channels = max_channels
        self.max_event_ids = max_event_ids
        self.evict_batch = evict_batch
        self.dispersion = dispersion
        self.confined_factor = float(confined_factor)
        self.counter_channels = frozenset(counter_channels)
        self.third_party_categories = frozenset(third_party_categories)
        self.learn_below = learn_below
        self._now = -math.inf
        # priors are exposed lazily (exactly) on read or when their key count changes
        self._clock = ExposureClock()
        self.priors: dict[str, PopulationPrior] = {}
        for kind, m in sorted((priors or DEFAULT_PRIORS).items()):
            self._prior(kind, m)
        self._n_kind: dict[str, int] = {}  # tracked keys per kind (prior exposure)
        # OrderedDicts, not dicts, though an entry costs ~50 bytes more: re-inserting
        # touched keys leaves holes at a dict's front that next(iter()) must skip
        self._keys: OrderedDict[str, _Agent] = OrderedDict()  # insertion order == least recently touched first
        # self-labelled contacts seen once: key -> (complainant, ts, event_id, institution, channel)
        self._self_seen: OrderedDict[str, tuple[str, float, str, str, str]] = OrderedDict()
        self.evicted_total = 0
        self.promoted_total = 0
        self.findings_total = 0
        self.third_party_total = 0
        self.own_line_total = 0

    def __setstate__(self, state):
        # version-1 checkpoints lack the v2 knobs and counters: fill in the defaults
        self.__dict__.update(max_channels=16, confined_factor=CONFINED_FACTOR,
                             counter_channels=frozenset(COUNTER_CHANNELS),
                             third_party_categories=frozenset(THIRD_PARTY_CATEGORIES),
                             third_party_total=0, own_line_total=0)
        self.__dict__.update(state)
        self._self_seen = OrderedDict((k, v if len(v) == 5 else (*v, "")) for k, v in self._self_seen.items())
        if "_clock" not in state:  # a checkpoint of eager exposure: every prior is exposed up to _now
            self._clock = ExposureClock.resume(self._now, ((p, self._n_kind.get(k, 0)) for k, p in self.priors.items()))

    # ---------------------------------------------------------------- state
    def _prior(self, kind: str, mean: float = _OTHER_PRIOR) -> PopulationPrior:
        p = self.priors.get(kind)
        if p is None:
            p = self.priors[kind] = PopulationPrior(
                mean, self.dispersion, bucket_seconds=self.bucket, floor=mean, r_min=self.dispersion
            )
            if self._now != -math.inf:  # a kind first seen mid-stream starts at the current time
                p.t = self._now
            self._clock.attach(p, 0)
        return p

    def _evict(self) -> None:
        horizon = self._now - self.ttl
        keys = self._keys
        seen = self._self_seen
        # nothing to do unless a table is over its cap or its least recently touched entry
        # has expired -- exactly what each loop below checks first
        if (len(keys) <= self.max_keys and (not keys or keys[next(iter(keys))].last_ts >= horizon)
                and len(seen) <= self.max_self and (not seen or seen[next(iter(seen))][1] >= horizon)):
            return
        n = 0
        while keys and n < self.evict_batch:
            k = next(iter(keys))
            a = keys[k]
            if a.last_ts >= horizon and len(keys) <= self.max_keys:
                break
            del keys[k]
            self._retire(a)
            self.evicted_total += 1
            n += 1
        while len(keys) > self.max_keys:  # hard cap, whatever the batch
            k = next(iter(keys))
            self._retire(keys.pop(k))
            self.evicted_total += 1
        seen = self._self_seen
        n = 0
        while seen and n < self.evict_batch:
            k = next(iter(seen))
            if seen[k][1] >= horizon and len(seen) <= self.max_self:
                break
            del seen[k]
            n += 1
        while len(seen) > self.max_self:
            del seen[next(iter(seen))]

    def _retire(self, a: _Agent) -> None:
        n = self._n_kind[a.kind] = self._n_kind[a.kind] - 1
        self.priors[a.kind].set_keys(n)

    # ---------------------------------------------------------------- update
    def update(self, event: Event) -> list[Finding]:
        ts = event.ts
        self._clear_surprises()  # sub-threshold judgements of this event (see surprises())
        if ts > self._now:
            self._now = ts
            self._clock.tick(ts)  # population exposure up to now (applied when a prior is read)
        if not event.contacts:  # nothing to track (most hotline calls): only time has moved on
            self._evict()
            return []
        out: list[Finding] = []
        contacts = event.contacts
        several = len(contacts) > 1  # most events give one contact: nothing to de-duplicate
        seen_keys: set[str] | frozenset[str] = set() if several else _NO_KEYS
        third_party_case = event.category in self.third_party_categories
        keys, self_seen = self._keys, self._self_seen
        for c in contacts:
            key = c.key
            if several:
                if key in seen_keys:
                    continue
                seen_keys.add(key)
            if third_party_case and c.role == "unknown":
                # a number reported in a fraud complaint is the fraudster's, not
                # someone acting for the complainant: not agent evidence
                self.third_party_total += 1
                continue
            a = keys.get(key)
            if a is None:
                prev = self_seen.get(key)
                if c.role == "self" and (prev is None or prev[0] == event.complainant):
                    # the common case (a caller's own phone): remember it, most recent last
                    if prev is not None:
                        self_seen.move_to_end(key)
                    self_seen[key] = (event.complainant, ts, event.event_id, event.institution, event.channel)
                    continue
                # a second complainant gives this "own" contact, or someone acts
                # for a complainant through it: track it, with its earlier
                # self-labelled sighting (if any) as the founding one
                if prev is not None:
                    del self._self_seen[key]
                    a = self._new_key(c.kind, prev[1])
                    self._keys[key] = a
                    touch(self, a, prev[0], prev[1], prev[2], prev[3], prev[4], "self")
                    self.promoted_total += 1
                else:
                    a = self._new_key(c.kind, ts)
                    self._keys[key] = a
            else:
                if event.event_id in a.events:  # a re-delivery: already counted
                    continue
                self._keys.move_to_end(key)  # most recently touched last
            before = touch(self, a, event.complainant, ts, event.event_id, event.institution, event.channel, c.role)
            if before is not None:
                f, score, typical = self._judge(key, a, event)
                if f is not None:
                    out.append(f)
                if before >= 0 and typical and score < self.learn_below and not a.fired:
                    # an unremarkable extra complainant teaches the kind's prior
                    self._prior(a.kind).arrival(before)
        self._evict()
        return out

    def _new_key(self, kind: str, ts: float) -> _Agent:
        n = self._n_kind[kind] = self._n_kind.get(kind, 0) + 1
        self._prior(kind).set_keys(n)
        return _Agent(kind, ts, self.bucket)

    def _judge(self, key: str, a: _Agent, event: Event) -> tuple[Finding | None, float, bool]:
        """(finding or None, score, whether the key is a typical one of its kind)."""
        ts = event.ts
        lo = ts - self.window
        insts = sum(1 for t in a.insts[1::2] if t >= lo)
        chans = [ch for ch, t in zip(a.chans[::2], a.chans[1::2]) if t >= lo]
        if insts <= 1 and all(ch in self.counter_channels for ch in chans):
            # only ever at one institution's counter: the institution's own line
            if not a.own_line and len(a.members) >= 3:
                a.own_line = True
                self.own_line_total += 1
            return None, 0.0, False
        n = len(a.members)
        if n < 3:  # two people sharing a contact is never an agency by itself
            return None, 0.0, True
        prior = self._prior(a.kind)
        m, v = prior.get()
        factor = self.confined_factor if insts <= 1 else 1.0
        if factor != 1.0:  # same dispersion r, mean scaled
            r = m * m / (v - m) if v > m else math.inf
            m *= factor
            v = m + (m * m / r if r != math.inf else 0.0)
        # The first complainant in a window is given (it is why we look at the
        # key at all), not evidence: every window count is reduced by one.
        s = _one_test_per_window(
            a.rate.score(ts, self.scales, baseline=(m, v), given=1.0, r_min=prior.r_min, since=a.first_ts),
            self.scales, ts - a.first_ts, self.bucket)
        if s.score < self.threshold:
            if s.score >= SURPRISE_FLOOR:  # weak evidence, for corroboration with other detectors
                self._report(Surprise(
                    self.name, key, round(s.score, 3), ts, event.event_id, list(a.events), frozenset(a.members),
                    _subject(a.kind, a.roles), {"kind": a.kind, "distinct_complainants": n, "institutions": insts,
                                                "baseline_per_30d": round(m * 30 * DAY / self.bucket, 6)}))
            return None, s.score, True
        a.fired = n
        self.findings_total += 1
        return agent_finding(self, key, a, event, s, n, insts, chans, factor, m), s.score, True


    # ---------------------------------------------------------------- gauges
    def stats(self) -> dict[str, float]:
        return {
            "tracked_keys": len(self._keys),
            "self_contacts": len(self._self_seen),
            "evicted_total": self.evicted_total,
            "promoted_total": self.promoted_total,
            "findings_total": self.findings_total,
            "third_party_total": self.third_party_total,
            "own_line_total": self.own_line_total,
        }
