"""yagi-event's Prometheus metrics (served with ``--metrics-port``).

Rules: the values are those of the statistics line (:mod:`yagi.worker`),
recorded at the same point (the end of each queue's part of a batch, when the
handlers' counters are collected); every metric but ``yagi_held_batches_total``
has a ``queue`` label. ``yagi_held_batches_total`` is read at scrape time from
the consumer's own counter (a batch spans queues). A counter key the worker
does not know (a third-party handler's) goes to ``yagi_handler_counts_total``
with its key as the ``counter`` label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

__all__ = ["NAMES", "YagiMetrics"]

#: Statistics key -> (metric name, help).
NAMES = {
    "messages": ("yagi_notifications", "Notifications received from the broker."),
    "archived": ("yagi_archived", "Notifications written to the raw archive."),
    "saved": ("yagi_saved", "Events stored in the winchester database."),
    "duplicates": ("yagi_duplicates", "Notifications already stored (redelivered)."),
    "late_events": (
        "yagi_late_events",
        "Events stored after their stream was already ready (late arrivals).",
    ),
    "unmatched": ("yagi_unmatched", "Events stored that matched no trigger."),
    "discarded": ("yagi_discarded", "Notifications dropped by [discard_filters]."),
}

#: Batch latency buckets (seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Held(Collector):
    def __init__(self, held: Callable[[], int]) -> None:
        self._held = held

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "yagi_held_batches",
            "Batch attempts held (not acked, retried) because a database, the "
            "broker or the archive disk was away.",
            value=self._held(),
        )


class YagiMetrics:
    """The metrics of one yagi-event process, in their own registry."""

    def __init__(self, held: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self._counters = {
            key: Counter(name, text, ["queue"], registry=self.registry)
            for key, (name, text) in NAMES.items()
        }
        self._dead = Counter(
            "yagi_dead_lettered",
            "Notifications dead-lettered to <queue>.failed, by the reason's kind "
            "(the text before its first colon: 'not JSON', 'distiller', a handler).",
            ["queue", "reason"],
            registry=self.registry,
        )
        self._other = Counter(
            "yagi_handler_counts",
            "Other counters of the handlers, by key.",
            ["queue", "counter"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "yagi_batch_latency_seconds",
            "Seconds to handle one queue's part of a batch (decode, archive, store).",
            ["queue"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Held(held))

    def record(self, queue: str, counts: Mapping[str, int]) -> None:
        """Add one batch's statistics (``dead_lettered`` is recorded by reason)."""
        for key, value in counts.items():
            if not value or key == "dead_lettered":
                continue
            counter = self._counters.get(key)
            if counter is not None:
                counter.labels(queue).inc(value)
            else:
                self._other.labels(queue, key).inc(value)

    def dead_lettered(self, queue: str, reason: str) -> None:
        self._dead.labels(queue, reason_kind(reason)).inc()

    def latency(self, queue: str, seconds: float) -> None:
        self._latency.labels(queue).observe(seconds)


def reason_kind(reason: str) -> str:
    """``not JSON: ...`` -> ``not JSON``: a bounded label for a reason."""
    return reason.split(":", 1)[0].strip()[:60] or "unknown"
