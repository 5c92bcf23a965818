"""Event counts per type and time bucket, kept in step with the ``event`` table.

``GET /v1/events/count?event_name=...`` on a busy type would otherwise count
hundreds of thousands of index entries. The ``event_type_count`` table holds, for
each event type, how many events were generated in each hour and in each minute
(``span`` 60 and 1, in minutes), so a count reads a few hundred rows whatever
the table's size:

* whole hours inside the asked range come from the hour rows, the whole minutes
  at its two ends from the minute rows, and the seconds left over at each end
  (less than a minute of one type) from the ``event(event_type_id, generated,
  id)`` index;
* ingest adds the counts of the events it inserts in the same transaction
  (:func:`add_event_counts`, in the caller's transaction), and retention
  subtracts the events it deletes in the transaction that deletes them
  (:func:`subtract_event_counts`, deleting rows that reach zero), so the counts
  are exact at every commit;
* concurrent writers add to different rows: each call picks one of
  :data:`SLOTS` rows per bucket at random (``INSERT ... ON DUPLICATE KEY UPDATE
  n = n + ...``, or ``ON CONFLICT DO UPDATE``, rows in key order), so two
  ingesters, or two Galera nodes, seldom wait on or certify against the same
  row; a count sums the slots.

Migration 0005 fills the table from the events already stored.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from winchester.storage import schema
from winchester.storage.bulk import insert_head, unnest_insert

#: ``(event_type_id, span, bucket) -> n``
Buckets = Counter[tuple[int, int, datetime]]

__all__ = [
    "HOUR",
    "MINUTE",
    "SLOTS",
    "Buckets",
    "add_buckets",
    "add_event_counts",
    "bucket_counts",
    "count_by_type",
    "subtract_event_counts",
    "totals_by_type",
]

#: The two bucket sizes, in minutes (the ``span`` column).
HOUR = 60
MINUTE = 1
#: Rows per bucket that writers spread over.
SLOTS = 16
#: Buckets per statement when retention takes events out.
_CHUNK = 200

_ONE = {HOUR: timedelta(hours=1), MINUTE: timedelta(minutes=1)}
_KEY = ("event_type_id", "span", "bucket", "slot")


def _floor(value: datetime, span: int) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    else:
        value = value.replace(tzinfo=UTC)
    if span == HOUR:
        return value.replace(minute=0, second=0, microsecond=0)
    return value.replace(second=0, microsecond=0)


def bucket_counts(events: Iterable[tuple[int, datetime]]) -> Buckets:
    """The hour and minute counts of ``(event_type_id, generated)`` pairs."""
    found: Buckets = Counter()
    for type_id, generated in events:
        found[(type_id, HOUR, _floor(generated, HOUR))] += 1
        found[(type_id, MINUTE, _floor(generated, MINUTE))] += 1
    return found


def _upsert(conn: Connection) -> Any:
    table = schema.event_type_count
    name = conn.dialect.name
    if name == "mysql":
        statement = mysql.insert(table)
        return statement.on_duplicate_key_update(n=table.c.n + statement.inserted.n)
    if name in ("postgresql", "sqlite"):
        module: Any = postgresql if name == "postgresql" else sqlite
        statement = module.insert(table)
        return statement.on_conflict_do_update(
            index_elements=list(_KEY), set_={"n": table.c.n + statement.excluded.n}
        )
    raise NotImplementedError(f"unsupported database {name!r}")


def add_buckets(conn: Connection, counts: Buckets) -> int:
    """Add :func:`bucket_counts` in the caller's transaction; statements sent."""
    if not counts:
        return 0
    slot = random.randrange(SLOTS)
    ordered = sorted(counts.items())
    if conn.dialect.name == "postgresql":
        # One statement of arrays, not a statement per bucket (a batch has
        # hundreds: event types times minutes).
        arrays = (
            [type_id for (type_id, _, _), _ in ordered],
            [span for (_, span, _), _ in ordered],
            [schema.naive_utc(bucket) for (_, _, bucket), _ in ordered],
            [slot] * len(ordered),
            [n for _, n in ordered],
        )
        conn.exec_driver_sql(_postgresql_upsert(conn), arrays)
        return 1
    if getattr(conn.dialect, "is_mariadb", False) and conn.dialect.driver == "pymysql":
        # A multi-row literal of integers and times (nothing to escape), not
        # PyMySQL's escaping of every value of every row.
        head = _mariadb_upsert(conn)
        statements = 0
        for start in range(0, len(ordered), _LITERAL_ROWS):
            values = ",".join(
                _LITERAL_ROW % (type_id, span, schema.naive_utc(bucket), slot, n)
                for (type_id, span, bucket), n in ordered[start : start + _LITERAL_ROWS]
            )
            conn.exec_driver_sql(head[0] + values + head[1])
            statements += 1
        return statements
    rows = [
        {
            "event_type_id": type_id,
            "span": span,
            "bucket": bucket,
            "slot": slot,
            "n": n,
        }
        for (type_id, span, bucket), n in ordered
    ]
    conn.execute(_upsert(conn), rows)
    return 1


#: Rows per MariaDB literal upsert (about 50 bytes each), and a row: integers
#: by ``%d`` (nothing but digits and a sign; text or None is refused) and the
#: naive UTC time as MariaDB reads it.
_LITERAL_ROWS = 5_000
_LITERAL_ROW = "(%d,%d,'%s',%d,%d)"


def _mariadb_upsert(conn: Connection) -> tuple[str, str]:
    """``INSERT INTO t (...) VALUES `` and its ``ON DUPLICATE KEY UPDATE`` end."""
    n = conn.dialect.identifier_preparer.quote("n")
    return (
        insert_head(conn, schema.event_type_count, (*_KEY, "n")) + " VALUES ",
        f" ON DUPLICATE KEY UPDATE {n} = {n} + VALUES({n})",
    )


def _postgresql_upsert(conn: Connection) -> str:
    """``INSERT ... SELECT * FROM unnest(arrays) ON CONFLICT ... DO UPDATE``."""
    table = schema.event_type_count
    quote = conn.dialect.identifier_preparer
    key = ", ".join(quote.quote(name) for name in _KEY)
    n = quote.quote("n")
    return (
        f"{unnest_insert(conn, table, (*_KEY, 'n'))} ON CONFLICT ({key}) "
        f"DO UPDATE SET {n} = {quote.format_table(table)}.{n} + excluded.{n}"
    )


def add_event_counts(conn: Connection, events: Iterable[tuple[int, datetime]]) -> int:
    """Count ``(event_type_id, generated)`` of newly inserted events, in the
    caller's transaction; returns the statements sent (0 or 1)."""
    return add_buckets(conn, bucket_counts(events))


def subtract_event_counts(
    conn: Connection, events: Iterable[tuple[int, datetime]]
) -> int:
    """Take deleted events out of the counts, in the deleting transaction;
    returns the statements sent.

    The bucket's slot rows are locked (``FOR UPDATE``, in key order, as ingest
    takes them) and taken down one after the other, never below zero; a row
    that reaches zero is deleted. Each step is a row's own update or delete,
    so an ingester adding to the same bucket meanwhile (a late event) waits
    for the row or makes a new one, and its count is never lost.
    """
    counts = bucket_counts(events)
    if not counts:
        return 0
    table = schema.event_type_count
    key = (table.c.event_type_id, table.c.span, table.c.bucket)
    keys = sorted(counts)
    statements = 0
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows = conn.execute(
            sa.select(*key, table.c.slot, table.c.n)
            .where(sa.tuple_(*key).in_(chunk))
            .order_by(*key, table.c.slot)
            .with_for_update()
        ).all()
        statements += 1
        gone: list[tuple[int, int, datetime, int]] = []
        lowered: list[dict[str, Any]] = []
        left = {k: counts[k] for k in chunk}
        for type_id, span, bucket, slot, n in rows:
            bucket_key = (type_id, span, _floor(bucket, span))  # aware, as keys
            wanted = left.get(bucket_key, 0)
            if wanted <= 0 or n <= 0:
                continue
            take = min(n, wanted)
            left[bucket_key] = wanted - take
            if take == n:
                gone.append((type_id, span, bucket, slot))
            else:
                lowered.append(
                    {"t": type_id, "s": span, "b": bucket, "slot_": slot, "take": take}
                )
        if gone:
            conn.execute(table.delete().where(sa.tuple_(*key, table.c.slot).in_(gone)))
            statements += 1
        if lowered:
            conn.execute(
                table.update()
                .where(
                    table.c.event_type_id == sa.bindparam("t"),
                    table.c.span == sa.bindparam("s"),
                    table.c.bucket == sa.bindparam("b"),
                    table.c.slot == sa.bindparam("slot_"),
                )
                .values(n=table.c.n - sa.bindparam("take")),
                lowered,
            )
            statements += 1
    return statements


def _sum(
    type_ids: Sequence[int] | None,
    span: int,
    start: datetime | None,
    stop: datetime | None,
) -> Any:
    """``SUM(n)`` of the ``span`` rows with ``start <= bucket < stop``."""
    table = schema.event_type_count
    where = [table.c.span == span]
    if type_ids is not None:
        where.append(_type_clause(table.c.event_type_id, type_ids))
    if start is not None:
        where.append(table.c.bucket >= start)
    if stop is not None:
        where.append(table.c.bucket < stop)
    return sa.select(sa.func.coalesce(sa.func.sum(table.c.n), 0)).where(*where)


def _scan(type_ids: Sequence[int] | None, *bounds: Any) -> Any:
    """``COUNT(*)`` of events in a short range (``bounds``: conditions on
    ``generated``), through the event indexes."""
    event = schema.event
    where = list(bounds)
    if type_ids is not None:
        where.append(_type_clause(event.c.event_type_id, type_ids))
    return sa.select(sa.func.count()).select_from(event).where(*where)


def _type_clause(column: Any, type_ids: Sequence[int]) -> Any:
    return column == type_ids[0] if len(type_ids) == 1 else column.in_(type_ids)


def _next(value: datetime | None, span: int) -> datetime | None:
    """The first bucket wholly after ``value`` (exclusive lower bound)."""
    return None if value is None else _floor(value, span) + _ONE[span]


def count_by_type(
    conn: Connection,
    type_ids: Sequence[int] | None,
    after: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Events of ``type_ids`` (None: every type) with ``after < generated <=
    until`` (either bound may be None): the hour rows for whole hours, minute
    rows for whole minutes at the ends, the index for the rest - one query."""
    generated = schema.event.c.generated
    # The seconds at each end that no whole minute covers: after < g < lo_m,
    # hi_m <= g <= until.
    head = [] if after is None else [generated > after]
    tail = [] if until is None else [generated <= until]
    parts: list[Any] = []
    lo_h, hi_h = _next(after, HOUR), None if until is None else _floor(until, HOUR)
    lo_m, hi_m = _next(after, MINUTE), None if until is None else _floor(until, MINUTE)
    if lo_h is not None and hi_h is not None and lo_h >= hi_h:
        if lo_m is not None and hi_m is not None and lo_m >= hi_m:
            parts.append(_scan(type_ids, *head, *tail))
        else:
            parts.append(_sum(type_ids, MINUTE, lo_m, hi_m))
            parts.append(_scan(type_ids, *head, generated < lo_m))
            parts.append(_scan(type_ids, generated >= hi_m, *tail))
    else:
        parts.append(_sum(type_ids, HOUR, lo_h, hi_h))
        if after is not None:
            parts.append(_sum(type_ids, MINUTE, lo_m, lo_h))
            parts.append(_scan(type_ids, *head, generated < lo_m))
        if until is not None:
            parts.append(_sum(type_ids, MINUTE, hi_h, hi_m))
            parts.append(_scan(type_ids, generated >= hi_m, *tail))
    total: Any = parts[0].scalar_subquery()
    for part in parts[1:]:
        total = total + part.scalar_subquery()
    return int(conn.execute(sa.select(total)).scalar_one())


def totals_by_type(conn: Connection) -> dict[int, int]:
    """Every event type id with events, and how many (the hour rows' sums)."""
    table = schema.event_type_count
    rows = conn.execute(
        sa.select(table.c.event_type_id, sa.func.sum(table.c.n))
        .where(table.c.span == HOUR)
        .group_by(table.c.event_type_id)
    )
    return {int(type_id): int(total) for type_id, total in rows if total}
