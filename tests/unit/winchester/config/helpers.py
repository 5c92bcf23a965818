"""Builders for the config tests: aware datetimes and events."""

from __future__ import annotations

from datetime import UTC, datetime

from distiller import Event, TraitValue


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def event(
    event_type: str,
    when: datetime | None = None,
    message_id: str = "m-1",
    **traits: TraitValue,
) -> Event:
    """A distilled event (timestamp 2014-08-01 10:00 UTC unless given)."""
    return Event(event_type, message_id, when or utc(2014, 8, 1, 10), dict(traits))
