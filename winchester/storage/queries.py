"""Read-only lookups for the API (quince) and tools: one event, one stream.

Each function takes a ``Connection`` (any transaction, or none: they only read)
and returns a small frozen dataclass with decoded values (aware UTC datetimes,
typed traits), or None when nothing matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stacktach import jsonutil
from winchester.states import StreamState
from winchester.storage import schema
from winchester.storage.values import decode_traits

__all__ = [
    "StoredEvent",
    "StoredStream",
    "event_by_id",
    "event_by_message_id",
    "stream_by_id",
]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event."""

    id: int
    message_id: str
    event_type: str
    generated: datetime
    traits: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredStream:
    """One stream row, with its distinguishing traits decoded."""

    id: int
    trigger_name: str
    state: StreamState
    distinguishing_traits: dict[str, Any]
    first_event: datetime
    last_event: datetime
    expire_timestamp: datetime | None
    fire_timestamp: datetime | None
    event_count: int
    attempts: int
    last_error: str | None
    created_at: datetime


def _event_query() -> sa.Select[Any]:
    event, types = schema.event, schema.event_type
    return sa.select(
        event.c.id,
        event.c.message_id,
        types.c.name,
        event.c.generated,
        event.c.traits,
    ).join(types, types.c.id == event.c.event_type_id)


def _event(row: Any) -> StoredEvent | None:
    if row is None:
        return None
    id_, message_id, event_type, generated, traits = row
    return StoredEvent(id_, message_id, event_type, generated, decode_traits(traits))


def event_by_message_id(conn: Connection, message_id: str) -> StoredEvent | None:
    """The event stored under ``message_id``."""
    query = _event_query().where(schema.event.c.message_id == message_id)
    return _event(conn.execute(query).first())


def event_by_id(conn: Connection, event_id: int) -> StoredEvent | None:
    """The event with id ``event_id``."""
    return _event(
        conn.execute(_event_query().where(schema.event.c.id == event_id)).first()
    )


def stream_by_id(conn: Connection, stream_id: int) -> StoredStream | None:
    """The stream with id ``stream_id``."""
    stream = schema.stream
    row = (
        conn.execute(sa.select(stream).where(stream.c.id == stream_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return StoredStream(
        id=row["id"],
        trigger_name=row["trigger_name"],
        state=StreamState(row["state"]),
        distinguishing_traits=jsonutil.loads(row["distinguishing_traits"]),
        first_event=row["first_event"],
        last_event=row["last_event"],
        expire_timestamp=row["expire_timestamp"],
        fire_timestamp=row["fire_timestamp"],
        event_count=row["event_count"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )
