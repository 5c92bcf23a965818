"""Events: the batch insert that skips duplicates, and the trait index rows.

Transaction rules (the caller's transaction; see :mod:`winchester.storage`):

* :func:`insert_events` inserts rows whose ``message_id`` is not stored yet and
  returns the ids of **only** the rows it inserted, exactly, on every backend.
  PostgreSQL and SQLite: ``INSERT ... ON CONFLICT (message_id) DO NOTHING
  RETURNING``. MariaDB's ``RETURNING`` cannot tell new rows from duplicates
  under ``ON DUPLICATE KEY UPDATE``, so there a plain ``INSERT`` is tried
  first (a batch of new events, the usual case, costs one statement); a
  duplicate key rolls back only that statement (InnoDB), and then the stored
  ``message_id`` values are read with a locking read (``LOCK IN SHARE MODE``:
  it waits for another writer's uncommitted row of the same key, then sees it)
  and the rest inserted again, in the same transaction, until none clashes.
  Nothing but the duplicate key is ever ignored: a bad value is an error.
  On PostgreSQL a chunk is one ``INSERT ... SELECT * FROM unnest(...)`` with
  one array parameter per column, in psycopg's binary format (``%b``: psycopg
  sends each array in one piece, with no text escaping of the JSON, where a
  multi-row ``VALUES`` of 2,000 placeholders costs more to build and parse than
  to store).
* Rows are sent in chunks of at most ``chunk_bytes`` of traits JSON and
  ``CHUNK_ROWS`` rows (one statement each), so a batch of large events never
  makes one statement larger than the server's packet.
* :func:`insert_trait_index` writes ``(name_id, value_hash, event_id)`` rows
  through :func:`~winchester.storage.bulk.insert_integers` (a multi-row
  literal on MariaDB, ``unnest`` arrays on PostgreSQL); ingest sends rows it
  made before the transaction instead, as SQL text on MariaDB
  (:func:`insert_trait_index_pieces`) and binary ``COPY`` data on PostgreSQL
  (:func:`copy_trait_index_pieces`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from winchester.storage import schema
from winchester.storage.bulk import (
    copy_integer_groups,
    copy_pieces,
    insert_head,
    insert_integer_groups,
    insert_integers,
)
from winchester.storage.dialect import insert_ignore, returns_new_only
from winchester.storage.engine import StartOver, is_duplicate_key

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_ROWS",
    "event_literals",
    "insert_events",
    "insert_trait_index",
]

#: Traits JSON per INSERT statement (well under MariaDB's 16 MiB packet).
CHUNK_BYTES = 4 * 1024 * 1024
#: Rows per INSERT statement (under SQLAlchemy's 1000-row page: one statement).
CHUNK_ROWS = 500
_RACES = 10  # duplicate-key races per chunk before the transaction starts over
_TRAIT_INDEX_COLUMNS = ("name_id", "value_hash", "event_id")


def _chunks(rows: Sequence[dict[str, Any]], limit: int) -> Iterator[range]:
    """Positions of ``rows`` per statement: at most ``limit`` bytes of traits
    JSON (but at least one row) and ``CHUNK_ROWS`` rows."""
    start = size = 0
    for position, row in enumerate(rows):
        length = len(row["traits"])
        if position > start and (
            size + length > limit or position - start >= CHUNK_ROWS
        ):
            yield range(start, position)
            start, size = position, 0
        size += length
    if start < len(rows):
        yield range(start, len(rows))


def _stored_message_ids(conn: Connection, message_ids: list[str]) -> set[str]:
    column = schema.event.c.message_id
    query = sa.select(column).where(column.in_(message_ids)).with_for_update(read=True)
    return set(conn.execute(query).scalars())


#: The event columns every insert of events names, in this order.
_EVENT_COLUMNS = ("message_id", "event_type_id", "generated", "traits")
_PG_INSERT: list[str] = []


def _postgresql_insert(conn: Connection) -> str:
    if not _PG_INSERT:
        quote = conn.dialect.identifier_preparer
        # Text goes as text[]: a cast to varchar(n) would truncate silently,
        # where assigning text to the column refuses an over-long value (so
        # not bulk.unnest_insert, which casts to the columns' own types).
        arrays = "%b::text[], %b::integer[], %b::timestamp[], %b::text[]"
        _PG_INSERT.append(
            f"{insert_head(conn, schema.event, _EVENT_COLUMNS)} "
            f"SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({quote.quote('message_id')}) DO NOTHING "
            f"RETURNING {quote.quote('id')}, {quote.quote('message_id')}"
        )
    return _PG_INSERT[0]


def quote_text(value: str) -> str:
    """``value`` as a MySQL string literal, with backslash escapes on (not
    ``NO_BACKSLASH_ESCAPES``): backslash, quote and the control characters
    PyMySQL escapes, by ``str.replace``. PyMySQL's ``escape`` does the same
    with ``str.translate`` and a mapping, a dictionary lookup per character:
    most of the client's time inserting a batch's traits JSON. Double quotes
    need no escape in a single-quoted literal (JSON is full of them)."""
    if value.__class__ is not str:
        raise TypeError(f"quote_text: not a str: {value!r}")
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "'" in value:
        value = value.replace("'", "\\'")
    for char, escaped in _CONTROL:
        if char in value:
            value = value.replace(char, escaped)
    return "'" + value + "'"


_CONTROL = (("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("\x1a", "\\Z"))


def event_literals(
    rows: Sequence[dict[str, Any]], quote: Callable[[str], str] = quote_text
) -> list[str]:
    """MySQL: each row's ``VALUES`` text, built before the transaction.

    ``(message_id,event_type_id,generated,traits)`` with text quoted by
    ``quote`` (:func:`quote_text`: backslash escapes on; :class:`_PyMySQLInsert`
    passes the connection's own ``escape`` under ``NO_BACKSLASH_ESCAPES``), the
    time as PyMySQL writes it (``isoformat`` of the naive UTC time: microseconds
    only when there are some), and ``%`` doubled (see :class:`_PyMySQLInsert`).
    """
    return [
        (
            f"({quote(row['message_id'])},{int(row['event_type_id'])},"
            f"'{schema.naive_utc(row['generated']).isoformat(' ')}',"
            f"{quote(row['traits'])})"
        ).replace("%", "%%")
        for row in rows
    ]


class _PyMySQLInsert:
    """MariaDB over PyMySQL: one multi-row ``INSERT ... RETURNING`` literal.

    Each value is escaped by the connection's own ``escape`` (what the driver's
    parameter binding calls, ``NO_BACKSLASH_ESCAPES`` included), without
    SQLAlchemy's per-row parameter handling; ``%`` is doubled because SQLAlchemy
    hands the driver an empty parameter set, which it formats the text with.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        quote = conn.dialect.identifier_preparer
        self.head = insert_head(conn, schema.event, _EVENT_COLUMNS) + " VALUES "
        self.tail = f" RETURNING {quote.quote('id')}, {quote.quote('message_id')}"
        # PyMySQL is imported here, on its own path: importing it loads
        # cryptography, 8 MB of every SQLite or PostgreSQL process otherwise.
        from pymysql.constants.SERVER_STATUS import (  # noqa: PLC0415
            SERVER_STATUS_NO_BACKSLASH_ESCAPES as NO_BACKSLASH_ESCAPES,
        )

        dbapi = conn.connection.dbapi_connection
        self.escape = getattr(dbapi, "escape")  # noqa: B009 - PyMySQL's, untyped
        self.backslashes = not getattr(dbapi, "server_status", 0) & NO_BACKSLASH_ESCAPES

    def run(
        self, rows: Sequence[dict[str, Any]], literals: Sequence[str] | None
    ) -> Sequence[Any]:
        if literals is None or not self.backslashes:  # made before: only with them
            literals = event_literals(
                rows, quote_text if self.backslashes else self.escape
            )
        values = ",".join(literals)
        return self.conn.exec_driver_sql(self.head + values + self.tail).all()


def insert_events(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    *,
    chunk_bytes: int = CHUNK_BYTES,
    literals: Sequence[str] | None = None,
) -> tuple[dict[str, int], int]:
    """Insert rows of distinct ``message_id``; ``({message_id: id} new, statements)``.

    A row is ``message_id``, ``event_type_id``, ``generated``, ``traits`` (JSON).
    ``literals`` (MySQL over PyMySQL), when given, are the rows'
    :func:`event_literals`, in the same order.

    Rows go in ``message_id`` order: writers whose batches share notifications
    (a redelivery, overlapping replays) then take the unique index's locks in
    one order and wait for each other instead of deadlocking again and again.
    """
    table = schema.event
    message_ids = [row["message_id"] for row in rows]
    order = sorted(range(len(rows)), key=message_ids.__getitem__)
    rows = [rows[position] for position in order]
    if literals is not None:
        literals = [literals[position] for position in order]
    new: dict[str, int] = {}
    statements = 0
    if conn.dialect.name == "postgresql":
        sql = _postgresql_insert(conn)
        for span in _chunks(rows, chunk_bytes):
            chunk = rows[span.start : span.stop]
            arrays = (
                [row["message_id"] for row in chunk],
                [row["event_type_id"] for row in chunk],
                [schema.naive_utc(row["generated"]) for row in chunk],
                [row["traits"] for row in chunk],
            )
            new.update({mid: id_ for id_, mid in conn.exec_driver_sql(sql, arrays)})
            statements += 1
        return new, statements
    if returns_new_only(conn):
        statement = insert_ignore(conn, table, ["message_id"]).returning(
            table.c.id, table.c.message_id
        )
        for span in _chunks(rows, chunk_bytes):
            chunk = rows[span.start : span.stop]
            new.update({mid: id_ for id_, mid in conn.execute(statement, chunk)})
            statements += 1
        return new, statements
    plain: Any = table.insert().returning(table.c.id, table.c.message_id)
    if conn.dialect.driver == "pymysql":
        plain = _PyMySQLInsert(conn)
    for span in _chunks(rows, chunk_bytes):
        pending = list(span)
        for race in range(_RACES):
            if race:  # a duplicate key: leave out the rows already stored
                ids = [rows[position]["message_id"] for position in pending]
                stored = _stored_message_ids(conn, ids)
                statements += 1
                pending = [p for p in pending if rows[p]["message_id"] not in stored]
                if not pending:
                    break
            chunk = [rows[position] for position in pending]
            inserted: Sequence[Any]
            try:
                if isinstance(plain, _PyMySQLInsert):
                    texts = None if literals is None else [literals[p] for p in pending]
                    inserted = plain.run(chunk, texts)
                else:
                    inserted = conn.execute(plain, chunk).all()
            except sa.exc.IntegrityError as exc:
                if not is_duplicate_key(exc):
                    raise
                continue  # stored already, or by another writer just now
            statements += 1
            new.update({mid: id_ for id_, mid in inserted})
            break
        else:
            raise StartOver("events kept racing with another writer")
    return new, statements


def insert_trait_index(conn: Connection, rows: Sequence[tuple[int, int, int]]) -> int:
    """Insert ``(name_id, value_hash, event_id)`` trait index rows; statements sent."""
    return insert_integers(conn, schema.trait_index, _TRAIT_INDEX_COLUMNS, rows)


def insert_trait_index_pieces(
    conn: Connection, groups: Sequence[tuple[list[str], int]]
) -> int:
    """MySQL: insert trait index rows built before the transaction, per event.

    Each group is ``(row_pieces([(name_id, value_hash), ...]), event_id)``.
    """
    return insert_integer_groups(conn, schema.trait_index, _TRAIT_INDEX_COLUMNS, groups)


#: The trait index's columns but the event id, for :func:`trait_index_copy_pieces`.
_TRAIT_INDEX_TYPES = ("integer", "bigint")


def trait_index_copy_pieces(rows: Sequence[tuple[int, int]]) -> list[bytes]:
    """PostgreSQL: ``(name_id, value_hash)`` rows of one event as ``COPY`` data
    cut around its id (:func:`~winchester.storage.bulk.copy_pieces`)."""
    return copy_pieces(rows, _TRAIT_INDEX_TYPES)


def copy_trait_index_pieces(
    conn: Connection, groups: Sequence[tuple[list[bytes], int]]
) -> int:
    """PostgreSQL over psycopg: ``COPY`` trait index rows built before the
    transaction, per event: ``(trait_index_copy_pieces(rows), event_id)``."""
    return copy_integer_groups(conn, schema.trait_index, _TRAIT_INDEX_COLUMNS, groups)
