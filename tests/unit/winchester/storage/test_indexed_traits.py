"""``indexed_traits``: only the traits it names get ``trait_index`` rows; the
choice is kept per trait name in the database, and filters on the other
traits still find every match (pages and counts), on every backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from winchester.clock import FixedClock
from winchester.ingest import TriggerManager
from winchester.storage import queries, schema
from winchester.storage.migrate import upgrade
from winchester.storage.names import indexed_by
from winchester.storage.retention import EventTrimmer

from .helpers import T0, DayTrigger, event


def index_rows(engine: Engine) -> dict[str, int]:
    """Rows of ``trait_index`` per trait name."""
    index, names = schema.trait_index, schema.trait_name
    query = (
        sa.select(names.c.name, sa.func.count())
        .select_from(index.join(names, names.c.id == index.c.name_id))
        .group_by(names.c.name)
    )
    with engine.connect() as conn:
        return {name: count for name, count in conn.execute(query)}


def flags(engine: Engine) -> dict[str, bool]:
    names = schema.trait_name
    with engine.connect() as conn:
        rows = conn.execute(sa.select(names.c.name, names.c.indexed))
        return {name: bool(indexed) for name, indexed in rows}


def test_globs_decide_which_names_are_indexed() -> None:
    indexed = indexed_by(["instance_id", "*_mb", "os_[dv]*"])
    assert [
        indexed(n)
        for n in ("instance_id", "memory_mb", "os_distro", "os_arch", "Instance_id")
    ] == [True, True, True, False, False]
    assert indexed_by(["*"])("anything at all")


def test_only_indexed_traits_get_index_rows(engine: Engine) -> None:
    manager = TriggerManager(
        engine, [DayTrigger()], FixedClock(T0), indexed_traits=("instance_id", "*_mb")
    )
    result = manager.add_events([event(n, state="active") for n in range(5)])
    assert result.saved == 5
    assert index_rows(engine) == {"instance_id": 5, "memory_mb": 5}
    assert flags(engine) == {
        "instance_id": True,
        "memory_mb": True,
        "launched_at": False,
        "state": False,
        "day": False,  # the trigger's distinguishing name, interned too
    }
    # the stream's distinguishing trait is indexed for streams whatever the flag
    with engine.connect() as conn:
        found = queries.list_streams(
            conn,
            queries.StreamFilter(
                traits=(queries.TraitFilter("instance_id", ("i-1",)),)
            ),
        )
    assert len(found) == 1


def test_the_first_process_to_store_a_name_decides_for_all(engine: Engine) -> None:
    first = TriggerManager(engine, [], FixedClock(T0), indexed_traits=("instance_id",))
    first.add_events([event(1, state="active")])
    # another process, indexing everything, meets "state" already stored
    second = TriggerManager(engine, [], FixedClock(T0))
    second.add_events([event(2, state="active", flavor="m1.tiny")])
    assert index_rows(engine) == {"instance_id": 2, "flavor": 1}
    assert flags(engine)["state"] is False and flags(engine)["flavor"] is True
    with engine.connect() as conn:
        found = queries.list_events(
            conn,
            queries.EventFilter(traits=(queries.TraitFilter("state", ("active",)),)),
        )
    assert [e.message_id for e in found] == ["msg-2", "msg-1"]


def test_names_stored_before_the_flag_stay_indexed(database_url: str) -> None:
    from winchester.storage.engine import connect

    engine = connect(database_url)
    upgrade(engine, "0006")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO trait_name (name) VALUES ('old_trait')"))
    upgrade(engine)
    assert flags(engine) == {"old_trait": True}
    engine.dispose()


def stored(engine: Engine, count: int) -> list[Any]:
    """``count`` events, indexed on ``instance_id`` only: ``state`` (every 7th
    event ``rare``), ``size`` (an int) and ``memory_mb`` unindexed."""
    manager = TriggerManager(engine, [], FixedClock(T0), indexed_traits=["instance_id"])
    events = [
        event(
            n,
            "compute.instance.exists" if n % 2 else "compute.instance.update",
            instance=f"i-{n % 3}",
            state="rare" if n % 7 == 0 else "common",
            size=n % 5,
        )
        for n in range(count)
    ]
    for start in range(0, count, 400):
        manager.add_events(events[start : start + 400])
    assert set(index_rows(engine)) == {"instance_id"}
    return events


def every_page(conn: Any, flt: queries.EventFilter, limit: int) -> list[str]:
    """Message ids of every page, following the marks down, then back up."""
    down: list[str] = []
    mark = None
    while True:
        page = queries.list_events(conn, flt, mark=mark, limit=limit)
        down.extend(e.message_id for e in page)
        if len(page) < limit:
            break
        mark = queries.Mark(page[-1].id)
    up: list[str] = []
    mark = queries.Mark(0, ascending=True)
    while True:
        page = queries.list_events(conn, flt, mark=mark, limit=limit)
        up.extend(e.message_id for e in page)
        if len(page) < limit:
            break
        mark = queries.Mark(page[-1].id, ascending=True)
    assert up == down[::-1]
    return down


def test_filters_on_unindexed_traits_find_every_match(engine: Engine) -> None:
    events = stored(engine, 1300)  # more than TRAIT_CHUNK and COUNT_CHUNK rows
    rare = queries.TraitFilter("state", ("rare",))
    common = queries.TraitFilter("state", ("common",))
    size = queries.TraitFilter("size", (3, "3"))  # the int matches, not the text
    by_instance = queries.TraitFilter("instance_id", ("i-1",))
    after = T0 + timedelta(seconds=600)
    cases: list[tuple[queries.EventFilter, Any]] = [
        (queries.EventFilter(traits=(rare,)), lambda e: e.traits["state"] == "rare"),
        (queries.EventFilter(traits=(common,)), lambda e: e.traits["state"] != "rare"),
        (queries.EventFilter(traits=(size,)), lambda e: e.traits["size"] == 3),
        (
            queries.EventFilter(traits=(rare, by_instance)),  # indexed one drives
            lambda e: e.traits["state"] == "rare" and e.traits["instance_id"] == "i-1",
        ),
        (
            queries.EventFilter(
                event_name="compute.instance.exists", after=after, traits=(rare, size)
            ),
            lambda e: (
                e.event_type == "compute.instance.exists"
                and e.timestamp > after
                and e.traits["state"] == "rare"
                and e.traits["size"] == 3
            ),
        ),
        (
            queries.EventFilter(traits=(queries.TraitFilter("state", ("none",)),)),
            lambda e: False,
        ),
    ]
    with engine.connect() as conn:
        event = schema.event
        ids = {m: i for m, i in conn.execute(sa.select(event.c.message_id, event.c.id))}
        newest_first = sorted(events, key=lambda e: -ids[e.message_id])
        for flt, wanted in cases:
            expected = [e.message_id for e in newest_first if wanted(e)]
            assert every_page(conn, flt, 7) == expected, flt
            assert every_page(conn, flt, 500) == expected, flt
            assert queries.count_events(conn, flt) == len(expected), flt
            json_page = queries.list_events_json(conn, flt, limit=9)
            assert [e.id for e in json_page] == [
                e.id for e in queries.list_events(conn, flt, limit=9)
            ]


def test_trimming_events_with_unindexed_traits(engine: Engine) -> None:
    stored(engine, 30)
    trimmer = EventTrimmer(engine, batch_size=100)
    assert trimmer.trim(T0 + timedelta(days=1)) == 30
    assert index_rows(engine) == {}
