"""Prometheus exposition through a custom Collector, read at scrape time.

The pipeline keeps plain counters; this collector turns them into metric
families only when Prometheus scrapes (as client_python recommends for
exporters), so the per-event cost is a dict increment. Label sets are fixed
and small: result/channel/category enums, detector names, severities --
never an agent, template or complainant.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from streamer.pipeline import LATENCY_BUCKETS, Pipeline

__all__ = ["PipelineCollector", "serve_metrics", "VERSION"]

VERSION = "0.1.0"
TOP_K = 10  # per-key series exposed: the strongest open episodes only
MAX_INSTITUTIONS = 200  # category-share series are per institution: bounded


class PipelineCollector(Collector):
    """Exposes a Pipeline's live state. ``source`` (optional) adds Kafka state:
    an object with ``partition_lag() -> {(topic, partition): lag}`` and
    ``connected`` (bool), optionally ``flush_failures`` (int). ``clock`` is injectable for tests."""

    def __init__(self, pipeline: Pipeline, source: object | None = None,
                 clock: Callable[[], float] = time.time, mode: str = "replay") -> None:
        self.pipeline = pipeline
        self.source = source
        self.clock = clock
        self.mode = mode

    def collect(self) -> Iterator[Metric]:
        p = self.pipeline
        st = p.stats
        info = InfoMetricFamily("surgewatch_build", "surgewatch version and mode")
        info.add_metric([], {"version": VERSION, "mode": self.mode})
        yield info

        ev = CounterMetricFamily("surgewatch_events", "Events consumed, by result (ok/invalid/late/duplicate), channel and category",
                                 labels=["result", "channel", "category"])
        for (result, ch, cat), n in sorted(st.events.items()):
            ev.add_metric([result, ch, cat], n)
        yield ev

        dl = CounterMetricFamily("surgewatch_dead_letters", "Messages sent to the dead-letter sink, by error",
                                 labels=["error"])
        for err, n in sorted(st.dead_letters.items()):
            dl.add_metric([err], n)
        yield dl

        al = CounterMetricFamily("surgewatch_alerts", "Alert emissions, by detector, severity and status",
                                 labels=["detector", "severity", "status"])
        for (det, sev, status), n in sorted(st.alerts.items()):
            al.add_metric([det, sev, status], n)
        yield al

        fi = CounterMetricFamily("surgewatch_findings", "Raw detector findings before episode de-duplication",
                                 labels=["detector"])
        for det, n in sorted(st.findings.items()):
            fi.add_metric([det], n)
        yield fi

        de = CounterMetricFamily("surgewatch_detector_errors", "Exceptions raised by a detector (event skipped for it)",
                                 labels=["detector"])
        for det in p.detectors:
            de.add_metric([det.name], st.detector_errors.get(det.name, 0))
        yield de

        active = p.episodes.active_by_detector()
        ae = GaugeMetricFamily("surgewatch_active_episodes", "Alert episodes currently firing", labels=["detector"])
        for det in p.detectors:
            ae.add_metric([det.name], active.get(det.name, 0))
        yield ae

        keys = GaugeMetricFamily("surgewatch_detector_state", "Detector state sizes (tracked keys, clusters, ...)",
                                 labels=["detector", "kind"])
        for det in p.detectors:
            for kind, v in sorted(det.stats().items()):
                if not kind.endswith("_total"):
                    keys.add_metric([det.name, kind], float(v))
        yield keys
        ev_total = CounterMetricFamily("surgewatch_detector_evictions", "Cold state evicted by detectors",
                                       labels=["detector"])
        for det in p.detectors:
            ev_total.add_metric([det.name], float(det.stats().get("evicted_total", 0)))
        yield ev_total

        # a fixed top-K of current surges: the only per-key labels, bounded by TOP_K
        top = sorted(p.episodes.open.values(), key=lambda e: (-e.score, e.alert_id))[:TOP_K]
        ts = GaugeMetricFamily("surgewatch_top_surge_score",
                               f"Score of the {TOP_K} strongest open episodes (pseudonymised keys)",
                               labels=["rank", "detector", "key"])
        for i, ep in enumerate(top, 1):
            ts.add_metric([str(i), ep.detector, ep.key], float(ep.score))
        yield ts

        share = GaugeMetricFamily("surgewatch_category_share",
                                  "Smoothed share of each complaint category per institution", labels=["institution", "category"])
        for det in p.detectors:
            shares = getattr(det, "shares", None)
            if callable(shares):
                for inst, cats in sorted(shares().items())[:MAX_INSTITUTIONS]:
                    for cat, v in sorted(cats.items()):
                        share.add_metric([inst, cat], float(v))
        yield share

        hist = HistogramMetricFamily("surgewatch_processing_seconds", "Time to process one event through every detector")
        cum, buckets = 0, []
        for bound, n in zip(LATENCY_BUCKETS, st.latency_counts):
            cum += n
            buckets.append((repr(bound), cum))
        cum += st.latency_counts[-1]
        buckets.append(("+Inf", cum))
        hist.add_metric([], buckets, st.latency_sum)
        yield hist

        if st.watermark > float("-inf"):
            yield GaugeMetricFamily("surgewatch_event_time_watermark_seconds",
                                    "Latest event time seen (Unix seconds)", value=st.watermark)
            yield GaugeMetricFamily("surgewatch_event_time_lag_seconds",
                                    "Wall clock minus the latest event time", value=self.clock() - st.watermark)

        src = self.source
        if src is not None:
            yield GaugeMetricFamily("surgewatch_kafka_connected", "1 while the consumer reaches the broker",
                                    value=1.0 if getattr(src, "connected", False) else 0.0)
            lag = GaugeMetricFamily("surgewatch_kafka_consumer_lag", "Messages behind the end of each partition",
                                    labels=["topic", "partition"])
            for (topic, part), n in sorted(src.partition_lag().items()):
                lag.add_metric([topic, str(part)], n)
            yield lag
            yield CounterMetricFamily("surgewatch_sink_flush_failures",
                                      "Sink flushes that failed (nothing committed, retried with backoff)",
                                      value=float(getattr(src, "flush_failures", 0)))


def serve_metrics(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1"):
    """Start the /metrics HTTP server in a daemon thread; port 0 disables it."""
    if not port:
        return None
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return server
