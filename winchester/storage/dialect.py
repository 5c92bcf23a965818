"""The few statements whose SQL differs between SQLite, MySQL/MariaDB and PostgreSQL.

:func:`insert_ignore` skips **only** rows that clash with a unique key: MySQL
``INSERT ... ON DUPLICATE KEY UPDATE k = k`` (a no-op update), PostgreSQL and
SQLite ``INSERT ... ON CONFLICT (k) DO NOTHING``. Every other problem with a row
(a value too long or out of range, a bad string) is an error, as it must be:
MySQL's ``INSERT IGNORE`` would truncate it with a warning instead, and MySQL
sessions run in strict mode (see :mod:`winchester.storage.engine`).

``RETURNING`` after such an insert tells new rows apart only on PostgreSQL and
SQLite (:data:`RETURNS_NEW_ONLY`); on MariaDB it returns the duplicate rows too,
so code that needs "which rows did I insert" reads the existing keys first and
inserts the rest with a plain ``INSERT`` (see :mod:`winchester.storage.events`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

__all__ = ["insert_ignore", "returns_new_only"]


def returns_new_only(conn: Connection) -> bool:
    """Whether ``insert_ignore(...).returning(...)`` returns only the inserted rows."""
    return conn.dialect.name in ("postgresql", "sqlite")


def insert_ignore(conn: Connection, table: sa.Table, conflict: Sequence[str]) -> Insert:
    """``INSERT`` that skips rows clashing with the unique key on ``conflict``.

    Only the duplicate key is ignored; any other bad value raises.
    """
    name = conn.dialect.name
    if name == "mysql":
        first = conflict[0]
        return mysql.insert(table).on_duplicate_key_update({first: table.c[first]})
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(
            index_elements=list(conflict)
        )
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(
            index_elements=list(conflict)
        )
    raise NotImplementedError(f"unsupported database {name!r}")
