"""The API's lookups against every reachable database: one event, one stream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from distiller import Event
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

    from quince.shapes import dumps, stream_json

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


def test_event_page_json_is_the_api_shape(engine: Engine) -> None:
    """The database-built events (``list_events_json``, ``stream_events_json``)
    equal quince's Python shape of ``list_events`` / ``stream_events`` on this
    backend: every key and its place, timestamps with and without a fraction,
    text to escape, traits named like an added key (the added key wins), both
    mark directions, type and trait filters."""
    import json

    from quince.shapes import dumps, event_json, event_text_json

    odd_text = 'q"uo\\te \u00e9\n\U0001f600'
    manager = TriggerManager(engine, [DayTrigger(needed=50)], FixedClock(T0))
    at = T0.replace(microsecond=250_001)
    manager.add_events(
        [event(n, instance=f"i-{n % 3}", at=at + timedelta(hours=n)) for n in range(7)]
        + [
            event(10, "compute.instance.exists", instance=odd_text),
            event(11, "compute.instance.exists", timestamp="a trait", _mark="x"),
            Event(
                'odd "type" \u00e9',
                "msg-12",
                T0 + timedelta(seconds=12),
                {"message_id": 7, "event_type": "shadowed"},
            ),
            event(13, instance=None, at=T0 - timedelta(seconds=13)),  # no fraction
        ]
    )

    def ordered(text: bytes) -> list[tuple[str, object]]:
        return list(json.loads(text).items())

    filters = [
        queries.EventFilter(),
        queries.EventFilter(event_name="compute.instance.exists"),
        queries.EventFilter(event_name="odd*"),
        queries.EventFilter(after=T0 + timedelta(hours=2)),
        queries.EventFilter(traits=(queries.TraitFilter("instance_id", ("i-1",)),)),
        queries.EventFilter(traits=(queries.TraitFilter("timestamp", ("a trait",)),)),
    ]
    seen = 0
    with engine.connect() as conn:
        for flt in filters:
            for mark in (None, queries.Mark(3, ascending=True), queries.Mark(9)):
                ascending = mark is not None and mark.ascending
                expected = [
                    ordered(dumps(event_json(e, ascending)))
                    for e in queries.list_events(conn, flt, mark=mark, limit=4)
                ]
                built = [
                    ordered(dumps(event_text_json(e)))
                    for e in queries.list_events_json(conn, flt, mark=mark, limit=4)
                ]
                assert built == expected
                seen += len(built)
        for stream_id in (1, 2, 3, 4):
            expected = [
                ordered(dumps(event_json(e)))
                for e in queries.stream_events(conn, stream_id)
            ]
            built = [
                ordered(dumps(event_text_json(e)))
                for e in queries.stream_events_json(conn, stream_id)
            ]
            assert built == expected
            seen += len(built)
    assert seen > 40
    # the colliding trait lost to the added key, as it always did
    with engine.connect() as conn:
        (odd,) = queries.list_events_json(
            conn, queries.EventFilter(event_name="odd*"), limit=5
        )
    shown = json.loads(dumps(event_text_json(odd)))
    assert (shown["message_id"], shown["event_type"]) == ("msg-12", 'odd "type" \u00e9')


def test_a_page_of_a_rare_type_reads_only_the_page(mysql_url: str) -> None:
    """``/v1/events?event_name=X`` reads about a page of rows on MariaDB
    (``event(event_type_id, id)``), not every row of the type (sorted) nor every
    newer event: 300 old events of a type under 3,000 newer ones of another,
    a page of 10 read through counts of the server's row reads."""
    from winchester.storage.engine import connect
    from winchester.storage.migrate import upgrade

    engine = connect(mysql_url)
    upgrade(engine)
    manager = TriggerManager(engine, [], FixedClock(T0))
    manager.add_events([event(n, "compute.instance.delete.end") for n in range(300)])
    manager.add_events([event(n, at=T0 + timedelta(hours=1)) for n in range(300, 3300)])
    flt = queries.EventFilter(event_name="compute.instance.delete.end")

    def reads(conn: Any) -> int:
        rows = conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_read%%'")
        return sum(int(value) for _name, value in rows)

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE TABLE event")
            assert len(queries.list_events_json(conn, flt, limit=10)) == 10
            before = reads(conn)
            page = queries.list_events_json(conn, flt, limit=10)
            read = reads(conn) - before
        assert [e.id for e in page] == list(range(300, 290, -1))
        assert read < 100, f"{read} row reads for a page of 10"
    finally:
        engine.dispose()
