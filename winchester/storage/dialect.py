"""The few statements whose SQL differs between SQLite, MySQL/MariaDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

__all__ = ["insert_ignore"]


def insert_ignore(conn: Connection, table: sa.Table, conflict: Sequence[str]) -> Insert:
    """``INSERT`` that skips rows clashing with the unique key on ``conflict``.

    With ``.returning(...)`` it returns only the rows it inserted, on every
    supported backend (MariaDB >= 10.5, PostgreSQL, SQLite >= 3.35).
    """
    name = conn.dialect.name
    if name == "mysql":
        return mysql.insert(table).prefix_with("IGNORE")
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(
            index_elements=list(conflict)
        )
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(
            index_elements=list(conflict)
        )
    raise NotImplementedError(f"unsupported database {name!r}")
