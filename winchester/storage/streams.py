"""Streams at ingest: lock the open ones, open new ones, grow them.

Transaction rules (all inside the ingest transaction):

* :func:`lock_open` reads the open streams of a batch's keys with
  ``SELECT ... FOR UPDATE``, **in key order** (so two ingesters lock in the same
  order and cannot deadlock on each other), so a pipeline worker cannot claim one
  between our read and our write.
* :func:`create` opens streams; the UNIQUE ``open_key`` makes two writers agree
  on one stream per key: a key another writer opened in the meantime raises
  :class:`~winchester.storage.engine.StartOver` (PostgreSQL, SQLite: ``ON
  CONFLICT DO NOTHING`` inserted fewer rows) or a duplicate-key error (MariaDB:
  a plain ``INSERT``), and both make the whole transaction run again, when the
  winner's stream is found open and extended.
* :func:`close_keys` closes the key of open streams that expired (they keep
  their state; a pipeline worker expires them).
* :func:`update` writes the new span, expiry, fire time and counts computed by
  :mod:`winchester.stream_math`; :func:`link_events` adds ``stream_event`` rows;
  :func:`add_dist_traits` indexes a new stream's distinguishing values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from winchester.storage import changes, schema
from winchester.storage.bulk import insert_integers
from winchester.storage.dialect import insert_ignore, returns_new_only
from winchester.storage.engine import StartOver

__all__ = [
    "add_dist_traits",
    "close_keys",
    "closed_keys",
    "create",
    "link_events",
    "lock_open",
    "update",
]

_CHUNK = 500  # keys per IN (...) list
_OPEN_COLUMNS = (
    "id",
    "open_key",
    "first_event",
    "last_event",
    "expire_timestamp",
    "fire_timestamp",
    "event_count",
    "fire_counts",
)


def lock_open(
    conn: Connection, keys: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], int]:
    """Lock the open streams of ``keys``; ``({open_key: row}, statements)``."""
    stream = schema.stream
    columns = [stream.c[name] for name in _OPEN_COLUMNS]
    found: dict[str, dict[str, Any]] = {}
    ordered = sorted(keys)
    statements = 0
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        rows = conn.execute(
            sa.select(*columns)
            .where(stream.c.open_key.in_(chunk))
            .order_by(stream.c.open_key)
            .with_for_update()
        ).mappings()
        found.update({row["open_key"]: dict(row) for row in rows})
        statements += 1
    return found, statements


def close_keys(conn: Connection, stream_ids: Sequence[int]) -> int:
    """Close the key of these (expired) open streams; statements run."""
    if not stream_ids:
        return 0
    stream = schema.stream
    conn.execute(
        stream.update().where(stream.c.id.in_(list(stream_ids))).values(open_key=None)
    )
    return 1


def create(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Open streams (rows from :func:`winchester.stream_math.new_stream_row`).

    Returns ``{open_key: stream id}``. Raises ``StartOver`` (or a duplicate-key
    error) when another writer opened one of these keys first.
    """
    if not rows:
        return {}
    stream = schema.stream
    if returns_new_only(conn):
        statement = insert_ignore(conn, stream, ["open_key"])
    else:
        statement = stream.insert()
    opened = {
        open_key: id_
        for id_, open_key in conn.execute(
            statement.returning(stream.c.id, stream.c.open_key), list(rows)
        )
    }
    if len(opened) != len(rows):
        raise StartOver("a stream this batch needs was opened concurrently")
    changes.record(conn, changes.CREATED, list(opened.values()))
    return opened


def closed_keys(conn: Connection, dist_keys: Sequence[str]) -> tuple[set[str], int]:
    """The keys among ``dist_keys`` that already had a stream, now closed."""
    stream = schema.stream
    closed: set[str] = set()
    statements = 0
    for start in range(0, len(dist_keys), _CHUNK):
        chunk = list(dist_keys[start : start + _CHUNK])
        closed.update(
            conn.execute(
                sa.select(stream.c.dist_key)
                .where(stream.c.dist_key.in_(chunk), stream.c.open_key.is_(None))
                .distinct()
            ).scalars()
        )
        statements += 1
    return closed, statements


def update(conn: Connection, updates: Sequence[dict[str, Any]]) -> int:
    """Write grown streams (rows from :func:`winchester.stream_math.extend`)."""
    if not updates:
        return 0
    stream = schema.stream
    ready = [u["b_id"] for u in updates if u["fire_timestamp"] is not None]
    changes.record(
        conn, changes.READY, ready, where=[stream.c.fire_timestamp.is_(None)]
    )
    if conn.dialect.driver == "pymysql":
        return _update_pymysql(conn, updates)
    conn.execute(
        stream.update()
        .where(stream.c.id == sa.bindparam("b_id"))
        .values(
            first_event=sa.bindparam("first_event"),
            last_event=sa.bindparam("last_event"),
            expire_timestamp=sa.bindparam("expire_timestamp"),
            fire_timestamp=sa.bindparam("fire_timestamp"),
            event_count=sa.bindparam("event_count"),
            fire_counts=sa.bindparam("fire_counts"),
        ),
        list(updates),
    )
    return len(updates)


_GROWN = (
    "first_event",
    "last_event",
    "expire_timestamp",
    "fire_timestamp",
    "event_count",
    "fire_counts",
)


def _update_pymysql(conn: Connection, updates: Sequence[dict[str, Any]]) -> int:
    """MariaDB: one ``UPDATE ... SET c = CASE id WHEN ... END`` per chunk.

    PyMySQL's executemany runs an UPDATE once per row (a round trip each);
    here the values are escaped by the connection's own ``escape`` (as its
    parameter binding would), datetimes as naive UTC like ``UTCDateTime``.
    """
    dbapi = conn.connection.dbapi_connection
    escape = getattr(dbapi, "escape")  # noqa: B009 - PyMySQL's, untyped
    quote = conn.dialect.identifier_preparer
    table = quote.format_table(schema.stream)
    key = quote.quote("id")
    for start in range(0, len(updates), _CHUNK):
        chunk = updates[start : start + _CHUNK]
        ids = [int(row["b_id"]) for row in chunk]
        sets = []
        for name in _GROWN:
            cases = " ".join(
                f"WHEN {id_} THEN {escape(_plain(row[name]))}"
                for id_, row in zip(ids, chunk, strict=True)
            )
            sets.append(f"{quote.quote(name)} = CASE {key} {cases} END")
        where = ",".join(map(str, ids))
        sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {key} IN ({where})"
        conn.exec_driver_sql(sql.replace("%", "%%"))
    return len(updates)


def _plain(value: Any) -> Any:
    return schema.naive_utc(value) if isinstance(value, datetime) else value


def link_events(conn: Connection, links: Sequence[tuple[int, int]]) -> int:
    """Insert ``(stream_id, event_id)`` rows."""
    return insert_integers(conn, schema.stream_event, ("stream_id", "event_id"), links)


def add_dist_traits(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``{stream_id, name_id, value_hash}`` distinguishing-trait rows."""
    if not rows:
        return 0
    conn.execute(schema.stream_dist_trait.insert(), list(rows))
    return 1
