"""Bulk inserts without SQLAlchemy's per-row parameter processing.

Ingest writes hundreds of thousands of narrow rows (trait index, stream links).
The statement is built once per dialect (identifiers quoted by the dialect,
positional markers), then rows go to the driver's ``executemany`` as plain
tuples; columns whose type has a bind
processor (our UTC datetimes, for instance) are converted with that same
processor, so the stored values are exactly what Core would have written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["bulk_insert"]

_Processors = list[tuple[int, Callable[[Any], Any]]]
# Positional markers; PyMySQL and psycopg take ``%s`` with tuples under "pyformat".
_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_CACHE: dict[tuple[str, str, tuple[str, ...]], tuple[str, _Processors]] = {}


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
        quote = dialect.identifier_preparer
        sql = (
            f"INSERT INTO {quote.format_table(table)} "
            f"({', '.join(quote.quote(name) for name in columns)}) "
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
