"""The live view's change log: logged with the change, exactly the rows changed,
read back by id ranges, trimmed with the events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from winchester.states import StreamState
from winchester.storage import changes, lifecycle, schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade
from winchester.storage.retention import EventTrimmer

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _streams(conn: sa.Connection, states: list[StreamState]) -> list[int]:
    ids = []
    for n, state in enumerate(states):
        ids.append(
            conn.execute(
                schema.stream.insert().values(
                    trigger_name="t",
                    state=int(state),
                    dist_key=f"k{n}",
                    distinguishing_traits=json.dumps({"instance_id": f"i-{n}"}),
                    first_event=T0,
                    last_event=T0,
                    created_at=T0,
                )
            ).inserted_primary_key[0]
        )
    return ids


def test_changes_are_logged_for_exactly_the_rows_changed(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        error, other, active = _streams(
            conn, [StreamState.ERROR, StreamState.EXPIRE_ERROR, StreamState.ACTIVE]
        )
        assert lifecycle.reset(conn, error) == StreamState.RETRY_FIRE
        assert lifecycle.reset(conn, active) is None  # nothing changes, nothing logged
        changes.record(
            conn, {StreamState.EXPIRE_ERROR: changes.ERROR}, [other, active],
            reason="broken",
        )  # fmt: skip
    with engine.connect() as conn:
        logged = changes.read_changes(conn, [(1, None)])
        assert [(c.stream_id, c.change, c.state) for c in logged] == [
            (error, "reset", StreamState.RETRY_FIRE),
            (other, "error", StreamState.EXPIRE_ERROR),
        ]
        assert logged[1].reason == "broken"
        assert logged[0].distinguishing_traits == {"instance_id": "i-0"}
        # ranges and exclusions
        first, second = logged[0].id, logged[1].id
        assert [c.id for c in changes.read_changes(conn, [(second, None)])] == [second]
        assert changes.read_changes(conn, [(1, None)], exclude=[(first, second)]) == []
    with engine.begin() as conn:  # age the log: trimming removes it
        conn.execute(schema.stream_change.update().values(at=T0 - timedelta(days=30)))
    trimmer = EventTrimmer(engine)
    trimmer.trim(T0 - timedelta(days=1))
    with engine.connect() as conn:
        assert changes.read_changes(conn, [(1, None)]) == []
    engine.dispose()


def test_logged_changes_get_consecutive_ids(database_url: str) -> None:
    """Each statement's ids follow the last one's: no hole for every watcher's
    cursor to carry (InnoDB leaves one after each INSERT ... SELECT)."""
    engine = connect(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        ids = _streams(conn, [StreamState.ACTIVE] * 40)
        for start in range(0, 40, 5):
            changes.record(conn, changes.CREATED, ids[start : start + 5], at=T0)
    with engine.connect() as conn:
        logged = changes.read_changes(conn, [(1, None)], limit=100)
    engine.dispose()
    assert sorted(c.stream_id for c in logged) == ids
    assert [c.id for c in logged] == list(range(logged[0].id, logged[0].id + 40))
    assert {c.at for c in logged} == {T0}
