"""pipeline-worker's Prometheus metrics (served with ``--metrics-port``).

Rules: one counter per key of the worker's statistics line
(:data:`winchester.pipeline.STATISTICS`), named ``pipeline_worker_<key>_total``
and recorded where the line counts (``PipelineWorker._count``), so the metrics
and the log always agree; plus ``pipeline_worker_pipeline_duration_seconds``,
the time of each stream's pipeline run (``kind`` fire or expire). Every metric
has the ``worker`` label (the worker's ``--name``).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["BUCKETS", "WorkerMetrics"]

#: Pipeline duration buckets (seconds).
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)


class WorkerMetrics:
    """The metrics of one pipeline-worker process, in their own registry."""

    def __init__(self, worker: str, statistics: Mapping[str, str]) -> None:
        self.worker = worker
        self.registry = CollectorRegistry()
        self._counters = {
            key: Counter(
                f"pipeline_worker_{key}",
                f"Streams or events counted as '{label}' in the statistics line.",
                ["worker"],
                registry=self.registry,
            ).labels(worker)
            for key, label in statistics.items()
        }
        self._duration = Histogram(
            "pipeline_worker_pipeline_duration_seconds",
            "Seconds to run one stream's fire or expire pipeline (handle_events "
            "and commit).",
            ["worker", "kind"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def count(self, key: str, n: int) -> None:
        counter = self._counters.get(key)
        if counter is not None:
            counter.inc(n)

    def duration(self, kind: str, seconds: float) -> None:
        self._duration.labels(self.worker, kind).observe(seconds)
