"""Connecting to the database, and running a unit of work that survives contention.

:func:`connect` builds an engine tuned per backend:

* SQLite (the embedded default): WAL journal, a 30 s busy timeout, and writers
  that take the write lock when their transaction starts (``BEGIN IMMEDIATE``), so
  two processes never deadlock upgrading read locks;
* MySQL/MariaDB: ``READ COMMITTED`` (far fewer gap locks, so fewer deadlocks
  between concurrent ingesters), ``utf8mb4``, pre-ping and recycling;
* PostgreSQL: pre-ping.

:func:`run_transaction` runs a function inside one write transaction and runs it
again, from scratch, when the database reports a deadlock, a lock timeout, a
serialisation failure or a busy SQLite file - with jittered backoff and a bound.
A database that cannot be reached raises :class:`DatabaseUnavailable`, a
:class:`~stacktach.exceptions.RecoverableError`: the caller backs off and keeps
its input (nothing is acked).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from stacktach.exceptions import ConfigError, RecoverableError

__all__ = ["DatabaseUnavailable", "StartOver", "connect", "run_transaction", "safe_url"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

_MYSQL_RETRY = {1205, 1213}  # lock wait timeout, deadlock
_MYSQL_GONE = {2002, 2003, 2005, 2006, 2013, 2055, 1927, 1053}
_PG_RETRY = {"40001", "40P01", "55P03"}


class DatabaseUnavailable(RecoverableError):
    """The database cannot be reached (or keeps refusing the work); retry later."""


class StartOver(Exception):
    """Raised inside :func:`run_transaction`'s work: roll back and run it again."""


def safe_url(url: str | sa.URL) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def connect(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; ``ConfigError`` if the URL cannot be used."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"invalid database URL {url!r}: {exc}", key="database.url"
        ) from None
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "isolation_level": None}
        engine = sa.create_engine(parsed, **kwargs)
        _tune_sqlite(engine, wal=not memory)
        return engine
    if backend == "mysql":
        kwargs.update(
            isolation_level="READ COMMITTED", pool_pre_ping=True, pool_recycle=3600
        )
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
    try:
        return sa.create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(
            f"cannot use database URL {safe_url(parsed)}: {exc}", key="database.url"
        ) from None


def _tune_sqlite(engine: Engine, *, wal: bool) -> None:
    @sa_event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _classify(exc: DBAPIError) -> str:
    """'retry' (contention), 'gone' (unreachable) or 'fatal'."""
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _PG_RETRY or code in _MYSQL_RETRY:
        return "retry"
    if isinstance(exc, IntegrityError):
        return "retry"  # a concurrent writer won a race the next attempt will see
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text:
        return "retry"
    if code in _MYSQL_GONE or exc.connection_invalidated:
        return "gone"
    if isinstance(exc, OperationalError) and (
        (sqlstate is not None and str(sqlstate).startswith("08"))
        or "connection" in text
        or "server closed" in text
        or "can't connect" in text
    ):
        return "gone"
    return "fatal"


def run_transaction(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    attempts: int = 10,
    what: str = "transaction",
) -> T:
    """Run ``work(connection)`` in one write transaction, retrying on contention.

    ``work`` must be safe to run again from the start (it is, when all it does is
    inside the transaction). Raises :class:`DatabaseUnavailable` when the database
    is unreachable or contention outlasts ``attempts``; other errors propagate.
    """
    delay = 0.01
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as plain:
                conn = plain.execution_options(sqlite_immediate=True)
                with conn.begin():
                    return work(conn)
        except StartOver as exc:
            if attempt == attempts:
                raise DatabaseUnavailable(
                    f"{what}: {exc} ({attempts} attempts)"
                ) from exc
            LOG.debug("%s starts over (attempt %d): %s", what, attempt, exc)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
        except DBAPIError as exc:
            kind = _classify(exc)
            if kind == "fatal":
                raise
            if kind == "gone":
                raise DatabaseUnavailable(
                    f"database {safe_url(engine.url)} unavailable: {exc.orig}"
                ) from exc
            if attempt == attempts:
                raise DatabaseUnavailable(
                    f"{what} still conflicting after {attempts} attempts: {exc.orig}"
                ) from exc
            LOG.debug("%s conflicted (attempt %d): %s", what, attempt, exc.orig)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")  # pragma: no cover
