"""Ingest against every reachable database: events, duplicates, streams, firing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from winchester.clock import EventClock, FixedClock
from winchester.ingest import TriggerManager
from winchester.states import StreamState
from winchester.storage import schema
from winchester.storage.values import decode_traits

from .helpers import T0, DayTrigger, event


def streams(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(schema.stream).order_by(schema.stream.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_events_are_stored_with_typed_traits(engine: Engine) -> None:
    manager = TriggerManager(engine, [], FixedClock(T0))
    result = manager.add_events([event(1, memory_mb=2048, ratio=0.5)])
    assert (result.saved, result.duplicates) == (1, 0)
    with engine.connect() as conn:
        row = conn.execute(sa.select(schema.event)).mappings().one()
    assert row["message_id"] == "msg-1"
    assert row["generated"] == T0 + timedelta(seconds=1)
    assert decode_traits(row["traits"]) == {
        "instance_id": "i-1",
        "memory_mb": 2048,
        "launched_at": T0,
        "ratio": 0.5,
    }
    assert count(engine, schema.trait_index) == 4


def test_duplicates_in_a_batch_across_batches_and_on_redelivery(engine: Engine) -> None:
    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    first = manager.add_events([event(1), event(2), event(1)])
    assert (first.saved, first.duplicates) == (2, 1)
    again = manager.add_events([event(2), event(3)])
    assert (again.saved, again.duplicates) == (1, 1)
    # a second process (fresh caches) redelivering the whole lot
    other = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    redelivered = other.add_events([event(1), event(2), event(3)])
    assert (redelivered.saved, redelivered.duplicates) == (0, 3)
    assert count(engine, schema.event) == 3
    [stream] = streams(engine)
    assert stream["event_count"] == 3
    assert count(engine, schema.stream_event) == 3


def test_one_stream_per_key_with_span_expiry_and_incremental_firing(
    engine: Engine,
) -> None:
    manager = TriggerManager(engine, [DayTrigger(needed=2, delay=30)], FixedClock(T0))
    manager.add_events([event(5), event(1, instance="i-2")])
    manager.add_events([event(3), event(9, "compute.instance.exists")])
    by_instance = {s["distinguishing_traits"]: s for s in streams(engine)}
    assert len(by_instance) == 2
    one = next(s for k, s in by_instance.items() if '"i-1"' in k)
    assert one["state"] == StreamState.ACTIVE
    assert one["event_count"] == 3
    assert one["first_event"] == T0 + timedelta(seconds=3)
    assert one["last_event"] == T0 + timedelta(seconds=9)
    assert one["expire_timestamp"] == T0 + timedelta(seconds=9, hours=2)
    assert one["fire_counts"] == "1"
    assert one["fire_timestamp"] is None
    result = manager.add_events([event(12, "compute.instance.exists")])
    assert result.ready_to_fire == 1
    [one] = [s for s in streams(engine) if s["id"] == one["id"]]
    assert one["fire_counts"] == "2"
    assert one["fire_timestamp"] == T0 + timedelta(seconds=30)


def test_events_of_another_day_go_to_another_stream(engine: Engine) -> None:
    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    manager.add_events([event(1), event(2, at=T0 + timedelta(days=1))])
    assert len(streams(engine)) == 2


def test_a_closed_key_starts_a_new_stream_and_counts_late_events(
    engine: Engine,
) -> None:
    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    manager.add_events([event(1)])
    [first] = streams(engine)
    with engine.begin() as conn:  # what a pipeline worker's claim does
        conn.execute(
            schema.stream.update()
            .where(schema.stream.c.id == first["id"])
            .values(state=int(StreamState.FIRING), open_key=None)
        )
    result = manager.add_events([event(2), event(3)])
    assert (result.streams_created, result.late_events) == (1, 2)
    old, new = streams(engine)
    assert old["event_count"] == 1 and new["event_count"] == 2
    assert old["dist_key"] == new["dist_key"] and new["open_key"] == new["dist_key"]


def test_an_expired_open_stream_takes_no_more_events(engine: Engine) -> None:
    clock = FixedClock(T0)
    manager = TriggerManager(engine, [DayTrigger()], clock)
    manager.add_events([event(1)])
    clock.set(T0 + timedelta(hours=3))  # past $last + 2h
    result = manager.add_events([event(2)])
    assert result.streams_created == 1
    old, new = streams(engine)
    assert old["open_key"] is None and old["state"] == StreamState.ACTIVE
    assert old["event_count"] == 1 and new["event_count"] == 1


def test_a_failed_batch_leaves_nothing_behind(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    manager.add_events([event(1)])

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("crash after the events were inserted")

    monkeypatch.setattr(manager, "_grow_streams", boom)
    with pytest.raises(RuntimeError):
        manager.add_events([event(2), event(3)])
    assert count(engine, schema.event) == 1
    assert count(engine, schema.trait_index) == 3
    assert count(engine, schema.stream_event) == 1
    monkeypatch.undo()
    assert manager.add_events([event(2), event(3)]).saved == 2


def test_event_clock_is_the_high_water_mark(engine: Engine) -> None:
    clock = EventClock(engine, refresh=0)
    manager = TriggerManager(engine, [], clock)
    assert clock.now() == EventClock.EPOCH
    manager.add_events([event(5), event(2)])
    manager.add_events([event(1)])  # older: the mark does not go back
    fresh = EventClock(engine, refresh=0)
    assert fresh.now() == T0 + timedelta(seconds=5)


def test_trigger_counters_add_up_across_managers(engine: Engine) -> None:
    for n in (1, 2):
        TriggerManager(engine, [DayTrigger()], FixedClock(T0)).add_events(
            [
                event(n * 10),
                event(n * 10 + 1, "compute.instance.exists"),
                event(n * 10 + 2, instance=None),
            ]
        )
    with engine.connect() as conn:
        query = sa.select(
            schema.trigger_counter.c.counter, schema.trigger_counter.c.value
        )
        counters = {name: value for name, value in conn.execute(query)}
    assert counters == {
        "matched": 4,
        "mismatched": 2,
        "new stream": 1,
        "ready to fire": 1,
    }


def test_add_notifications_distils_and_reports_rejects(
    engine: Engine, corpus_config
) -> None:
    from distiller import Distiller

    distiller = Distiller.from_file(corpus_config / "event_definitions.yaml")
    manager = TriggerManager(
        engine, [DayTrigger()], FixedClock(T0), distiller=distiller
    )
    good = {
        "event_type": "compute.instance.update",
        "message_id": "n-1",
        "timestamp": "2024-01-15 10:00:00.5",
        "publisher_id": "compute.h1",
        "payload": {"instance_id": "i-9", "memory_mb": 512},
    }
    result = manager.add_notifications(
        [good, b"{not json", {**good, "event_type": "image.upload"}]
    )
    assert result.saved == 1 and result.unmatched == 1
    assert [index for index, _ in result.rejected] == [1]
    assert (
        datetime(2024, 1, 15, 10, 0, 0, 500000, UTC)
        == streams(engine)[0]["first_event"]
    )


def test_types_round_trip_without_loss(engine: Engine) -> None:
    precise = datetime(2024, 2, 29, 23, 59, 59, 999999, UTC)
    traits = {
        "big": 2**62 + 7,
        "negative": -(2**63),
        "ratio": 0.1 + 0.2,
        "long_text": "x" * 70_000,  # past 255 chars and MySQL TEXT's 64 KiB
        "unicode": "héllo ☃ 雪",
        "precise": precise,
    }
    manager = TriggerManager(engine, [], FixedClock(T0))
    manager.add_events([event(1, at=precise - timedelta(seconds=1), **traits)])
    with engine.connect() as conn:
        row = conn.execute(sa.select(schema.event)).mappings().one()
    stored = decode_traits(row["traits"])
    for name, value in traits.items():
        assert stored[name] == value, name
        assert type(stored[name]) is type(value), name
    assert row["generated"] == precise
