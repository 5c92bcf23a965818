"""Bad data never stops a batch: each bad notification is refused with a reason.

Against every reachable database (SQLite, MariaDB, PostgreSQL): a batch mixing
good notifications with each kind of bad one stores every good one exactly once
and names, for each bad one, the field and its length.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from distiller import Distiller, Event
from tests.conftest import make_database
from winchester.clock import EventClock, FixedClock
from winchester.ingest import TriggerManager
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.limits import Limits
from winchester.storage.migrate import upgrade

from .helpers import T0, DayTrigger, event


def message_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        column = schema.event.c.message_id
        return sorted(conn.execute(sa.select(column)).scalars())


def stream_event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.sum(schema.stream.c.event_count))
        return int(conn.execute(query).scalar() or 0)


def notification(n: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_type": "compute.instance.update",
        "message_id": f"good-{n}",
        "timestamp": f"2024-01-15 10:00:{n:02d}.5",
        "publisher_id": "compute.h1",
        "payload": {"instance_id": "i-1", "memory_mb": 512},
    }
    payload = changes.pop("payload", {})
    body.update(changes)
    body["payload"] = {**body["payload"], **payload}
    return body


def test_a_batch_of_good_and_bad_notifications(
    engine: Engine, corpus_config: Path
) -> None:
    distiller = Distiller.from_file(corpus_config / "event_definitions.yaml")
    clock = EventClock(engine, refresh=0)
    limit = 18 * 1024 * 1024  # over the 16 MiB traits column, to reach it
    manager = TriggerManager(
        engine, [DayTrigger()], clock, distiller=distiller, max_notification_size=limit
    )
    too_big_for_column = "v" * (16 * 1024 * 1024 + 10)
    oversize = b'{"event_type": "compute.instance.update", "x": "%s"}' % (b"p" * limit)
    batch: list[Any] = [
        notification(1),
        notification(2, message_id="m" * 300),
        notification(3, event_type="compute.instance." + "x" * 300),
        notification(4, payload={"display_name": too_big_for_column}),
        notification(5, payload={"memory_mb": 2**70}),  # the distiller drops it
        notification(6, payload={"instance_id": "k" * 70_000}),
        oversize,
        notification(8, timestamp="2300-01-01 00:00:00"),  # stored; not for the clock
        json.dumps(notification(9)),
        notification(1),  # a duplicate: counted, not rejected
    ]
    result = manager.add_notifications(batch)
    reasons = dict(result.rejected)
    assert sorted(reasons) == [1, 2, 3, 5, 6]
    assert "message_id" in reasons[1] and "300 characters" in reasons[1]
    assert "event type" in reasons[2] and "317 characters" in reasons[2]
    assert "traits" in reasons[3] and "display_name" in reasons[3]
    assert str(len(too_big_for_column)) in reasons[3]
    assert "distinguishing traits" in reasons[5] and "70" in reasons[5]
    assert f"is {len(oversize)} bytes" in reasons[6]
    assert (result.saved, result.duplicates) == (4, 1)
    assert result.future_events == 1
    assert (manager.totals["rejected"], manager.totals["future_events"]) == (5, 1)
    assert message_ids(engine) == ["good-1", "good-5", "good-8", "good-9"]
    assert stream_event_count(engine) == 4
    # the far-future event did not move the event clock
    assert EventClock(engine, refresh=0).now() == T0 + timedelta(seconds=9.5)
    # redelivered: every good one is a duplicate, the bad ones are refused again
    again = manager.add_notifications(batch)
    assert (again.saved, again.duplicates, len(again.rejected)) == (0, 5, 5)


def test_each_bad_event_is_refused_and_the_rest_stored(engine: Engine) -> None:
    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    year_one = T0.replace(year=1)
    bad = [
        event(2, **{"n" * 256: 1}),  # trait name too long
        Event("compute.instance.update", "m-\x00", T0, {}),
        Event("compute.instance.update", "m-\ud800", T0, {}),
        Event("compute.instance.update", "m-year-one", year_one, {}),
        event(6, blob=object()),  # a value that cannot be stored at all
        event(7, big=2**70),
    ]
    result = manager.add_events([event(1), *bad, event(8)])
    reasons = dict(result.rejected)
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert "trait name" in reasons[1] and "256 characters" in reasons[1]
    assert "message_id contains a NUL" in reasons[2]
    assert "message_id is not valid UTF-8" in reasons[3]
    assert "0001-01-15" in reasons[4]
    assert "blob" in reasons[5] and "object" in reasons[5]
    assert "big" in reasons[6] and "71 bits" in reasons[6]
    assert result.saved == 2
    assert message_ids(engine) == ["msg-1", "msg-8"]


@pytest.fixture(params=["mysql", "postgresql"])
def strict_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """A database that refuses over-long values itself (SQLite stores them)."""
    engine = connect(make_database(request.param, request, tmp_path))
    upgrade(engine)
    yield engine
    engine.dispose()


def test_a_batch_the_database_refuses_is_split_down_to_the_culprits(
    strict_engine: Engine,
) -> None:
    lax = Limits(message_id=10_000)  # let the database be the one to refuse
    manager = TriggerManager(strict_engine, [DayTrigger()], FixedClock(T0))
    manager._limits = lax
    events = [event(n) for n in range(20)]
    events[5] = Event(events[5].event_type, "m" * 200, T0, events[5].traits)
    events[13] = Event(events[13].event_type, "n" * 129, T0, events[13].traits)
    result = manager.add_events(events)
    assert [index for index, _ in result.rejected] == [5, 13]
    for _, reason in result.rejected:
        assert reason.startswith("refused by the database: ")
        assert "long" in reason.lower()  # "Data too long" / "value too long"
    assert result.saved == 18
    assert len(message_ids(strict_engine)) == 18
    assert stream_event_count(strict_engine) == 18


def test_large_events_are_sent_under_the_packet_limit(engine: Engine) -> None:
    # 6 x 3 MiB is more than MariaDB's 16 MiB max_allowed_packet in one statement
    manager = TriggerManager(engine, [], FixedClock(T0))
    events = [event(n, blob=str(n) * (3 * 1024 * 1024)) for n in range(6)]
    result = manager.add_events(events)
    assert (result.saved, result.rejected) == (6, [])


def test_a_failed_transaction_does_not_move_the_event_clock(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = EventClock(engine, refresh=3600)  # reads the database once
    manager = TriggerManager(engine, [DayTrigger()], clock)
    manager.add_events([event(1)])
    assert clock.now() == T0 + timedelta(seconds=1)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("crash before the commit")

    monkeypatch.setattr(manager, "_grow_streams", boom)
    with pytest.raises(RuntimeError):
        manager.add_events([event(50)])
    assert clock.now() == T0 + timedelta(seconds=1)
    monkeypatch.undo()
    manager.add_events([event(50)])
    assert clock.now() == T0 + timedelta(seconds=50)


def test_far_future_events_never_move_the_event_clock(engine: Engine) -> None:
    clock = EventClock(engine, refresh=0)
    manager = TriggerManager(
        engine, [], clock, clock_max_skew=timedelta(hours=1), wall=lambda: T0
    )
    result = manager.add_events(
        [event(1), event(2, at=T0 + timedelta(hours=2)), event(3)]
    )
    assert (result.saved, result.future_events) == (3, 1)
    assert manager.totals["future_events"] == 1
    assert EventClock(engine, refresh=0).now() == T0 + timedelta(seconds=3)


def test_wall_clock_with_old_traffic_warns_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from winchester import ingest
    from winchester.clock import WallClock

    monkeypatch.setattr(ingest, "_warned_wall_clock", False)
    manager = TriggerManager(engine, [], WallClock())
    with caplog.at_level("WARNING", logger="winchester.ingest"):
        manager.add_events([event(1), event(2)])  # 2024: far behind the wall clock
        manager.add_events([event(3), event(4)])
    warnings = [r for r in caplog.records if "clock: event" in r.getMessage()]
    assert len(warnings) == 1
    assert "2 of 2 events" in warnings[0].getMessage()


def test_recent_traffic_and_the_event_clock_do_not_warn(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from winchester import ingest
    from winchester.clock import WallClock

    monkeypatch.setattr(ingest, "_warned_wall_clock", False)
    with caplog.at_level("WARNING", logger="winchester.ingest"):
        recent = TriggerManager(engine, [], WallClock(), wall=lambda: T0)
        recent.add_events([event(1), event(2, at=T0 - timedelta(days=3))])
        TriggerManager(engine, [], EventClock(engine)).add_events([event(3)])
    assert not [r for r in caplog.records if "clock: event" in r.getMessage()]


def test_an_unreachable_database_is_an_outage_not_bad_data(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from tests.support.proxy import Proxy
    from winchester.storage.engine import DatabaseUnavailable

    url = make_database("mysql", request, tmp_path)
    upgrade_engine = connect(url)
    upgrade(upgrade_engine)
    upgrade_engine.dispose()
    proxy = Proxy(3306)
    engine = connect(url.replace("127.0.0.1:3306", f"127.0.0.1:{proxy.port}"))
    try:
        manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
        assert manager.add_events([event(1)]).saved == 1
        proxy.cut()
        with pytest.raises(DatabaseUnavailable):
            manager.add_events([event(2), event(3)])
        fresh = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
        with pytest.raises(DatabaseUnavailable):  # its first look at the database
            fresh.add_events([event(2), event(3)])
        proxy.restore()
        assert manager.add_events([event(2), event(3)]).saved == 2
    finally:
        engine.dispose()
        proxy.close()


def test_an_error_computing_one_stream_refuses_only_its_events(engine: Engine) -> None:
    # the edge of the calendar: the trigger's expiry ($last + 2h) overflows
    edge = T0.replace(year=9999, month=12, day=31, hour=23)
    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    events = [event(1), event(2, instance="i-2"), event(3, instance="i-3", at=edge)]
    result = manager.add_events([*events, event(4, instance="i-4")])
    assert [index for index, _ in result.rejected] == [2]
    assert "OverflowError" in result.rejected[0][1]
    assert message_ids(engine) == ["msg-1", "msg-2", "msg-4"]
    assert stream_event_count(engine) == 3


def test_mysql_sessions_are_strict(mysql_server: str) -> None:
    # strict whatever the server's default: nothing is ever truncated
    engine = connect(mysql_server)
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar()
    finally:
        engine.dispose()
    assert "STRICT_ALL_TABLES" in str(mode)


def test_ids_and_names_that_differ_only_in_case_or_spaces_are_distinct(
    engine: Engine,
) -> None:
    # MariaDB's default collation would hold these equal
    manager = TriggerManager(engine, [], FixedClock(T0))
    ids = ["abc", "ABC", "abc ", "äbc"]
    result = manager.add_events(
        [
            Event(f"compute.instance.{'update' if n % 2 else 'UPDATE'}", mid, T0, {})
            for n, mid in enumerate(ids)
        ]
        + [event(9, memory_MB=1)]
    )
    assert (result.saved, result.duplicates, result.rejected) == (5, 0, [])
    assert message_ids(engine) == sorted([*ids, "msg-9"])
    with engine.connect() as conn:
        names = set(conn.execute(sa.select(schema.trait_name.c.name)).scalars())
        types = set(conn.execute(sa.select(schema.event_type.c.name)).scalars())
    assert {"memory_mb", "memory_MB"} <= names
    assert {"compute.instance.update", "compute.instance.UPDATE"} <= types


def test_inserts_ignore_only_the_duplicate_key(strict_engine: Engine) -> None:
    from sqlalchemy.exc import DBAPIError

    from winchester.storage.dialect import insert_ignore
    from winchester.storage.engine import is_data_error

    table = schema.event_type
    with strict_engine.begin() as conn:
        statement = insert_ignore(conn, table, ["name"])
        conn.execute(statement, [{"name": "a"}, {"name": "b"}])
        conn.execute(statement, [{"name": "a"}])  # a duplicate: skipped
    with pytest.raises(DBAPIError) as refused, strict_engine.begin() as conn:
        conn.execute(insert_ignore(conn, table, ["name"]), [{"name": "x" * 300}])
    assert is_data_error(refused.value)  # never truncated (INSERT IGNORE did)
    with strict_engine.connect() as conn:
        names = sorted(conn.execute(sa.select(table.c.name)).scalars())
    assert names == ["a", "b"]


def test_an_event_larger_than_the_packet_limit_is_refused_not_an_outage(
    mysql_url: str,
) -> None:
    engine = connect(mysql_url)
    upgrade(engine)
    try:
        manager = TriggerManager(engine, [], FixedClock(T0))
        # fits MEDIUMTEXT, but not a 16 MiB packet with the statement around it
        big = event(1, blob="b" * (16 * 1024 * 1024 - 32 * 1024))
        result = manager.add_events([big, event(2)])
        [(index, reason)] = result.rejected
        assert index == 0 and "traits are" in reason and "'blob'" in reason
        assert result.saved == 1
    finally:
        engine.dispose()


def test_a_decoded_notification_too_deep_to_measure_is_left_to_the_distiller(
    engine: Engine, corpus_config: Path
) -> None:
    distiller = Distiller.from_file(corpus_config / "event_definitions.yaml")
    manager = TriggerManager(engine, [], FixedClock(T0), distiller=distiller)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):  # past json's recursion limit, and orjson's depth
        node["a"] = {}
        node = node["a"]
    result = manager.add_notifications([notification(1, payload={"deep": deep})])
    assert (result.saved, result.rejected) == (1, [])  # no trait reads the deep part


def test_a_fault_of_the_database_itself_holds_the_batch(engine: Engine) -> None:
    """A missing table blames no notification: the batch is held, none refused."""
    from winchester.storage.engine import DatabaseUnavailable

    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    assert manager.add_events([event(1)]).saved == 1
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE stream_event RENAME TO stream_event_gone")
    try:
        with pytest.raises(DatabaseUnavailable, match="refused the batch"):
            manager.add_events([event(2), event(3)])
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE stream_event_gone RENAME TO stream_event")
    result = manager.add_events([event(2), event(3)])
    assert result.saved == 2 and not result.rejected


def test_a_missing_trait_index_holds_the_batch(engine: Engine) -> None:
    """The trait index rows go by their own path (COPY on PostgreSQL): its
    failure is the database's fault too, and holds the batch."""
    from winchester.storage.engine import DatabaseUnavailable

    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE trait_index RENAME TO trait_index_gone")
    try:
        with pytest.raises(DatabaseUnavailable, match="refused the batch"):
            manager.add_events([event(1), event(2)])
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE trait_index_gone RENAME TO trait_index")
    assert message_ids(engine) == []
    result = manager.add_events([event(1), event(2)])
    assert result.saved == 2 and not result.rejected


@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_a_connection_lost_while_the_trait_index_is_sent_is_an_outage(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from tests.support.proxy import Proxy
    from winchester.storage import events as event_store
    from winchester.storage.engine import DatabaseUnavailable

    url = make_database(kind, request, tmp_path)
    upgrade_engine = connect(url)
    upgrade(upgrade_engine)
    upgrade_engine.dispose()
    port = 3306 if kind == "mysql" else 5432
    proxy = Proxy(port)
    engine = connect(url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy.port}"))
    name = "copy" if kind == "postgresql" else "insert"
    send = getattr(event_store, f"{name}_trait_index_pieces")
    cuts: list[int] = []

    def cut_then_send(conn: Any, groups: Any) -> int:
        if not cuts:
            cuts.append(1)
            proxy.cut()  # the connection dies between the events and their index
        return int(send(conn, groups))

    manager = TriggerManager(engine, [DayTrigger()], FixedClock(T0))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(event_store, f"{name}_trait_index_pieces", cut_then_send)
            with pytest.raises(DatabaseUnavailable):
                manager.add_events([event(1), event(2)])
            assert cuts == [1]
            proxy.restore()
            result = manager.add_events([event(1), event(2)])
        assert result.saved == 2 and not result.rejected  # nothing refused
        assert message_ids(engine) == ["msg-1", "msg-2"]
    finally:
        engine.dispose()
        proxy.close()
