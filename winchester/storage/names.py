"""Interning event type and trait names as small integer ids.

A trait name also carries whether the trait is indexed (``trait_name.indexed``):
decided by ``indexed_traits`` of the process that stores the name first, and
read back from the database by every other, so all agree on which traits have
``trait_index`` rows whatever their own configuration.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from winchester.storage import schema
from winchester.storage.dialect import insert_ignore
from winchester.storage.engine import run_transaction

__all__ = [
    "ALL_TRAITS",
    "NameCache",
    "event_type_names",
    "indexed_by",
    "trait_names",
]

#: ``indexed_traits``' default: every trait is indexed.
ALL_TRAITS: tuple[str, ...] = ("*",)


def indexed_by(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Whether a trait name is indexed under ``indexed_traits`` (fnmatch globs,
    case-sensitive: a name is indexed when any of them matches it)."""
    exact = frozenset(p for p in patterns if not any(c in p for c in "*?["))
    globs = [p for p in patterns if p not in exact]
    if "*" in globs:
        return lambda name: True
    return lambda name: (
        name in exact or any(fnmatch.fnmatchcase(name, glob) for glob in globs)
    )


class NameCache:
    """name -> id for a ``(id, name UNIQUE)`` table, created on first use.

    Names are created in their own short transaction (never inside an ingest
    batch), so an id in the cache always exists in the database, and concurrent
    processes creating the same name agree on its id. For ``trait_name``,
    ``indexed`` decides the flag of the names this process creates, and
    :attr:`unindexed` holds the ids of known names whose flag (as stored, by
    whichever process created them) is false.
    """

    def __init__(
        self, table: sa.Table, *, indexed: Callable[[str], bool] | None = None
    ) -> None:
        self.table = table
        self._ids: dict[str, int] = {}
        self._flagged = "indexed" in table.c
        self._indexed = indexed or (lambda name: True)
        #: ids of known trait names that have no ``trait_index`` rows
        self.unindexed: set[int] = set()

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
            self._ids.update(self._read(conn, missing))
        return {n: self._ids[n] for n in wanted if n in self._ids}

    def _create(self, conn: Connection, names: set[str]) -> dict[str, int]:
        rows: list[dict[str, object]] = [{"name": n} for n in sorted(names)]
        if self._flagged:
            for row in rows:
                row["indexed"] = self._indexed(str(row["name"]))
        conn.execute(insert_ignore(conn, self.table, ["name"]), rows)
        return self._read(conn, names)

    def _read(self, conn: Connection, names: set[str]) -> dict[str, int]:
        """The stored ids of ``names`` (and, for trait names, their flags)."""
        table = self.table
        flag = table.c.indexed if self._flagged else sa.true()
        query = sa.select(table.c.name, table.c.id, flag).where(table.c.name.in_(names))
        found: dict[str, int] = {}
        for name, id_, indexed in conn.execute(query):
            found[name] = id_
            if not indexed:
                self.unindexed.add(id_)
        return found


def event_type_names() -> NameCache:
    """A cache of event type name ids."""
    return NameCache(schema.event_type)


def trait_names(patterns: Sequence[str] = ALL_TRAITS) -> NameCache:
    """A cache of trait name ids; names it creates are indexed as ``patterns``
    (``indexed_traits``) say."""
    return NameCache(schema.trait_name, indexed=indexed_by(patterns))
