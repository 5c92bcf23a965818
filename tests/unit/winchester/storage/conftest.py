"""The storage tests' engine: a migrated empty database, once per backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on ``database_url`` (SQLite, MariaDB, PostgreSQL), at head."""
    engine = connect(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()
