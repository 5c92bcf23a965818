"""Interning event type and trait names as small integer ids."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from winchester.storage import schema
from winchester.storage.dialect import insert_ignore
from winchester.storage.engine import run_transaction

__all__ = ["NameCache", "event_type_names", "trait_names"]


class NameCache:
    """name -> id for a ``(id, name UNIQUE)`` table, created on first use.

    Names are created in their own short transaction (never inside an ingest
    batch), so an id in the cache always exists in the database, and concurrent
    processes creating the same name agree on its id.
    """

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self._ids: dict[str, int] = {}

    def ids(self, engine: Engine, names: Iterable[str]) -> dict[str, int]:
        """The ids of ``names``, creating the missing ones."""
        missing = {n for n in names if n not in self._ids}
        if missing:
            self._ids.update(
                run_transaction(
                    engine, lambda c: self._create(c, missing), what="name ids"
                )
            )
        return self._ids

    @property
    def known(self) -> dict[str, int]:
        """The names already interned by this process (read-only view)."""
        return self._ids

    def lookup(self, conn: Connection, names: Iterable[str]) -> dict[str, int]:
        """The ids of the ``names`` that exist (never creates; for queries)."""
        wanted = set(names)
        missing = wanted - self._ids.keys()
        if missing:
            rows = conn.execute(
                sa.select(self.table.c.name, self.table.c.id).where(
                    self.table.c.name.in_(missing)
                )
            )
            self._ids.update({name: id_ for name, id_ in rows})
        return {n: self._ids[n] for n in wanted if n in self._ids}

    def _create(self, conn: Connection, names: set[str]) -> dict[str, int]:
        conn.execute(
            insert_ignore(conn, self.table, ["name"]),
            [{"name": n} for n in sorted(names)],
        )
        rows = conn.execute(
            sa.select(self.table.c.name, self.table.c.id).where(
                self.table.c.name.in_(names)
            )
        )
        return {name: id_ for name, id_ in rows}


def event_type_names() -> NameCache:
    """A cache of event type name ids."""
    return NameCache(schema.event_type)


def trait_names() -> NameCache:
    """A cache of trait name ids."""
    return NameCache(schema.trait_name)
