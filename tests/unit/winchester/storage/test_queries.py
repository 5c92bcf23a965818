"""The API's lookups against every reachable database: one event, one stream."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from winchester.clock import FixedClock
from winchester.ingest import TriggerManager
from winchester.states import StreamState
from winchester.storage import queries

from .helpers import T0, DayTrigger, event


def test_event_by_message_id_and_by_id(engine: Engine) -> None:
    TriggerManager(engine, [], FixedClock(T0)).add_events([event(1, ratio=0.5)])
    with engine.connect() as conn:
        found = queries.event_by_message_id(conn, "msg-1")
        assert found is not None
        assert queries.event_by_id(conn, found.id) == found
        assert queries.event_by_message_id(conn, "msg-2") is None
        assert queries.event_by_id(conn, found.id + 1000) is None
    assert (found.message_id, found.event_type) == ("msg-1", "compute.instance.update")
    assert found.generated == T0 + timedelta(seconds=1)
    assert found.traits == {
        "instance_id": "i-1",
        "memory_mb": 512,
        "launched_at": T0,
        "ratio": 0.5,
    }


def test_stream_by_id(engine: Engine) -> None:
    manager = TriggerManager(engine, [DayTrigger(needed=1)], FixedClock(T0))
    manager.add_events([event(1), event(2, "compute.instance.exists")])
    with engine.connect() as conn:
        stream = queries.stream_by_id(conn, 1)
        assert queries.stream_by_id(conn, 99) is None
    assert stream is not None
    assert (stream.trigger_name, stream.state) == (
        "per_instance_day",
        StreamState.ACTIVE,
    )
    assert stream.distinguishing_traits == {
        "instance_id": "i-1",
        "day": T0.replace(hour=0),
    }
    assert stream.event_count == 2
    assert (stream.first_event, stream.last_event) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=2),
    )
    assert stream.fire_timestamp == T0
    assert stream.expire_timestamp == T0 + timedelta(seconds=2, hours=2)


def test_stream_page_json_is_the_api_shape(engine: Engine) -> None:
    """The database-built page (``list_streams_json``) equals quince's Python
    shape of ``list_streams`` on this backend: every field, NULL timestamps,
    typed distinguishing traits, both mark directions, a trait filter."""
    import json

    from quince.app import dumps
    from quince.shapes import stream_json

    manager = TriggerManager(engine, [DayTrigger(needed=5)], FixedClock(T0))
    manager.add_events(
        [event(n, instance=f"i-{n % 3}", at=T0 + timedelta(hours=n)) for n in range(9)]
    )
    manager.add_events([event(20, "compute.instance.exists", instance='q"uo\\te')])
    from winchester.storage import schema

    with engine.begin() as conn:  # one stream in error, with a reason to escape
        conn.execute(
            schema.stream.update()
            .where(schema.stream.c.id == 1)
            .values(state=int(StreamState.ERROR), last_error='boom: "x" \u00e9\n\\ end')
        )
    filters = [
        queries.StreamFilter(),
        queries.StreamFilter(state=StreamState.ACTIVE, trigger_name="per_instance_day"),
        queries.StreamFilter(state=StreamState.ERROR),
        queries.StreamFilter(traits=(queries.TraitFilter("instance_id", ("i-1",)),)),
    ]
    with engine.connect() as conn:
        for flt in filters:
            for mark in (None, queries.Mark(2, ascending=True), queries.Mark(4)):
                ascending = mark is not None and mark.ascending
                expected = [
                    json.loads(dumps(stream_json(s, ascending)))
                    for s in queries.list_streams(conn, flt, mark=mark, limit=3)
                ]
                built = [
                    json.loads(text)
                    for text in queries.list_streams_json(conn, flt, mark=mark, limit=3)
                ]
                assert built == expected
                assert expected or mark is not None
