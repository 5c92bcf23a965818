"""The event insert tells new rows from duplicates exactly, under concurrent writers.

On MariaDB ``RETURNING`` cannot tell them apart, so the insert reads the stored
message ids first (a locking read) and inserts the rest: these tests race it
with another connection, on every reachable database.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.conftest import make_database
from winchester.storage import events, schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

T0 = datetime(2024, 1, 15, tzinfo=UTC)


@pytest.fixture(params=["mysql", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """MariaDB and PostgreSQL (SQLite has one writer at a time)."""
    engine = connect(make_database(request.param, request, tmp_path))
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(schema.event_type.insert(), [{"id": 1, "name": "e"}])
    yield engine
    engine.dispose()


def row(message_id: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "event_type_id": 1,
        "generated": T0,
        "traits": "{}",
    }


@pytest.fixture
def mysql_engine(mysql_url: str) -> Engine:
    """MariaDB: the read-then-insert path (the others rely on RETURNING)."""
    engine = connect(mysql_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(schema.event_type.insert(), [{"id": 1, "name": "e"}])
    yield engine
    engine.dispose()


def test_a_row_committed_between_the_read_and_the_insert(
    mysql_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = mysql_engine
    with engine.begin() as other:  # a redelivery: m-1 is stored already
        other.execute(schema.event.insert(), [row("m-1")])
    real = events._stored_message_ids
    calls = []

    def racing(conn: Any, ids: list[str]) -> set[str]:
        found = real(conn, ids)
        if not calls:  # another writer commits m-2 right after our read
            with engine.begin() as other:
                other.execute(schema.event.insert(), [row("m-2")])
        calls.append(ids)
        return found

    monkeypatch.setattr(events, "_stored_message_ids", racing)
    with engine.begin() as conn:
        new, _ = events.insert_events(conn, [row("m-1"), row("m-2"), row("m-3")])
    assert sorted(new) == ["m-3"]
    assert calls == [["m-1", "m-2", "m-3"], ["m-2", "m-3"]]


def test_a_concurrent_uncommitted_row_is_waited_for(engine: Engine) -> None:
    inserted = threading.Event()
    done: dict[str, Any] = {}
    with engine.connect() as holder:
        holder.begin()
        holder.execute(schema.event.insert(), [row("m-1")])

        def other() -> None:
            with engine.begin() as conn:
                inserted.set()
                done["new"], _ = events.insert_events(conn, [row("m-1"), row("m-2")])

        thread = threading.Thread(target=other)
        thread.start()
        inserted.wait(10)
        holder.commit()
    thread.join(30)
    assert sorted(done["new"]) == ["m-2"]
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(schema.event))
        assert count.scalar_one() == 2
