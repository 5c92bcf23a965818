"""Where "now" comes from.

* :class:`WallClock` - the machine's UTC time; what a live deployment uses.
* :class:`EventClock` - *event time*: the latest event timestamp ingested so far
  (a high-water mark kept in the ``clock`` table, raised by every ingest batch in
  the same transaction that stores the batch). Replays of old archives use it,
  so streams fire and expire as they did originally, however fast the replay
  runs. It replaces the original's separate time-sync HTTP service.
* :class:`FixedClock` - a clock tests set by hand.

Ingest calls :meth:`Clock.observe` with the newest timestamp of each batch
before asking for :meth:`Clock.now`; only the event clock takes notice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from winchester.storage import schema
from winchester.storage.dialect import insert_ignore

__all__ = ["Clock", "EventClock", "FixedClock", "WallClock", "make_clock"]

EVENT_TIME = "event_time"


class Clock(Protocol):
    """Tells the time."""

    def now(self) -> datetime:
        """The current time, aware UTC."""
        ...

    def observe(self, newest: datetime) -> None:
        """Take note of the newest event timestamp of a batch about to be stored."""
        ...

    def persist(self, conn: Connection) -> None:
        """Write what must survive the process, inside the ingest transaction."""
        ...


class WallClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def observe(self, newest: datetime) -> None:
        """The wall clock ignores event times."""

    def persist(self, conn: Connection) -> None:
        """Nothing to keep."""


class FixedClock(WallClock):
    """A clock that says what it is told (tests)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, now: datetime) -> None:
        """Move the clock."""
        self.current = now


class EventClock:
    """Event time: the high-water mark of ingested event timestamps.

    ``now()`` reads the database at most every ``refresh`` seconds (other
    processes raise the mark too). Before anything was ingested it is the epoch.
    """

    EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

    def __init__(self, engine: Engine, *, refresh: float = 1.0) -> None:
        self.engine = engine
        self.refresh = refresh
        self._mark = self.EPOCH
        self._read_at = float("-inf")

    def now(self) -> datetime:
        if time.monotonic() - self._read_at >= self.refresh:
            with self.engine.connect() as conn:
                stored = conn.execute(
                    sa.select(schema.clock.c.value).where(
                        schema.clock.c.name == EVENT_TIME
                    )
                ).scalar()
            if stored is not None and stored > self._mark:
                self._mark = stored
            self._read_at = time.monotonic()
        return self._mark

    def observe(self, newest: datetime) -> None:
        self.now()
        self._mark = max(self._mark, newest)

    def persist(self, conn: Connection) -> None:
        table = schema.clock
        conn.execute(
            insert_ignore(conn, table, ["name"]),
            [{"name": EVENT_TIME, "value": self._mark}],
        )
        conn.execute(
            table.update()
            .where(table.c.name == EVENT_TIME, table.c.value < self._mark)
            .values(value=self._mark)
        )


def make_clock(kind: str, engine: Engine) -> Clock:
    """``"wall"`` or ``"event"``."""
    if kind == "wall":
        return WallClock()
    if kind == "event":
        return EventClock(engine)
    raise ValueError(f"unknown clock {kind!r}; expected 'wall' or 'event'")
