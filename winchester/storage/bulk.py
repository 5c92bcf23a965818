"""Bulk inserts without SQLAlchemy's per-row parameter processing.

Ingest writes hundreds of thousands of narrow rows (trait index, stream links).
The statement is built once per dialect (identifiers quoted by the dialect,
positional markers), then rows go to the driver's ``executemany`` as plain
tuples; columns whose type has a bind
processor (our UTC datetimes, for instance) are converted with that same
processor, so the stored values are exactly what Core would have written.

:func:`insert_integers` is the faster path for rows of integers only (the trait
index, stream links), where the driver's per-value escaping was most of the
cost of ingest:

* MySQL/MariaDB: one multi-row ``INSERT ... VALUES (1,2,3),(...)`` literal per
  chunk of ``INTEGER_CHUNK_ROWS`` rows, built with ``%d`` (every value is
  checked to be an ``int`` first, so nothing but decimal digits and a sign ever
  reaches the SQL text; a chunk stays far under the smallest
  ``max_allowed_packet``);
* PostgreSQL: one ``INSERT ... SELECT * FROM unnest(%b::bigint[], ...)`` with
  one array parameter per column, in psycopg's binary format (each array goes in
  one piece with no text escaping), and the
  statement is three placeholders whatever the number of rows;
* SQLite: the driver's ``executemany`` (its C loop binds integers directly).

Ingest's trait index rows are made before the transaction, per event, cut
around the event id that only the event insert gives: :func:`row_pieces` (SQL
text, MySQL) and :func:`copy_pieces` (PostgreSQL's binary ``COPY`` format,
sent with :func:`copy_integer_groups`: 1.26 s against ``unnest``'s 1.94 s per
20,000 notifications in ``bench/ingest.py --statements``, with no arrays built
in the transaction; its errors are raised as SQLAlchemy's, like any
statement's, for ingest's retries to tell them apart).
"""

from __future__ import annotations

import functools
import itertools
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any, AnyStr, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = [
    "INTEGER_CHUNK_ROWS",
    "bulk_insert",
    "copy_integer_groups",
    "copy_pieces",
    "insert_head",
    "insert_integer_groups",
    "insert_integers",
    "row_pieces",
    "unnest_insert",
]

_Processors = list[tuple[int, Callable[[Any], Any]]]
# Positional markers; PyMySQL and psycopg take ``%s`` with tuples under "pyformat".
_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_CACHE: dict[tuple[str, str, tuple[str, ...]], tuple[str, _Processors]] = {}
#: Rows per multi-row INSERT of integers (at most ~60 bytes each: ~600 KB).
INTEGER_CHUNK_ROWS = 10_000
_HEADS: dict[tuple[str, str, tuple[str, ...]], str] = {}


def _compiled(
    conn: Connection, table: sa.Table, columns: tuple[str, ...]
) -> tuple[str, _Processors]:
    dialect = conn.dialect
    key = (dialect.name, table.name, columns)
    cached = _CACHE.get(key)
    if cached is None:
        marker = _MARKERS.get(dialect.paramstyle)
        if marker is None:
            raise NotImplementedError(f"bulk insert: paramstyle {dialect.paramstyle!r}")
        sql = (
            f"{insert_head(conn, table, columns)} "
            f"VALUES ({', '.join([marker] * len(columns))})"
        )
        processors: _Processors = []
        for position, name in enumerate(columns):
            column_type = table.c[name].type
            processor = column_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((position, processor))
        cached = _CACHE[key] = (sql, processors)
    return cached


def bulk_insert(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """``INSERT`` ``rows`` (tuples in ``columns`` order) with one driver executemany."""
    if not rows:
        return
    sql, processors = _compiled(conn, table, tuple(columns))
    if processors:
        converted = []
        for row in rows:
            values = list(row)
            for position, processor in processors:
                values[position] = processor(values[position])
            converted.append(tuple(values))
        rows = converted
    conn.exec_driver_sql(sql, list(rows))


def insert_head(conn: Connection, table: sa.Table, columns: tuple[str, ...]) -> str:
    """``INSERT INTO t (a, b)``, identifiers quoted by the dialect."""
    dialect = conn.dialect
    key = (dialect.name, table.name, columns)
    head = _HEADS.get(key)
    if head is None:
        quote = dialect.identifier_preparer
        names = ", ".join(quote.quote(name) for name in columns)
        head = _HEADS[key] = f"INSERT INTO {quote.format_table(table)} ({names})"
    return head


def unnest_insert(conn: Connection, table: sa.Table, columns: tuple[str, ...]) -> str:
    """PostgreSQL: ``INSERT ... SELECT * FROM unnest(%b::t[], ...)`` (binary)."""
    arrays = ", ".join(
        f"%b::{table.c[name].type.compile(conn.dialect)}[]" for name in columns
    )
    return f"{insert_head(conn, table, columns)} SELECT * FROM unnest({arrays})"


def _checked(rows: Sequence[tuple[Any, ...]], width: int) -> None:
    """Raise ``TypeError`` unless every row is ``width`` plain ints (C loops only)."""
    if set(map(len, rows)) != {width} or set(
        map(type, itertools.chain.from_iterable(rows))
    ) != {int}:
        bad = next(
            row
            for row in rows
            if len(row) != width or any(value.__class__ is not int for value in row)
        )
        raise TypeError(f"insert_integers: a row that is not {width} ints: {bad!r}")


def insert_integers(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[int, ...]],
) -> int:
    """``INSERT`` rows of plain ints (in ``columns`` order); statements sent.

    Runs in the caller's transaction, like :func:`bulk_insert`; a duplicate key
    raises the driver's ``IntegrityError`` as a plain ``INSERT`` would.
    """
    if not rows:
        return 0
    names = tuple(columns)
    width = len(names)
    _checked(rows, width)
    dialect = conn.dialect.name
    if dialect == "mysql":
        head = insert_head(conn, table, names) + " VALUES "
        row_format = "(" + ",".join(["%d"] * width) + ")"
        statements = 0
        for start in range(0, len(rows), INTEGER_CHUNK_ROWS):
            chunk = rows[start : start + INTEGER_CHUNK_ROWS]
            conn.exec_driver_sql(head + ",".join(map(row_format.__mod__, chunk)))
            statements += 1
        return statements
    if dialect == "postgresql":
        conn.exec_driver_sql(
            unnest_insert(conn, table, names), tuple(map(list, zip(*rows, strict=True)))
        )
        return 1
    bulk_insert(conn, table, names, rows)
    return 1


def row_pieces(rows: Sequence[tuple[int, ...]]) -> list[str]:
    """MySQL text of ``rows`` with one more int each, not known yet, cut around it.

    ``str(last).join(row_pieces([(5, 123), (7, 456)]))`` is
    ``(5,123,last),(7,456,last)``: the text of rows that end in the same value
    (the trait index rows of one event end in its id) is built before the
    transaction, and inside it costs one ``join``. Every value is checked to be
    a plain ``int``, as :func:`insert_integers` does, the first time its row is
    seen: a row's text is remembered (trait values, and so their hashes, repeat
    from event to event, and writing 19-digit numbers was most of the cost),
    and a row equal to one seen before is the same values in SQL.
    """
    if not rows:
        return []
    found: list[str | None] = list(map(_ROW_TEXT.get, rows))
    if None in found:
        new = [row for row, text in zip(rows, found, strict=True) if text is None]
        _checked(new, len(rows[0]))
        if len(_ROW_TEXT) + len(new) > _ROW_TEXT_SIZE:
            _ROW_TEXT.clear()
        for position, text in enumerate(found):
            if text is None:
                row = rows[position]
                found[position] = _ROW_TEXT[row] = "),(" + ",".join(map(str, row)) + ","
    pieces = cast(list[str], found)
    pieces[0] = pieces[0][2:]
    pieces.append(")")
    return pieces


#: ``row -> "),(a,b,"``: :func:`row_pieces`' memo of rows of plain ints
#: (about 180 bytes an entry, so at most about 1.8 MB).
_ROW_TEXT: dict[tuple[int, ...], str] = {}
_ROW_TEXT_SIZE = 10_000


def _joined(
    groups: Sequence[tuple[list[AnyStr], int]],
    between: Callable[[int], AnyStr],
    what: str,
) -> Iterator[tuple[AnyStr, int]]:
    """Each group's rows joined around ``between(last)``, and how many rows;
    groups without rows are left out, and a ``last`` that is not an int refused."""
    for pieces, last in groups:
        if not pieces:
            continue
        if last.__class__ is not int:
            raise TypeError(f"{what}: {last!r} is not an int")
        yield between(last).join(pieces), len(pieces) - 1


def insert_integer_groups(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    groups: Sequence[tuple[list[str], int]],
) -> int:
    """MySQL: ``INSERT`` groups of rows made by :func:`row_pieces`; statements sent.

    Each group is ``(pieces, last)``: its rows, all ending in ``last`` (checked
    to be an ``int``). Chunks hold about ``INTEGER_CHUNK_ROWS`` rows.
    """
    head = insert_head(conn, table, tuple(columns)) + " VALUES "
    statements = 0
    texts: list[str] = []
    rows = 0
    for text, count in _joined(groups, str, "insert_integer_groups"):
        texts.append(text)
        rows += count
        if rows >= INTEGER_CHUNK_ROWS:
            conn.exec_driver_sql(head + ",".join(texts))
            statements += 1
            texts, rows = [], 0
    if texts:
        conn.exec_driver_sql(head + ",".join(texts))
        statements += 1
    return statements


# PostgreSQL's binary COPY format: a signature, flags and header extension
# length (both 0); per row its number of fields (int16), then per field its
# length (int32) and value (network order); -1 (int16) at the end.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\0" + b"\0\0\0\0" + b"\0\0\0\0"
_COPY_TRAILER = b"\xff\xff"
#: ``struct`` codes of the integer column types COPY can be given.
_COPY_CODES = {"integer": "i", "bigint": "q", "smallint": "h"}
_PACK_BIGINT = struct.Struct("!q").pack


@functools.cache
def _copy_row(types: tuple[str, str]) -> tuple[Callable[..., bytes], int, int]:
    """The packer of a row of two ``types`` columns and an 8-byte length, and
    the two columns' sizes."""
    first, second = (_COPY_CODES[name] for name in types)
    head = struct.Struct(f"!hi{first}i{second}i")
    return head.pack, struct.calcsize("!" + first), struct.calcsize("!" + second)


def copy_pieces(rows: Sequence[tuple[int, int]], types: tuple[str, str]) -> list[bytes]:
    """PostgreSQL binary ``COPY`` data of two-column ``rows`` and one more
    ``bigint`` each, not known yet, cut around it (as :func:`row_pieces` does in
    SQL text).

    ``types`` names the two given columns' types (``integer``, ``bigint`` or
    ``smallint``); ``pack(last).join(copy_pieces(...))`` is the rows' data
    ending in ``last``. Every value is checked to be a plain ``int`` first; one
    out of its type's range raises ``OverflowError`` (a value error: ingest
    refuses the event that holds it, as the database would).
    """
    if not rows:
        return []
    _checked(rows, 2)
    pack, first, second = _copy_row(types)
    try:
        return [pack(3, first, x, second, y, 8) for x, y in rows] + [b""]
    except struct.error as exc:
        raise OverflowError(f"copy_pieces: a value out of {types}: {exc}") from None


def copy_integer_groups(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    groups: Sequence[tuple[list[bytes], int]],
) -> int:
    """PostgreSQL over psycopg: ``COPY`` groups of rows made by :func:`copy_pieces`
    into ``table``, in the caller's transaction; statements sent (0 or 1).

    Each group is ``(pieces, last)``: its rows, all ending in ``last`` (checked
    to be an ``int``). A failure is raised as SQLAlchemy's ``DBAPIError`` of
    the driver's (an ``IntegrityError`` for a duplicate key, ...).
    """
    joined = _joined(groups, _PACK_BIGINT, "copy_integer_groups")
    data = [_COPY_HEADER, *(piece for piece, _ in joined)]
    if len(data) == 1:
        return 0
    data.append(_COPY_TRAILER)
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.quote(name) for name in columns)
    sql = f"COPY {quote.format_table(table)} ({names}) FROM STDIN (FORMAT BINARY)"
    dbapi = conn.connection.dbapi_connection
    error = conn.dialect.loaded_dbapi.Error
    try:
        with dbapi.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            copy.write(b"".join(data))
    except error as exc:
        raise sa.exc.DBAPIError.instance(
            sql, None, exc, error, dialect=conn.dialect
        ) from exc
    return 1
