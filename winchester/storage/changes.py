"""The live view's SQL: the stream change log, and reading new rows by id ranges.

The change log (``stream_change``)
    One row per stream state change, appended by :func:`record` (or
    :func:`update_logged`) **in the transaction that makes the change**, so it
    commits or rolls back with it, and every API process on every host sees
    every change, whichever process made it. The row copies the stream's
    trigger, distinguishing traits and (new) state: the stream may be purged
    afterwards. Changes: ``created`` (ingest opened it), ``ready`` (its fire
    criteria were met), ``firing``/``expiring`` (a worker claimed it), ``fired``
    / ``expired`` (its pipeline succeeded), ``retry`` (it failed and waits to
    run again), ``error`` (it failed for good), ``reset`` (an operator's reset).
    :func:`trim` deletes rows older than a cutoff, in bounded batches; it runs
    with the event trimming (:class:`winchester.storage.retention.EventTrimmer`).

Reading by id ranges
    quince's poller (:mod:`quince.live`) reads what it has not examined yet:
    ids above the highest it examined, plus the *holes* below it - ids another
    transaction may still commit, since auto-increment ids are handed out at
    insert time and transactions commit out of order. :func:`read_events` and
    :func:`read_changes` take those ranges (``(lo, hi)``, ``hi`` None for no
    bound) and an optional set of ranges to leave out, and return rows in id
    order; every range is a primary-key range scan.

Transaction rules: :func:`record` and :func:`update_logged` run inside the
caller's transaction and never commit; :func:`update_logged` locks the rows it
will change (``SELECT ... FOR UPDATE``) so the log holds exactly the rows the
UPDATE changed. The readers run on any connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stacktach import jsonutil
from winchester.states import StreamState
from winchester.storage import queries, schema

__all__ = [
    "CHANGES",
    "CREATED",
    "DELETED",
    "ERROR",
    "EXPIRED",
    "EXPIRING",
    "FIRED",
    "FIRING",
    "READY",
    "RESET",
    "RETRY",
    "Ranges",
    "StoredChange",
    "read_changes",
    "read_events",
    "recent_ids",
    "record",
    "trim",
    "update_logged",
]

CREATED = "created"
READY = "ready"
FIRING = "firing"
EXPIRING = "expiring"
FIRED = "fired"
EXPIRED = "expired"
RETRY = "retry"
ERROR = "error"
RESET = "reset"
DELETED = "deleted"
#: Every change name, in lifecycle order.
CHANGES = (
    CREATED,
    READY,
    FIRING,
    EXPIRING,
    FIRED,
    EXPIRED,
    RETRY,
    ERROR,
    RESET,
    DELETED,
)

#: ``(lo, hi)`` id ranges, both ends included; ``hi`` None: no upper bound.
Ranges = Sequence[tuple[int, int | None]]

_CHUNK = 500  # ids per IN (...) list
_REASON_MAX = 4000


@dataclass(frozen=True, slots=True)
class StoredChange:
    """One row of the change log."""

    id: int
    stream_id: int
    change: str
    state: StreamState
    trigger_name: str
    distinguishing_traits: dict[str, Any]
    reason: str | None
    at: datetime


def record(
    conn: Connection,
    change: str | Mapping[StreamState, str],
    stream_ids: Sequence[int],
    *,
    state: StreamState | None = None,
    reason: str | None = None,
    at: datetime | None = None,
    where: Sequence[Any] = (),
) -> None:
    """Log ``change`` for the streams ``stream_ids`` (one INSERT ... SELECT per
    500 ids, from the stream rows as they are now in this transaction).

    ``change`` may map the stream's current state to the change name (a stream
    in a state the mapping lacks is not logged); ``state`` overrides the
    logged state (for a change recorded before the UPDATE or the purge that
    makes it); ``where`` adds conditions on ``schema.stream``; ``at`` defaults
    to the wall clock.
    """
    if not stream_ids:
        return
    stream, log = schema.stream, schema.stream_change
    when = at or datetime.now(UTC)
    name: Any
    conditions = list(where)
    if isinstance(change, str):
        name = sa.literal(change, sa.String(16))
    else:
        name = sa.case(
            {int(s): sa.literal(c, sa.String(16)) for s, c in change.items()},
            value=stream.c.state,
        )
        conditions.append(stream.c.state.in_([int(s) for s in change]))
    logged_state: Any = (
        stream.c.state if state is None else sa.literal(int(state), sa.SmallInteger)
    )
    text = None if reason is None else reason[:_REASON_MAX]
    columns = ("stream_id", "change", "state", "trigger_name", "distinguishing_traits")
    fixed = {"reason": text, "at": when}
    unique = sorted(set(stream_ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        rows = sa.select(
            stream.c.id,
            name,
            logged_state,
            stream.c.trigger_name,
            stream.c.distinguishing_traits,
        ).where(stream.c.id.in_(chunk), *conditions)
        if conn.dialect.name == "mysql":
            # InnoDB hands an INSERT ... SELECT its ids in growing blocks and
            # drops the unused ones: a permanent hole per statement, which
            # every watcher's cursor would carry for a minute. Rows inserted
            # as VALUES get consecutive ids.
            found = conn.execute(rows).all()
            if found:
                conn.execute(
                    log.insert(),
                    [{**dict(zip(columns, r, strict=True)), **fixed} for r in found],
                )
        else:
            conn.execute(
                log.insert().from_select(
                    [*columns, "reason", "at"],
                    rows.add_columns(
                        sa.literal(text, sa.Text),
                        sa.literal(when, schema.UTCDateTime()),
                    ),
                )
            )


def update_logged(
    conn: Connection,
    change: str,
    where: Sequence[Any],
    values: Mapping[str, Any],
    *,
    reason: str | None = None,
) -> int:
    """``UPDATE stream SET values WHERE where``, logging ``change`` for exactly
    the rows it changes: they are locked first (``SELECT ... FOR UPDATE``), then
    updated by id. Returns how many rows changed."""
    stream = schema.stream
    ids = list(
        conn.execute(
            sa.select(stream.c.id).where(*where).order_by(stream.c.id).with_for_update()
        ).scalars()
    )
    changed = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        changed += int(
            conn.execute(
                stream.update().where(stream.c.id.in_(chunk), *where).values(**values)
            ).rowcount
        )
        record(conn, change, chunk, reason=reason)
    return changed


def _ranges_clause(column: Any, ranges: Ranges) -> Any:
    parts = [
        column >= lo if hi is None else column.between(lo, hi) for lo, hi in ranges
    ]
    if not parts:
        return sa.false()
    return parts[0] if len(parts) == 1 else sa.or_(*parts)


def _where(column: Any, ranges: Ranges, exclude: Ranges, after: int | None) -> Any:
    conditions = [_ranges_clause(column, ranges)]
    if exclude:
        conditions.append(sa.not_(_ranges_clause(column, exclude)))
    if after is not None:
        conditions.append(column > after)
    return sa.and_(*conditions)


def read_events(
    conn: Connection,
    ranges: Ranges,
    *,
    exclude: Ranges = (),
    after: int | None = None,
    limit: int = 500,
) -> list[queries.StoredEvent]:
    """Events whose id is in ``ranges`` and not in ``exclude`` (and above
    ``after``), in id order, at most ``limit``."""
    if not ranges:
        return []
    event, types = schema.event, schema.event_type
    name = (
        sa.select(types.c.name)
        .where(types.c.id == event.c.event_type_id)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(
            event.c.id, event.c.message_id, name, event.c.generated, event.c.traits
        )
        .where(_where(event.c.id, ranges, exclude, after))
        .order_by(event.c.id)
        .limit(limit)
    )
    return [
        queries.StoredEvent(id_, message_id, event_type, generated, traits)
        for id_, message_id, event_type, generated, traits in rows
    ]


def read_changes(
    conn: Connection,
    ranges: Ranges,
    *,
    exclude: Ranges = (),
    after: int | None = None,
    limit: int = 500,
) -> list[StoredChange]:
    """Change-log rows whose id is in ``ranges`` and not in ``exclude`` (and
    above ``after``), in id order, at most ``limit``."""
    if not ranges:
        return []
    log = schema.stream_change
    rows = conn.execute(
        sa.select(
            log.c.id,
            log.c.stream_id,
            log.c.change,
            log.c.state,
            log.c.trigger_name,
            log.c.distinguishing_traits,
            log.c.reason,
            log.c.at,
        )
        .where(_where(log.c.id, ranges, exclude, after))
        .order_by(log.c.id)
        .limit(limit)
    )
    return [
        StoredChange(
            row.id,
            row.stream_id,
            row.change,
            StreamState(row.state),
            row.trigger_name,
            jsonutil.loads(row.distinguishing_traits),
            row.reason,
            row.at,
        )
        for row in rows
    ]


def recent_ids(conn: Connection, table: str, depth: int) -> list[int]:
    """The highest ``depth`` ids of ``event`` or ``stream_change``, ascending
    (a backward walk of the primary key)."""
    column = (schema.event if table == "event" else schema.stream_change).c.id
    found = conn.execute(
        sa.select(column).order_by(column.desc()).limit(depth)
    ).scalars()
    return sorted(int(i) for i in found)


def trim(conn: Connection, before: datetime, *, limit: int = 1000) -> int:
    """Delete up to ``limit`` change-log rows logged before ``before``; how many."""
    log = schema.stream_change
    ids = list(
        conn.execute(
            sa.select(log.c.id).where(log.c.at < before).order_by(log.c.id).limit(limit)
        ).scalars()
    )
    deleted = 0
    for start in range(0, len(ids), _CHUNK):
        deleted += int(
            conn.execute(
                log.delete().where(log.c.id.in_(ids[start : start + _CHUNK]))
            ).rowcount
        )
    return deleted
