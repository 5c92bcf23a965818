"""Connecting to the database, and running a unit of work that survives contention.

:func:`connect` builds an engine tuned per backend:

* SQLite (the embedded default): WAL journal, a 30 s busy timeout, and writers
  that take the write lock when their transaction starts (``BEGIN IMMEDIATE``), so
  two processes never deadlock upgrading read locks;
* MySQL/MariaDB: ``READ COMMITTED`` (far fewer gap locks, so fewer deadlocks
  between concurrent ingesters), ``utf8mb4``, pre-ping and recycling, and a
  **strict** session ``sql_mode`` (``STRICT_ALL_TABLES``...), so a value too long
  or out of range for its column is an error, never silently truncated;
* PostgreSQL: pre-ping.

Every connection is bounded in time (:class:`Timeouts`, the ``database`` section
of winchester.yaml; 0 turns one off): ``connect_timeout`` (10 s), ``read_timeout``
and ``write_timeout`` (30 s: a server that accepts connections but never answers
raises an error instead of stalling the process; PyMySQL's socket timeouts - the
PostgreSQL driver has no read timeout, its statements are bounded by the server),
``statement_timeout`` (25 s, per statement: MariaDB ``max_statement_time``, MySQL
``max_execution_time``, PostgreSQL ``statement_timeout``) and ``lock_timeout``
(20 s, per lock wait: ``innodb_lock_wait_timeout``, PostgreSQL ``lock_timeout``,
SQLite's busy timeout). A timed-out connection is reported as unreachable
(:class:`DatabaseUnavailable`), a timed-out lock wait as contention (retried).

URLs of the original configs, ``mysql://`` (the MySQLdb driver), are accepted and
served by PyMySQL (``mysql+pymysql://``), said once at INFO. :func:`check_url`
checks that a URL's driver is installed, naming the pip package when it is not.

:func:`run_transaction` runs a function inside one write transaction and runs it
again, from scratch, when the database reports a deadlock, a lock timeout, a
serialisation failure or a busy SQLite file - with jittered backoff and a bound.
On MariaDB Galera a certification conflict (another node committed a writeset
touching the same rows first) surfaces as the same deadlock error, 1213, mostly
at COMMIT: it is retried the same way, the whole unit of work run again (for
ingest, the whole batch), and nothing the failed attempt returned is used.
A database that cannot be reached raises :class:`DatabaseUnavailable`, a
:class:`~stacktach.exceptions.RecoverableError`: the caller backs off and keeps
its input (nothing is acked).

:func:`is_data_error` tells errors caused by the *data* of a statement (a value
too long, out of range or not valid text, a non-duplicate constraint, a packet
too big) from errors of the database itself. ``run_transaction`` raises them as
they are (they would fail again); ingest isolates the notification that caused
them (:mod:`winchester.ingest`). A duplicate key is contention, not data: the
transaction is run again and sees the other writer's row.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.pool import StaticPool

from stacktach.exceptions import ConfigError, RecoverableError

__all__ = [
    "DatabaseUnavailable",
    "StartOver",
    "Timeouts",
    "check_url",
    "connect",
    "is_data_error",
    "is_duplicate_key",
    "run_transaction",
    "safe_url",
]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

_MYSQL_RETRY = {1205, 1213}  # lock wait timeout, deadlock
_MYSQL_GONE = {2002, 2003, 2005, 2006, 2013, 2055, 1927, 1053}
# statement_timeout exceeded (MariaDB max_statement_time, MySQL
# max_execution_time, PostgreSQL query_canceled): a database too slow to use now.
_MYSQL_GONE |= {1969, 3024}
_PG_RETRY = {"40001", "40P01", "55P03"}
_PG_GONE = {"57014"}
_MYSQL_DUPLICATE = {1022, 1062, 1586}
# Data errors: too long, out of range, incorrect value/string, null, truncated,
# packet too big, check constraint, bad JSON, foreign key.
_MYSQL_DATA = {
    1048, 1153, 1264, 1265, 1292, 1301, 1365, 1366, 1367, 1406, 1411, 1452,
    3140, 4025,
}  # fmt: skip
#: The session sql_mode on MySQL/MariaDB: strict, so nothing is truncated.
MYSQL_SQL_MODE = (
    "STRICT_ALL_TABLES,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)


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


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Bounds on one database connection, in seconds (0: no bound)."""

    connect: float = 10.0
    read: float = 30.0
    write: float = 30.0
    statement: float = 25.0
    lock: float = 20.0


#: The drivers of bare ``mysql://`` / ``mariadb://`` URLs (MySQLdb) -> PyMySQL.
_LEGACY_DRIVERS = {"mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
#: pip package of each SQLAlchemy driver name, for "not installed" messages.
PIP_PACKAGES = {
    "mysqldb": "mysqlclient",
    "pymysql": "PyMySQL",
    "mysqlconnector": "mysql-connector-python",
    "mariadbconnector": "mariadb",
    "asyncmy": "asyncmy",
    "aiomysql": "aiomysql",
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
}
_said_legacy: set[str] = set()


def _parse(url: str | sa.URL) -> sa.URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"invalid database URL {url!r}: {exc}", key="database.url"
        ) from None
    replacement = _LEGACY_DRIVERS.get(parsed.drivername)
    if replacement is not None:
        if parsed.drivername not in _said_legacy:
            _said_legacy.add(parsed.drivername)
            LOG.info(
                "database URL %s names the MySQLdb driver; using PyMySQL (%s://)",
                safe_url(parsed),
                replacement,
            )
        parsed = parsed.set(drivername=replacement)
    return parsed


def check_url(url: str | sa.URL) -> sa.URL:
    """The URL to connect with; ``ConfigError`` if it is invalid or its driver missing.

    Imports the driver (no connection is made).
    """
    parsed = _parse(url)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            f"{safe_url(parsed)}: unknown database dialect or driver "
            f"{parsed.drivername!r} (expected e.g. mysql+pymysql://, "
            "postgresql+psycopg://, sqlite:///)",
            key="database.url",
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        driver = parsed.get_driver_name()
        package = PIP_PACKAGES.get(driver, exc.name or driver)
        mysql = parsed.get_backend_name() == "mysql"
        ours = "mysql+pymysql" if mysql else "postgresql+psycopg"
        raise ConfigError(
            f"the driver {driver!r} of {safe_url(parsed)} is not installed: "
            f"`pip install {package}`, or use {ours}:// (installed with StackTach)",
            key="database.url",
        ) from None
    return parsed


def _parse_datetime(value: str | bytes) -> Any:
    """A DATETIME column's text as a datetime: the C ``fromisoformat`` (PyMySQL's
    own converter, a regular expression and seven ``int()`` calls, was a
    quarter of the API's time reading a page of streams); anything it refuses
    (a zero date) goes to PyMySQL's, which returns it as text."""
    try:
        return datetime.fromisoformat(
            value.decode("ascii") if isinstance(value, (bytes, bytearray)) else value
        )
    except (ValueError, TypeError, UnicodeDecodeError):
        from pymysql.converters import convert_datetime  # noqa: PLC0415

        return convert_datetime(value)


def _pymysql_conversions() -> dict[Any, Any]:
    """PyMySQL's conversions, with :func:`_parse_datetime` for DATETIME and
    TIMESTAMP columns."""
    # imported only for a PyMySQL URL: PyMySQL loads cryptography (8 MB)
    from pymysql import converters  # noqa: PLC0415
    from pymysql.constants import FIELD_TYPE  # noqa: PLC0415

    conversions = dict(converters.conversions)
    conversions[FIELD_TYPE.DATETIME] = _parse_datetime
    conversions[FIELD_TYPE.TIMESTAMP] = _parse_datetime
    return conversions


def connect(
    url: str,
    *,
    echo: bool = False,
    timeouts: Timeouts | None = None,
    reads_only: bool = False,
) -> Engine:
    """An engine for ``url``; ``ConfigError`` if the URL cannot be used.

    ``timeouts`` bounds every connection (default :class:`Timeouts`).
    ``reads_only`` makes an engine for single-statement reads (the API's): its
    connections autocommit, so a checked-in connection holds no transaction and
    needs no ``ROLLBACK`` (none is sent when a use ends either), and are not
    pinged at checkout; a caller retries a read once when it finds its
    connection dead (``connection_invalidated``). Three round trips fewer per
    request.
    """
    parsed = check_url(url)
    limits = timeouts or Timeouts()
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        busy = limits.lock or 30.0
        kwargs["connect_args"] = {"timeout": busy, "isolation_level": None}
        engine = sa.create_engine(parsed, **kwargs)
        _tune_sqlite(engine, wal=not memory, busy=busy)
        return engine
    if backend == "mysql":
        kwargs.update(
            isolation_level="READ COMMITTED", pool_pre_ping=True, pool_recycle=3600
        )
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        if parsed.get_driver_name() == "pymysql":
            kwargs["connect_args"] = {
                name: value
                for name, value in (
                    ("connect_timeout", limits.connect),
                    ("read_timeout", limits.read),
                    ("write_timeout", limits.write),
                )
                if value
            }
            kwargs["connect_args"]["conv"] = _pymysql_conversions()
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        if parsed.get_driver_name() in ("psycopg", "psycopg2"):
            options = " ".join(
                f"-c {name}={int(value * 1000)}"
                for name, value in (
                    ("statement_timeout", limits.statement),
                    ("lock_timeout", limits.lock),
                )
                if value
            )
            args: dict[str, Any] = {"options": options} if options else {}
            if limits.connect:
                args["connect_timeout"] = max(2, round(limits.connect))
            kwargs["connect_args"] = args
    if reads_only:
        kwargs.update(
            isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_reset_on_return=None
        )
        if backend == "mysql":
            # SQLAlchemy ends each use of a connection with the driver's
            # rollback(), which an autocommit driver is expected to ignore:
            # PyMySQL and mysqlclient send ROLLBACK and wait for its answer,
            # a round trip per API request (psycopg's is a no-op already).
            kwargs["skip_autocommit_rollback"] = True
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError, TypeError) as exc:
        raise ConfigError(
            f"cannot use database URL {safe_url(parsed)}: {exc}", key="database.url"
        ) from None
    if backend == "mysql":
        _tune_mysql(engine, limits)
    return engine


def server_version(dbapi_connection: Any) -> str:
    """The server's version string (``10.11.6-MariaDB-...``) of a MySQL driver's
    connection: PyMySQL's attribute, or MySQLdb's (mysqlclient's) method."""
    version = getattr(dbapi_connection, "server_version", None)
    if version is None and hasattr(dbapi_connection, "get_server_info"):
        version = dbapi_connection.get_server_info()
    return str(version or "")


def _tune_mysql(engine: Engine, limits: Timeouts) -> None:
    @sa_event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        server = server_version(dbapi_connection)
        statements = [f"SET SESSION sql_mode = '{MYSQL_SQL_MODE}'"]
        if limits.lock:
            statements.append(
                f"SET SESSION innodb_lock_wait_timeout = {max(1, round(limits.lock))}"
            )
        if limits.statement:
            if "mariadb" in server.lower():
                statements.append(
                    f"SET SESSION max_statement_time = {float(limits.statement)}"
                )
            else:  # MySQL bounds only SELECTs, in milliseconds
                statements.append(
                    f"SET SESSION max_execution_time = {int(limits.statement * 1000)}"
                )
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()


def _tune_sqlite(engine: Engine, *, wal: bool, busy: float) -> None:
    @sa_event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _codes(exc: DBAPIError) -> tuple[Any, str | None]:
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code, (str(sqlstate) if sqlstate is not None else None)


def _duplicate_key(exc: DBAPIError, code: Any, sqlstate: str | None) -> bool:
    if code in _MYSQL_DUPLICATE or sqlstate == "23505":
        return True
    name = getattr(exc.orig, "sqlite_errorname", "")
    if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return True
    text = str(exc.orig)
    return "UNIQUE constraint failed" in text or "Duplicate entry" in text


def is_duplicate_key(exc: BaseException) -> bool:
    """Whether ``exc`` is a unique-key violation (another writer's row)."""
    if not isinstance(exc, IntegrityError):
        return False
    code, sqlstate = _codes(exc)
    return _duplicate_key(exc, code, sqlstate)


def is_data_error(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by the data of a statement, not the database.

    True for DataError, a non-duplicate IntegrityError, MySQL 1406 (too long),
    1264 (out of range), 1366 (incorrect string), 1153 (packet too big) and
    their kin, and PostgreSQL SQLSTATE class 22.
    """
    if not isinstance(exc, DBAPIError):
        return False
    code, sqlstate = _codes(exc)
    if code in _MYSQL_DATA:
        return True
    if sqlstate is not None and sqlstate.startswith("22"):
        return True
    if isinstance(exc, DataError):
        return True
    return isinstance(exc, IntegrityError) and not _duplicate_key(exc, code, sqlstate)


def _classify(exc: DBAPIError) -> str:
    """'retry' (contention), 'gone' (unreachable), 'data' or 'fatal'."""
    orig = exc.orig
    code, sqlstate = _codes(exc)
    if sqlstate in _PG_RETRY or code in _MYSQL_RETRY:
        return "retry"
    if is_data_error(exc):
        return "data"
    if isinstance(exc, IntegrityError):
        return "retry"  # a concurrent writer won a race the next attempt will see
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text:
        return "retry"
    if code in _MYSQL_GONE or sqlstate in _PG_GONE or exc.connection_invalidated:
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
            if kind in ("fatal", "data"):
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
