"""What every resource shares: the settings, the engine, the triggers file.

Built once per process by :func:`quince.app.create_app`. Reads run on a plain
connection (autocommit reads) of ``read_engine`` - ``database.read_url`` when it
is set (a replica or another Galera node; what it shows may lag the primary by
its replication delay), ``database.url`` otherwise; the two writes (reset,
delete) always go to ``database.url`` through
:func:`winchester.storage.engine.run_transaction`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from winchester.config.settings import WinchesterSettings
from winchester.storage.engine import DatabaseUnavailable, run_transaction

__all__ = ["TOKEN_ENV", "QuinceContext"]

T = TypeVar("T")

#: Overrides ``api.token``.
TOKEN_ENV = "STACKTACH_API_TOKEN"


@dataclass(slots=True)
class QuinceContext:
    """The app's shared state."""

    settings: WinchesterSettings
    #: Writes (reset, delete), in transactions.
    engine: Engine
    triggers_path: Path | None
    #: Reads: autocommit connections (:func:`winchester.storage.engine.connect`
    #: with ``reads_only``); the write engine when not given.
    reader: Engine | None = None

    @property
    def token(self) -> str | None:
        """The API token (the environment first); None: no auth."""
        return os.environ.get(TOKEN_ENV) or self.settings.api.token

    @property
    def max_limit(self) -> int:
        """The largest ``limit`` accepted."""
        return self.settings.api.max_limit

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection of :attr:`reader`; again, once, on a
        fresh connection when the pooled one turns out dead (the reader does
        not ping at checkout); ``DatabaseUnavailable`` when it fails to
        connect."""
        for attempt in (1, 2):
            try:
                conn = (self.reader or self.engine).connect()
            except Exception as exc:
                raise DatabaseUnavailable(f"database unavailable: {exc}") from exc
            with conn:
                try:
                    return work(conn)
                except DBAPIError as exc:
                    if attempt == 2 or not exc.connection_invalidated:
                        raise
        raise AssertionError("unreachable")

    def write(self, work: Callable[[Connection], T], what: str) -> T:
        """Run ``work`` in one retried write transaction."""
        return run_transaction(self.engine, work, what=what)
