"""Summaries for the API (quince): event types and their traits, metrics, ping.

Each takes a ``Connection`` and only reads. They read the per-type counts
(``event_type_count``) and seek or scan indexes (``event(event_type_id,
generated, id)``, ``stream(state, ...)``), cheap enough for a page or a
Prometheus scrape; :mod:`winchester.storage.queries` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stacktach.timeutils import parse_timestamp
from winchester.states import StreamState
from winchester.storage import event_counts, schema
from winchester.storage.values import decode_traits

__all__ = [
    "TRAIT_SAMPLE",
    "EventTypeSummary",
    "MetricsSnapshot",
    "event_type_summaries",
    "event_type_traits",
    "metrics_snapshot",
    "ping",
]


@dataclass(frozen=True, slots=True)
class EventTypeSummary:
    """One event type: how many events, the first and last ``generated``."""

    name: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None


def event_type_summaries(conn: Connection) -> list[EventTypeSummary]:
    """Every event type with events, its count and time span, by name: the
    counts from ``event_type_count``, the span from two seeks per type into
    the ``event(event_type_id, generated, id)`` index."""
    event, types = schema.event, schema.event_type
    totals = event_counts.totals_by_type(conn)
    if not totals:
        return []

    def edge(func: Any) -> Any:
        return (
            sa.select(func(event.c.generated))
            .where(event.c.event_type_id == types.c.id)
            .scalar_subquery()
        )

    query = (
        sa.select(types.c.id, types.c.name, edge(sa.func.min), edge(sa.func.max))
        .where(types.c.id.in_(list(totals)))
        .order_by(types.c.name)
    )
    generated = schema.UTCDateTime()
    dialect = conn.dialect
    return [
        EventTypeSummary(
            name,
            totals[type_id],
            _as_utc(first, generated, dialect),
            _as_utc(last, generated, dialect),
        )
        for type_id, name, first, last in conn.execute(query)
    ]


def _as_utc(value: Any, decorator: Any, dialect: Any) -> datetime | None:
    """Aggregates lose the column type on some backends (SQLite gives text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_timestamp(value)
    result: datetime | None = decorator.process_result_value(value, dialect)
    return result


#: How many recent events of a type ``event_type_traits`` reads.
TRAIT_SAMPLE = 1000

_TYPE_NAMES = {str: "text", int: "int", float: "float", datetime: "datetime"}


def event_type_traits(conn: Connection, name: str) -> list[tuple[str, str]] | None:
    """The trait names and types (text, int, float, datetime) seen in the latest
    :data:`TRAIT_SAMPLE` events of type ``name``, by name; None for an unknown
    type. (Traits are one JSON value per event: no table lists them per type.)"""
    types, event = schema.event_type, schema.event
    row = conn.execute(sa.select(types.c.id).where(types.c.name == name)).first()
    if row is None:
        return None
    query = (
        sa.select(event.c.traits)
        .where(event.c.event_type_id == row[0])
        .order_by(event.c.generated.desc(), event.c.id.desc())
        .limit(TRAIT_SAMPLE)
    )
    seen: set[tuple[str, str]] = set()
    for (traits,) in conn.execute(query):
        for trait, value in decode_traits(traits).items():
            seen.add((trait, _TYPE_NAMES.get(value.__class__, "text")))
    return sorted(seen)


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What ``/metrics`` shows of the database, read in a few cheap queries."""

    events_by_type: dict[str, int]
    streams_by_state: dict[StreamState, int]
    oldest_waiting: datetime | None


def metrics_snapshot(conn: Connection, now: datetime) -> MetricsSnapshot:
    """Events by type, streams by state, and the fire time of the oldest stream
    waiting to fire (``active`` past its ``fire_timestamp``, or ``retry_fire``)."""
    types, stream = schema.event_type, schema.stream
    # Counted per type id from event_type_count, then named.
    names: dict[int, str] = {
        id_: name for id_, name in conn.execute(sa.select(types.c.id, types.c.name))
    }
    by_type = {
        names[type_id]: count
        for type_id, count in event_counts.totals_by_type(conn).items()
        if type_id in names
    }
    by_state = {
        StreamState(state): int(count)
        for state, count in conn.execute(
            sa.select(stream.c.state, sa.func.count()).group_by(stream.c.state)
        )
    }
    oldest = conn.execute(
        sa.select(sa.func.min(stream.c.fire_timestamp)).where(
            stream.c.state.in_([int(StreamState.ACTIVE), int(StreamState.RETRY_FIRE)]),
            stream.c.fire_timestamp <= now,
        )
    ).scalar_one_or_none()
    return MetricsSnapshot(
        by_type, by_state, _as_utc(oldest, schema.UTCDateTime(), conn.dialect)
    )


def ping(conn: Connection) -> None:
    """Raise unless the database answers a trivial query."""
    conn.execute(sa.select(sa.literal(1))).scalar_one()
