"""Where "now" comes from.

* :class:`WallClock` - the machine's UTC time; what a live deployment uses.
* :class:`EventClock` - *event time*: the latest event timestamp ingested so far
  (a high-water mark kept in the ``clock`` table, raised by every ingest batch in
  the same transaction that stores the batch). Replays of old archives use it,
  so streams fire and expire as they did originally, however fast the replay
  runs. It replaces the original's separate time-sync HTTP service.
* :class:`FixedClock` - a clock tests set by hand.

How ingest uses a clock, per batch (``newest`` is the batch's newest event time,
leaving out events more than ``clock_max_skew`` ahead of the wall clock, which
ingest counts as ``future_events`` and never lets move the clock):

1. :meth:`Clock.batch_now` - the "now" the batch is stored under (event time:
   the mark, or ``newest`` if later), **without** moving the clock;
2. :meth:`Clock.persist` - inside the batch's transaction, raise the stored mark;
3. :meth:`Clock.committed` - only after that transaction committed, move the
   in-memory mark. A batch whose transaction fails leaves the clock where it was.

Other processes raise the stored mark too; the event clock re-reads it at most
every ``refresh`` seconds. The SQL lives in :mod:`winchester.storage.counters`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.engine import Connection, Engine

from winchester.storage.counters import EVENT_TIME, raise_clock_mark, read_clock_mark

__all__ = ["EVENT_TIME", "Clock", "EventClock", "FixedClock", "WallClock", "make_clock"]


class Clock(Protocol):
    """Tells the time."""

    #: "wall", "event" or "fixed" (tests)
    kind: str

    def now(self) -> datetime:
        """The current time, aware UTC."""
        ...

    def batch_now(self, newest: datetime | None) -> datetime:
        """The time a batch whose newest event is ``newest`` is stored under."""
        ...

    def persist(self, conn: Connection, newest: datetime | None) -> int:
        """Inside the ingest transaction, keep what must survive; statements run."""
        ...

    def committed(self, newest: datetime | None) -> None:
        """The batch with this newest event time was committed."""
        ...


class WallClock:
    """The machine's clock."""

    kind = "wall"

    def now(self) -> datetime:
        return datetime.now(UTC)

    def batch_now(self, newest: datetime | None) -> datetime:
        """The wall clock ignores event times."""
        return self.now()

    def persist(self, conn: Connection, newest: datetime | None) -> int:
        """Nothing to keep."""
        return 0

    def committed(self, newest: datetime | None) -> None:
        """Nothing to do."""


class FixedClock(WallClock):
    """A clock that says what it is told (tests)."""

    kind = "fixed"

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

    kind = "event"
    EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

    def __init__(self, engine: Engine, *, refresh: float = 1.0) -> None:
        self.engine = engine
        self.refresh = refresh
        self._mark = self.EPOCH
        self._read_at = float("-inf")

    def now(self) -> datetime:
        if time.monotonic() - self._read_at >= self.refresh:
            with self.engine.connect() as conn:
                stored = read_clock_mark(conn)
            if stored is not None and stored > self._mark:
                self._mark = stored
            self._read_at = time.monotonic()
        return self._mark

    def batch_now(self, newest: datetime | None) -> datetime:
        now = self.now()
        return newest if newest is not None and newest > now else now

    def persist(self, conn: Connection, newest: datetime | None) -> int:
        if newest is None or newest <= self._mark:
            return 0  # the stored mark is at least the in-memory one
        return raise_clock_mark(conn, newest)

    def committed(self, newest: datetime | None) -> None:
        if newest is not None and newest > self._mark:
            self._mark = newest


def make_clock(kind: str, engine: Engine) -> Clock:
    """``"wall"`` or ``"event"``."""
    if kind == "wall":
        return WallClock()
    if kind == "event":
        return EventClock(engine)
    raise ValueError(f"unknown clock {kind!r}; expected 'wall' or 'event'")
