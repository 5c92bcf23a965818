# mypy: disallow-untyped-calls=False
"""Prepare the engines: the database (created, migrated) and the broker topology.

:func:`create_database` creates the database of a MariaDB/MySQL or PostgreSQL
URL when it does not exist (the server must be reachable with rights to create
it); SQLite needs nothing. :func:`migrate` runs ``winchester-db upgrade``.
:func:`declare_topology` declares, before any process starts, what yagi-event
would declare itself - every exchange, queue (quorum when the yagi.conf says
so), binding and ``<queue>.failed`` dead-letter queue of the yagi.conf - so
that nothing notigen publishes is dropped for want of a bound queue.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import notabene
from notabene.connection import establish
from notabene.topology import declare_queues
from stacktach.exceptions import ConfigError
from yagi import config as yagi_config

__all__ = ["create_database", "declare_topology", "migrate"]


def create_database(url: str) -> str | None:
    """Create the database named by ``url`` if missing; return its name (or None)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    name = parsed.database
    if backend == "sqlite" or not name:
        return None
    if backend not in ("mysql", "mariadb", "postgresql"):
        raise ConfigError(
            f"cannot create a {backend} database; use mysql+pymysql:// or "
            "postgresql+psycopg://",
            key="--db-url",
        )
    server = parsed.set(database="postgres" if backend == "postgresql" else "")
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                found = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": name},
                ).first()
                if found is None:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            else:
                conn.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"
                )
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(
            f"cannot reach the database server "
            f"{parsed.render_as_string(hide_password=True)}: {reason}; start it or "
            "give another --db-url",
            key="--db-url",
        ) from None
    finally:
        engine.dispose()
    return name


def migrate(bin_dir: Path, config: Path, cwd: Path) -> None:
    """Run ``winchester-db -c config upgrade`` (its own error on failure)."""
    done = subprocess.run(
        [str(bin_dir / "winchester-db"), "-c", str(config), "upgrade"],
        cwd=cwd,
        check=False,
    )
    if done.returncode != 0:
        raise ConfigError(
            f"winchester-db upgrade failed (status {done.returncode}), see above",
            key=str(config),
        )


def declare_topology(yagi_conf: Path) -> list[str]:
    """Declare the exchanges and queues of ``yagi_conf``; return the queue names."""
    config = yagi_config.load([yagi_conf])
    specs = [c.queue_spec() for c in config.consumers]
    url = config.broker_url
    amqp = url.split(":", 1)[0] in ("amqp", "amqps", "pyamqp")
    try:
        conn = establish(url, deadline=time.monotonic() + 15)
    except notabene.BrokerUnavailable as exc:
        raise ConfigError(
            f"cannot reach the broker {notabene.redact_url(url)}: {exc}; start it or "
            "give another --broker-url",
            key="--broker-url",
        ) from None
    try:
        queues = declare_queues(conn.channel(), specs, native_dead_letter=amqp)
    finally:
        conn.release()
    return list(queues)
