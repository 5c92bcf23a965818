"""storage.retention on every database: purge held streams, trim in bounded batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from distiller import Event
from tests.unit.winchester.test_pipeline import engine
from winchester.clock import FixedClock
from winchester.config.triggers import build_triggers
from winchester.ingest import TriggerManager
from winchester.states import StreamState
from winchester.storage import retention, schema
from winchester.storage.engine import run_transaction

__all__ = ["engine"]  # the fixture, re-exported for pytest

T0 = datetime(2024, 5, 1, tzinfo=UTC)
TRIGGER = {
    "name": "t",
    "distinguished_by": ["instance_id"],
    "expiration": "$last + 1h",
    "match_criteria": [{"event_type": "compute.*"}],
    "fire_criteria": [{"event_type": "compute.never"}],
    "fire_pipeline": "p",
}


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())


def fill(engine: Engine) -> dict[str, int]:
    """Three instances, two events each; instance -> stream id."""
    manager = TriggerManager(engine, build_triggers([TRIGGER]), FixedClock(T0))
    manager.add_events(
        [
            Event(
                "compute.x", f"m-{i}-{k}", T0 + timedelta(minutes=k), {"instance_id": i}
            )
            for i in ("a", "b", "c")
            for k in range(2)
        ]
    )
    stream = schema.stream
    with engine.connect() as conn:
        rows = conn.execute(sa.select(stream.c.id, stream.c.distinguishing_traits))
        return {row.distinguishing_traits.split('"')[-2]: row.id for row in rows}


def set_state(engine: Engine, stream_id: int, state: StreamState) -> None:
    with engine.begin() as conn:
        conn.execute(
            schema.stream.update()
            .where(schema.stream.c.id == stream_id)
            .values(state=int(state))
        )


def test_purge_deletes_streams_links_and_traits_not_events(engine: Engine) -> None:
    streams = fill(engine)
    deleted = run_transaction(
        engine, lambda c: retention.purge_streams(c, [streams["a"], streams["b"]])
    )
    assert deleted == 2
    assert count(engine, schema.stream) == 1
    assert count(engine, schema.stream_event) == 2
    assert count(engine, schema.stream_dist_trait) == 1
    assert count(engine, schema.event) == 6


def test_trim_works_in_bounded_batches_and_spares_unfinished_streams(
    engine: Engine,
) -> None:
    streams = fill(engine)
    set_state(engine, streams["a"], StreamState.COMPLETED)
    set_state(engine, streams["b"], StreamState.ERROR)  # may be reset: kept
    trimmer = retention.EventTrimmer(engine, batch_size=1)
    cutoff = T0 + timedelta(days=1)
    assert [trimmer.trim(cutoff) for _ in range(3)] == [1, 1, 0]
    with engine.connect() as conn:
        left = set(conn.execute(sa.select(schema.event.c.message_id)).scalars())
    assert left == {"m-b-0", "m-b-1", "m-c-0", "m-c-1"}
    assert retention.EventTrimmer(engine, batch_size=10).trim(T0) == 0  # too recent
