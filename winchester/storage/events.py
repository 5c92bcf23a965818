"""Events: the batch insert that skips duplicates, and the trait index rows.

Transaction rules (the caller's transaction; see :mod:`winchester.storage`):

* :func:`insert_events` inserts rows whose ``message_id`` is not stored yet and
  returns the ids of **only** the rows it inserted, exactly, on every backend.
  PostgreSQL and SQLite: ``INSERT ... ON CONFLICT (message_id) DO NOTHING
  RETURNING``. MariaDB's ``RETURNING`` cannot tell new rows from duplicates
  under ``ON DUPLICATE KEY UPDATE``, so there the stored ``message_id`` values
  are read first and the rest inserted with a plain ``INSERT``; a row another
  writer inserted in between is a duplicate-key error, which
  :func:`~winchester.storage.engine.run_transaction` treats as contention (the
  transaction runs again and sees the row). Nothing but the duplicate key is
  ever ignored: a bad value is an error.
* Rows are sent in chunks of at most ``chunk_bytes`` of traits JSON, so a batch
  of large events never makes one statement larger than the server's packet.
* :func:`insert_trait_index` writes ``(name_id, value_hash, event_id)`` rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from winchester.storage import schema
from winchester.storage.bulk import bulk_insert
from winchester.storage.dialect import insert_ignore, returns_new_only

__all__ = ["CHUNK_BYTES", "insert_events", "insert_trait_index"]

#: Traits JSON per INSERT statement (well under MariaDB's 16 MiB packet).
CHUNK_BYTES = 4 * 1024 * 1024
_IN_LIST = 500  # message ids per IN (...) list
_TRAIT_INDEX_COLUMNS = ("name_id", "value_hash", "event_id")


def _chunks(
    rows: Sequence[dict[str, Any]], limit: int
) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        length = len(row["traits"])
        if chunk and size + length > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += length
    if chunk:
        yield chunk


def _stored_message_ids(conn: Connection, message_ids: list[str]) -> set[str]:
    found: set[str] = set()
    column = schema.event.c.message_id
    for start in range(0, len(message_ids), _IN_LIST):
        chunk = message_ids[start : start + _IN_LIST]
        found.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
    return found


def insert_events(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    *,
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[dict[str, int], int]:
    """Insert rows of distinct ``message_id``; ``({message_id: id} new, statements)``.

    A row is ``message_id``, ``event_type_id``, ``generated``, ``traits`` (JSON).
    """
    table = schema.event
    statements = 0
    if returns_new_only(conn):
        statement = insert_ignore(conn, table, ["message_id"]).returning(
            table.c.id, table.c.message_id
        )
        pending = list(rows)
    else:
        stored = _stored_message_ids(conn, [row["message_id"] for row in rows])
        statements += (len(rows) + _IN_LIST - 1) // _IN_LIST
        statement = table.insert().returning(table.c.id, table.c.message_id)
        pending = [row for row in rows if row["message_id"] not in stored]
    new: dict[str, int] = {}
    for chunk in _chunks(pending, chunk_bytes):
        new.update({mid: id_ for id_, mid in conn.execute(statement, chunk)})
        statements += 1
    return new, statements


def insert_trait_index(conn: Connection, rows: Sequence[tuple[int, int, int]]) -> None:
    """Insert ``(name_id, value_hash, event_id)`` trait index rows."""
    bulk_insert(conn, schema.trait_index, _TRAIT_INDEX_COLUMNS, rows)
