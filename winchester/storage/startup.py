"""What a command checks about its database before it starts working.

:func:`require_schema` connects once and compares the database's alembic
revision with the code's:

* no revision (a database never migrated) - :class:`DatabaseConfigError`
  "run ``winchester-db -c FILE upgrade``";
* an older revision - the same, to upgrade;
* a revision the code does not know (a schema newer than the code) -
  :class:`DatabaseConfigError`: upgrade StackTach;
* a server that does not answer - retried until ``timeout`` seconds have passed
  (one WARNING), then :class:`~winchester.storage.engine.DatabaseUnavailable`.

:func:`database_error` turns a driver error met while connecting into one of our
exceptions with a message that says what to do: a refused login or an unknown
database is a :class:`DatabaseConfigError` (exit status 2), an unreachable server
:class:`DatabaseUnavailable` (exit status 1).
"""

from __future__ import annotations

import logging
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError

from stacktach.exceptions import ConfigError, StackTachError
from winchester.storage.engine import DatabaseUnavailable, safe_url
from winchester.storage.migrate import alembic_config

__all__ = ["DatabaseConfigError", "database_error", "require_schema"]

LOG = logging.getLogger(__name__)

_MYSQL_LOGIN = {1044, 1045, 1698}  # access denied (to the database / for the user)
_MYSQL_UNKNOWN = {1049}
_MYSQL_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055}


class DatabaseConfigError(ConfigError):
    """The database refuses our configuration: login, database name, schema."""


def database_error(exc: DBAPIError, url: str | URL, config: str) -> StackTachError:
    """Our exception for a driver error met while connecting to ``url``."""
    where = safe_url(url)
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    text = " ".join(str(orig).split())
    lowered = text.lower()
    if (
        code in _MYSQL_LOGIN
        or "password authentication failed" in lowered
        or ("role" in lowered and "does not exist" in lowered)
    ):
        return DatabaseConfigError(
            f"database {where} refused the login ({text}): check the user and "
            f"password in database.url",
            source=config,
        )
    if code in _MYSQL_UNKNOWN or (
        "database" in lowered and "does not exist" in lowered
    ):
        return DatabaseConfigError(
            f"database {where} does not exist ({text}): create it and run "
            f"`winchester-db -c {config} upgrade`, or fix database.url",
            source=config,
        )
    if "unable to open database file" in lowered:
        return DatabaseConfigError(
            f"cannot open the SQLite database {where} ({text}): check the path "
            "in database.url and its folder's permissions",
            source=config,
        )
    if (
        code in _MYSQL_UNREACHABLE
        or isinstance(orig, OSError)
        or any(
            word in lowered
            for word in (
                "connection refused",
                "could not connect",
                "timeout",
                "timed out",
            )
        )
    ):
        return DatabaseUnavailable(
            f"database {where} unreachable ({text}): start it, or fix the host "
            f"and port in database.url of {config}"
        )
    return DatabaseUnavailable(f"database {where}: {type(orig).__name__}: {text}")


def _revisions(engine: Engine) -> tuple[set[str], set[str]]:
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    return set(script.get_heads()), {r.revision for r in script.walk_revisions()}


def require_schema(engine: Engine, config: str, *, timeout: float = 0.0) -> None:
    """Raise unless the database of ``engine`` is at the code's schema revision.

    ``config`` is the winchester.yaml (for the messages); an unreachable
    database is retried for ``timeout`` seconds.
    """
    heads, known = _revisions(engine)
    where = engine.url.render_as_string(hide_password=True)
    deadline = time.monotonic() + timeout
    warned = False
    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    while True:
        try:
            quiet.setLevel(logging.WARNING)  # not its "Context impl" lines
            with engine.connect() as conn:
                current = set(MigrationContext.configure(conn).get_current_heads())
            break
        except DBAPIError as exc:
            error = database_error(exc, engine.url, config)
            engine.dispose()
            if not isinstance(error, DatabaseUnavailable):
                raise error from None
            if time.monotonic() >= deadline:
                raise error from None
            if not warned:
                LOG.warning("%s; retrying for up to %.0fs", error, timeout)
                warned = True
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        finally:
            quiet.setLevel(level)
    upgrade = f"run `winchester-db -c {config} upgrade`"
    if not current:
        raise DatabaseConfigError(
            f"database {where} has no winchester schema (never migrated): {upgrade}",
            source=config,
        )
    unknown = current - known
    if unknown:
        raise DatabaseConfigError(
            f"database {where} is at schema revision {', '.join(sorted(unknown))}, "
            f"newer than this StackTach (newest known: {', '.join(sorted(heads))}): "
            "upgrade StackTach, or migrate the database down with the newer "
            "winchester-db",
            source=config,
        )
    if current != heads:
        raise DatabaseConfigError(
            f"database {where} is at schema revision {', '.join(sorted(current))}, "
            f"older than {', '.join(sorted(heads))}: {upgrade}",
            source=config,
        )
