"""Alembic environment: the URL and, online, the connection come from winchester-db."""

from __future__ import annotations

from alembic import context

from winchester.storage.engine import Timeouts, connect
from winchester.storage.schema import metadata

config = context.config


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    # DDL on a large table may take long: bound only the connecting.
    unbounded = Timeouts(read=0, write=0, statement=0, lock=0)
    engine = connect(config.get_main_option("sqlalchemy.url") or "", timeouts=unbounded)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
