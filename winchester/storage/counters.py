"""Counters every process adds to: per-trigger counters and the event-time mark.

Transaction rules: both run inside the caller's (ingest) transaction, so they
commit or roll back with the batch they count.

* :func:`add_trigger_counters` creates missing ``(trigger, counter)`` rows (an
  insert that skips only the duplicate key) and adds to all of them in one
  ``UPDATE ... SET value = value + :n`` per row - never read-modify-write, so
  concurrent processes add up exactly.
* :func:`raise_clock_mark` raises the named high-water mark to ``value`` (never
  lowers it: ``UPDATE ... WHERE value < :value``); :func:`read_clock_mark` reads it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from winchester.storage import schema
from winchester.storage.dialect import insert_ignore

__all__ = [
    "COUNTER_LENGTH",
    "EVENT_TIME",
    "add_trigger_counters",
    "raise_clock_mark",
    "read_clock_mark",
    "read_trigger_counters",
]

#: The name of the event-time high-water mark in the ``clock`` table.
EVENT_TIME = "event_time"
#: Counter names are cut to the column's length (they are labels, not data).
COUNTER_LENGTH = 191


def add_trigger_counters(conn: Connection, counters: Counter[tuple[str, str]]) -> int:
    """Add ``{(trigger, counter): n}``; returns the number of statements run."""
    if not counters:
        return 0
    table = schema.trigger_counter
    conn.execute(
        insert_ignore(conn, table, ["trigger_name", "counter"]),
        [
            {"trigger_name": t, "counter": c[:COUNTER_LENGTH], "value": 0}
            for t, c in sorted(counters)
        ],
    )
    conn.execute(
        table.update()
        .where(
            table.c.trigger_name == sa.bindparam("b_trigger"),
            table.c.counter == sa.bindparam("b_counter"),
        )
        .values(value=table.c.value + sa.bindparam("b_add")),
        [
            {"b_trigger": t, "b_counter": c[:COUNTER_LENGTH], "b_add": n}
            for (t, c), n in sorted(counters.items())
        ],
    )
    return 2


def read_trigger_counters(conn: Connection) -> dict[tuple[str, str], int]:
    """Every ``(trigger, counter) -> value``."""
    table = schema.trigger_counter
    rows = conn.execute(sa.select(table.c.trigger_name, table.c.counter, table.c.value))
    return {(t, c): v for t, c, v in rows}


def read_clock_mark(conn: Connection, name: str = EVENT_TIME) -> datetime | None:
    """The stored high-water mark ``name``, or None before the first one."""
    table = schema.clock
    value: datetime | None = conn.execute(
        sa.select(table.c.value).where(table.c.name == name)
    ).scalar()
    return value


def raise_clock_mark(conn: Connection, value: datetime, name: str = EVENT_TIME) -> int:
    """Raise the mark ``name`` to ``value`` if it is lower; statements run."""
    table = schema.clock
    conn.execute(insert_ignore(conn, table, ["name"]), [{"name": name, "value": value}])
    conn.execute(
        table.update()
        .where(table.c.name == name, table.c.value < value)
        .values(value=value)
    )
    return 2
