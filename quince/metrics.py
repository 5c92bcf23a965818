"""``GET /metrics``: what the database knows, in Prometheus text format.

A custom ``prometheus_client`` collector queries the database on every scrape
(:func:`winchester.storage.queries.metrics_snapshot`: three grouped index
scans), so every gunicorn worker answers the same without multiprocess mode.

=====================================  ==========================================
``stacktach_events``                   events stored, by ``event_type``
``stacktach_events_total_stored``      events stored, all types
``stacktach_streams``                  streams, by ``state``
``stacktach_streams_errored``          streams in error or expire_error
``stacktach_oldest_waiting_stream_     seconds since the oldest stream waiting to
seconds``                              fire should have fired (0: none waiting)
=====================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from quince.context import QuinceContext
from winchester.states import StreamState
from winchester.storage import queries

__all__ = ["DatabaseCollector", "Metrics"]


class DatabaseCollector(Collector):
    """Reads the database per scrape."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        snap = self.ctx.read(lambda conn: queries.metrics_snapshot(conn, now))
        by_type = GaugeMetricFamily(
            "stacktach_events", "Events stored, by event type.", labels=["event_type"]
        )
        for name, count in sorted(snap.events_by_type.items()):
            by_type.add_metric([name], count)
        yield by_type
        yield GaugeMetricFamily(
            "stacktach_events_total_stored",
            "Events stored, all types.",
            value=sum(snap.events_by_type.values()),
        )
        by_state = GaugeMetricFamily(
            "stacktach_streams", "Streams, by state.", labels=["state"]
        )
        for state in StreamState:
            by_state.add_metric(
                [state.name.lower()], snap.streams_by_state.get(state, 0)
            )
        yield by_state
        yield GaugeMetricFamily(
            "stacktach_streams_errored",
            "Streams in error or expire_error.",
            value=snap.streams_by_state.get(StreamState.ERROR, 0)
            + snap.streams_by_state.get(StreamState.EXPIRE_ERROR, 0),
        )
        age = 0.0
        if snap.oldest_waiting is not None:
            age = max(0.0, (now - snap.oldest_waiting).total_seconds())
        yield GaugeMetricFamily(
            "stacktach_oldest_waiting_stream_seconds",
            "Seconds since the oldest stream waiting to fire was due (0: none).",
            value=age,
        )


class Metrics:
    """``GET /metrics``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DatabaseCollector(ctx))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(self.registry)
