"""The pipeline's plain counters (``PipelineStats``), read by the metrics collector.

Kept apart from ``streamer.pipeline`` (which re-exports both names) so the
hot path module stays about the path. Not part of a checkpoint: counters
restart with the process, as Prometheus counters may.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

__all__ = ["PipelineStats", "LATENCY_BUCKETS"]

#: upper bounds (seconds) of the processing-time histogram's buckets (+Inf is implicit)
LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)


@dataclass
class PipelineStats:
    """Plain counters read by the metrics collector at scrape time.

    Per-event bookkeeping is a dict increment; Prometheus objects are only
    built when somebody scrapes, the way client_python's custom collectors do.
    """

    events: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (result, channel, category)
    dead_letters: dict[str, int] = field(default_factory=dict)  # error kind
    alerts: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (detector, severity, status)
    findings: dict[str, int] = field(default_factory=dict)
    detector_errors: dict[str, int] = field(default_factory=dict)
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    watermark: float = float("-inf")
    last_event_ts: float = float("-inf")

    def count_event(self, result: str, channel: str = "", category: str = "") -> None:
        k = (result, channel, category)
        self.events[k] = self.events.get(k, 0) + 1

    def observe_latency(self, seconds: float) -> None:
        """Count one processing time in the first bucket ``b`` with ``seconds <= b``
        (the last slot is +Inf). A binary search: this runs once per event."""
        self.latency_sum += seconds
        self.latency_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def observe_latency_many(self, total_seconds: float, n: int) -> None:
        """Count ``n`` events that took ``total_seconds`` together (one batch), each at
        the mean: ``n`` observations in the mean's bucket, the sum grows by the total."""
        self.latency_sum += total_seconds
        self.latency_counts[bisect_left(LATENCY_BUCKETS, total_seconds / n)] += n
