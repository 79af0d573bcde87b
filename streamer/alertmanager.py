"""An alert sink that notifies Prometheus Alertmanager (``POST /api/v2/alerts``).

Why it looks like this:

* Alertmanager is a *notification channel*, not the durable record. The
  alerts topic / file stays the system of record (it is what offsets are
  committed against); this sink is best effort and must never slow down or
  stop the stream. So ``write`` only updates in-memory state under a lock and
  returns; a daemon thread does all HTTP, with retries and exponential
  backoff. The buffer is bounded: on overflow the newest notification is
  dropped, counted (``stats()["dropped"]``) and logged (rate-limited).
* Alertmanager forgets an alert at its ``endsAt``. A firing episode is posted
  with ``endsAt = now + resolve_timeout`` and re-posted every
  ``repost_interval`` (< resolve_timeout) while it is firing, so it stays
  active as long as surgewatch is alive -- and expires on its own if
  surgewatch dies, which is the right failure mode. On resolve a final post
  carries the real end (``min(ends_at, now)``), which Alertmanager turns into
  a resolved notification.
* Alertmanager identifies an alert by its label set. Labels are therefore the
  small, stable identity (alertname, detector, severity, key, service); the
  ``key`` is already a pseudonym (``phone:5f1c...``). Everything else goes in
  annotations. When an episode's severity rises the label set changes, so the
  old label set is resolved in the same post instead of lingering until its
  ``endsAt``.
* Wall-clock time is fine here: this is an edge sink, not detection.

This module is the delivery half; ``streamer.am_payload`` builds what each
alert says. Standard library (urllib, threading) + orjson only.
"""
from __future__ import annotations

import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterator

import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# what an alert says lives in am_payload; alertname_for, to_am_alert and DEFAULT_RUNBOOK are re-exported
from streamer.am_payload import DEFAULT_RUNBOOK, AlertSpec, alertname_for, build_spec, to_am_alert

__all__ = ["AlertmanagerSink", "AlertmanagerCollector", "alertname_for", "to_am_alert"]

log = logging.getLogger("surgewatch.alertmanager")

class _Permanent(Exception):
    """A 4xx answer: retrying the same payload will not help."""


class AlertmanagerSink:
    """Posts alert episodes to Alertmanager from a background thread.

    ``url`` is Alertmanager's base URL (``http://127.0.0.1:9093``).
    ``alertname``: one fixed name (e.g. ``SurgewatchCampaign``) or None for
    one per detector (``SurgewatchAgentSurge``). ``max_queue`` bounds the
    notifications waiting to be sent, ``max_firing`` the episodes kept for
    re-posting. ``clock`` (wall time) is injectable for tests.
    """

    def __init__(
        self,
        url: str,
        *,
        alertname: str | None = None,
        service: str = "surgewatch",
        runbook_url: str = DEFAULT_RUNBOOK,
        extra_labels: dict[str, str] | None = None,
        resolve_timeout: float = 300.0,
        repost_interval: float = 60.0,
        request_timeout: float = 5.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 0.1,
        max_queue: int = 1000,
        max_firing: int = 10_000,
        max_batch: int = 500,
        close_timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if repost_interval >= resolve_timeout:
            raise ValueError("repost_interval must be shorter than resolve_timeout, or alerts flap")
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.alertname = alertname
        self.service = service
        self.runbook_url = runbook_url
        self.extra_labels = dict(extra_labels or {})
        self.resolve_timeout = resolve_timeout
        self.repost_interval = repost_interval
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.max_queue = max_queue
        self.max_firing = max_firing
        self.max_batch = max_batch
        self.close_timeout = close_timeout
        self.clock = clock

        self._cond = threading.Condition()
        self._pending: OrderedDict[tuple, AlertSpec] = OrderedDict()  # by label set: the Alertmanager identity
        self._firing: dict[str, AlertSpec] = {}                         # alert_id -> last firing spec
        self._stop = threading.Event()
        self._deadline = float("inf")  # monotonic; set by close()
        self._next_repost = time.monotonic() + repost_interval
        self._last_drop_log = float("-inf")
        self._closed = False
        self._counts = {"posts_ok": 0, "posts_retried": 0, "posts_failed": 0, "alerts_sent": 0, "dropped": 0}
        self._thread = threading.Thread(target=self._run, name="alertmanager-sink", daemon=True)
        self._thread.start()

    # -- the sink interface (called on the stream thread; never blocks on I/O)
    def write(self, record: dict) -> None:
        if self._closed:
            return
        spec = build_spec(record, alertname=self.alertname, runbook_url=self.runbook_url,
                           service=self.service, extra_labels=self.extra_labels)
        aid = str(record.get("alert_id", ""))
        with self._cond:
            if record.get("status") == "resolved":
                old = self._firing.pop(aid, None)
                if old is not None and old.ident != spec.ident:
                    self._enqueue(AlertSpec(old.labels, old.annotations, old.starts, spec.ends))
            else:
                old = self._firing.get(aid)
                if old is not None and old.ident != spec.ident:   # severity changed: retire the old label set
                    self._enqueue(AlertSpec(old.labels, old.annotations, old.starts, self.clock()))
                if old is not None or len(self._firing) < self.max_firing:
                    self._firing[aid] = spec
                else:
                    self._drop("firing set full")
            self._enqueue(spec)
            self._cond.notify()

    def flush(self) -> None:
        """Wake the sender; do NOT wait for Alertmanager.

        Alertmanager is a notification channel, not the durable record, so
        the runner's commit must not depend on it (nor stall when it is down).
        """
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        """Attempt a final delivery of what is queued, within ``close_timeout``.

        Still-firing episodes are not resolved: surgewatch stopping is not the
        campaign ending; Alertmanager lets them expire at their ``endsAt``.
        """
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._deadline = time.monotonic() + self.close_timeout
            self._stop.set()
            self._cond.notify()
        self._thread.join(self.close_timeout + self.request_timeout + 1.0)

    def stats(self) -> dict[str, int]:
        """Counters for the metrics collector: posts ok/retried/failed, drops, queue."""
        with self._cond:
            return dict(self._counts, queue_length=len(self._pending), firing=len(self._firing))

    # -- internals ------------------------------------------------------------
    def _enqueue(self, spec: AlertSpec) -> None:
        ident = spec.ident
        if ident in self._pending:          # coalesce: only the latest state matters
            self._pending[ident] = spec
            self._pending.move_to_end(ident)
        elif len(self._pending) < self.max_queue:
            self._pending[ident] = spec
        else:
            self._drop("queue full")

    def _drop(self, why: str) -> None:
        self._counts["dropped"] += 1
        now = time.monotonic()
        if now - self._last_drop_log >= 60.0:
            self._last_drop_log = now
            log.warning("alertmanager notification dropped", extra={
                "reason": why, "dropped_total": self._counts["dropped"], "queue_length": len(self._pending)})

    def _take_batch(self) -> tuple[list[AlertSpec], bool]:
        with self._cond:
            while not self._pending and not self._stop.is_set():
                wait = self._next_repost - time.monotonic()
                if wait <= 0:
                    break
                self._cond.wait(wait)
            stopping = self._stop.is_set()
            batch = list(self._pending.values())
            self._pending.clear()
            if not stopping and time.monotonic() >= self._next_repost:
                have = {s.ident for s in batch}
                batch.extend(s for s in self._firing.values() if s.ident not in have)
                self._next_repost = time.monotonic() + self.repost_interval
            return batch, stopping

    def _run(self) -> None:
        while True:
            batch, stopping = self._take_batch()
            for i in range(0, len(batch), self.max_batch):
                self._deliver(batch[i:i + self.max_batch])
            if stopping:
                with self._cond:
                    rest = list(self._pending.values())
                    self._pending.clear()
                if rest and time.monotonic() < self._deadline:
                    self._deliver(rest)
                return

    def _deliver(self, batch: list[AlertSpec]) -> None:
        attempt = 0
        while True:
            remaining = self._deadline - time.monotonic()
            timeout = min(self.request_timeout, max(remaining, 0.05))
            try:
                now = self.clock()
                body = orjson.dumps([to_am_alert(s, now, self.resolve_timeout) for s in batch])
                self._post(body, timeout)
            except _Permanent as e:
                self._count("posts_failed")
                log.error("alertmanager rejected alerts", extra={"error": str(e), "alerts": len(batch)})
                return
            except Exception as e:  # connection refused, timeout, 5xx: retry
                if attempt >= self.max_retries or self._stop.is_set():  # closing: one final attempt only
                    self._count("posts_failed")
                    log.warning("alertmanager post failed, giving up", extra={
                        "error": str(e), "alerts": len(batch), "attempts": attempt + 1})
                    return
                delay = min(self.backoff_max, self.backoff_base * (2 ** attempt))
                delay *= 1.0 + random.uniform(-self.jitter, self.jitter)
                self._count("posts_retried")
                attempt += 1
                self._stop.wait(delay)   # close() cuts the backoff short
                continue
            self._count("posts_ok")
            with self._cond:
                self._counts["alerts_sent"] += len(batch)
            return

    def _count(self, name: str) -> None:
        with self._cond:
            self._counts[name] += 1

    def _post(self, body: bytes, timeout: float) -> None:
        req = urllib.request.Request(self.endpoint, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500 and e.code not in (408, 429):
                raise _Permanent(f"HTTP {e.code}") from None
            raise


class AlertmanagerCollector(Collector):
    """Prometheus view of an AlertmanagerSink, read at scrape time."""

    def __init__(self, sink: AlertmanagerSink) -> None:
        self.sink = sink

    def collect(self) -> Iterator[Metric]:
        st = self.sink.stats()
        posts = CounterMetricFamily("surgewatch_alertmanager_posts",
                                    "POSTs to Alertmanager, by result (ok, retry, failed = gave up or rejected)",
                                    labels=["result"])
        posts.add_metric(["ok"], st["posts_ok"])
        posts.add_metric(["retry"], st["posts_retried"])
        posts.add_metric(["failed"], st["posts_failed"])
        yield posts
        yield CounterMetricFamily("surgewatch_alertmanager_dropped",
                                  "Alert notifications dropped because the sender's buffer was full",
                                  value=st["dropped"])
        yield GaugeMetricFamily("surgewatch_alertmanager_queue_length",
                                "Alert notifications waiting to be posted", value=st["queue_length"])
