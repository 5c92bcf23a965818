"""storage.event_counts on every database: counts from the hour and minute rows
equal a count of the events themselves, for any range, after ingest, retention
and concurrent writers."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from distiller import Event
from winchester.clock import FixedClock
from winchester.ingest import TriggerManager
from winchester.storage import event_counts, queries, retention, schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

T0 = datetime(2024, 3, 9, 22, 0, tzinfo=UTC)
TYPES = ("compute.instance.update", "compute.instance.exists", "image.upload")


def events(seed: int, n: int, prefix: str = "m") -> list[Event]:
    """``n`` events over four hours from T0, some on exact minute and hour
    boundaries, of three types."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 7 == 0:
            at = T0 + timedelta(minutes=rng.randrange(240))
        elif i % 11 == 0:
            at = T0 + timedelta(hours=rng.randrange(4))
        else:
            at = T0 + timedelta(seconds=rng.uniform(0, 4 * 3600))
        out.append(Event(TYPES[i % 3], f"{prefix}-{seed}-{i}", at, {"k": i}))
    return out


def brute(
    engine: Engine,
    names: list[str] | None,
    after: datetime | None,
    until: datetime | None,
) -> int:
    event, types = schema.event, schema.event_type
    query = sa.select(sa.func.count()).select_from(
        event.join(types, types.c.id == event.c.event_type_id)
    )
    if names is not None:
        query = query.where(types.c.name.in_(names))
    if after is not None:
        query = query.where(event.c.generated > after)
    if until is not None:
        query = query.where(event.c.generated <= until)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def counted(
    engine: Engine,
    name: str | None,
    after: datetime | None,
    until: datetime | None,
) -> int:
    flt = queries.EventFilter(event_name=name, after=after, until=until)
    with engine.connect() as conn:
        return queries.count_events(conn, flt)


def ranges(seed: int) -> list[tuple[datetime | None, datetime | None]]:
    """Bounds on and off minute and hour boundaries, empty, reversed, open."""
    rng = random.Random(seed)
    points = [
        T0 - timedelta(hours=1),
        T0,
        T0 + timedelta(minutes=59, seconds=30),
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=1, minutes=1),
        T0 + timedelta(hours=2, seconds=0.5),
        T0 + timedelta(hours=5),
    ] + [T0 + timedelta(seconds=rng.uniform(0, 4 * 3600)) for _ in range(6)]
    points += [T0 + timedelta(minutes=rng.randrange(240)) for _ in range(4)]
    found: list[tuple[datetime | None, datetime | None]] = [(None, None)]
    for a in points:
        found += [(a, None), (None, a)]
        found += [(a, b) for b in points if rng.random() < 0.35]
    return found


def check_all(engine: Engine, seed: int) -> int:
    checked = 0
    for name in (None, TYPES[0], "compute.instance.*", "image.upload"):
        names = None
        if name is not None:
            names = [t for t in TYPES if t.startswith(name.rstrip("*"))]
        for after, until in ranges(seed):
            assert counted(engine, name, after, until) == brute(
                engine, names, after, until
            ), (name, after, until)
            checked += 1
    return checked


def test_counts_equal_the_events_for_any_range(engine: Engine) -> None:
    TriggerManager(engine, [], FixedClock(T0)).add_events(events(1, 600))
    assert check_all(engine, 1) > 150
    with engine.connect() as conn:
        summaries = {s.name: s for s in queries.event_type_summaries(conn)}
        snapshot = queries.metrics_snapshot(conn, T0)
    assert {name: s.count for name, s in summaries.items()} == {
        name: brute(engine, [name], None, None) for name in TYPES
    }
    assert snapshot.events_by_type == {n: s.count for n, s in summaries.items()}


def test_duplicates_are_not_counted_twice(engine: Engine) -> None:
    manager = TriggerManager(engine, [], FixedClock(T0))
    batch = events(2, 90)
    manager.add_events(batch)
    manager.add_events(batch[30:] + events(3, 30))
    assert counted(engine, None, None, None) == brute(engine, None, None, None) == 120


def test_many_buckets_added_twice_sum_in_every_database(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More buckets than one statement takes on MariaDB; the second add, to the
    # same slot, finds every row there already and adds to it.
    monkeypatch.setattr(event_counts.random, "randrange", lambda stop: 3)
    start = T0.replace(second=0, microsecond=0)
    counts = Counter(
        {
            (7, event_counts.MINUTE, start + timedelta(minutes=k)): k % 5 + 1
            for k in range(event_counts._LITERAL_ROWS * 2 + 1)
        }
    )
    with engine.begin() as conn:
        event_counts.add_buckets(conn, counts)
    with engine.begin() as conn:
        event_counts.add_buckets(conn, counts)
    table = schema.event_type_count
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(table.c.bucket, sa.func.sum(table.c.n))
            .where(table.c.event_type_id == 7)
            .group_by(table.c.bucket)
        ).all()
    assert {bucket.replace(tzinfo=UTC): int(n) for bucket, n in stored} == {
        bucket: 2 * n for (_, _, bucket), n in counts.items()
    }


def test_retention_takes_deleted_events_out_of_the_counts(engine: Engine) -> None:
    TriggerManager(engine, [], FixedClock(T0)).add_events(events(4, 300))
    trimmer = retention.EventTrimmer(engine, batch_size=37)
    cutoff = T0 + timedelta(hours=2, minutes=17, seconds=3)
    while trimmer.trim(cutoff):
        pass
    assert brute(engine, None, None, cutoff) == 0
    check_all(engine, 4)
    with engine.connect() as conn:
        table = schema.event_type_count
        assert conn.execute(sa.select(sa.func.min(table.c.n))).scalar_one() > 0
    while trimmer.trim(T0 + timedelta(hours=6)):
        pass
    assert counted(engine, None, None, None) == 0
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count()).select_from(schema.event_type_count)
        ).scalar_one()
        assert queries.event_type_summaries(conn) == []
    assert rows == 0  # emptied buckets are deleted, not left at zero


def test_concurrent_ingesters_count_exactly(engine: Engine) -> None:
    failures: list[BaseException] = []

    def ingest(worker: int) -> None:
        manager = TriggerManager(engine, [], FixedClock(T0))
        batch = events(10 + worker, 400, prefix=f"w{worker}")
        try:
            for start in range(0, len(batch), 25):
                manager.add_events(batch[start : start + 25])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=ingest, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert counted(engine, None, None, None) == brute(engine, None, None, None) == 1600
    check_all(engine, 5)


def test_migration_fills_the_counts_from_stored_events(database_url: str) -> None:
    """Events stored before 0005 are counted by the upgrade itself."""
    engine = connect(database_url)
    try:
        upgrade(engine, "0004")
        stored = events(6, 200)
        with engine.begin() as conn:
            ids = {}
            for name in TYPES:
                ids[name] = conn.execute(
                    schema.event_type.insert().values(name=name)
                ).inserted_primary_key[0]
            conn.execute(
                schema.event.insert(),
                [
                    {
                        "message_id": e.message_id,
                        "event_type_id": ids[e.event_type],
                        "generated": e.timestamp,
                        "traits": "{}",
                    }
                    for e in stored
                ],
            )
        upgrade(engine)
        check_all(engine, 6)
        assert counted(engine, None, None, None) == 200
    finally:
        engine.dispose()


def test_buckets_floor_in_utc() -> None:
    from datetime import timezone

    local = datetime(2024, 3, 10, 1, 30, 15, tzinfo=timezone(timedelta(hours=5)))
    assert event_counts._floor(local, event_counts.HOUR) == datetime(
        2024, 3, 9, 20, 0, tzinfo=UTC
    )
    assert event_counts._floor(local, event_counts.MINUTE) == datetime(
        2024, 3, 9, 20, 30, tzinfo=UTC
    )


def test_late_events_ingested_while_retention_trims_their_buckets(
    engine: Engine,
) -> None:
    """A replay storing old events into the buckets retention is emptying:
    both commit, and the counts still equal the events."""
    TriggerManager(engine, [], FixedClock(T0)).add_events(events(7, 600))
    cutoff = T0 + timedelta(hours=3)
    failures: list[BaseException] = []
    done = threading.Event()

    def trim() -> None:
        trimmer = retention.EventTrimmer(engine, batch_size=20)
        try:
            while trimmer.trim(cutoff) or not done.is_set():
                pass
        except BaseException as exc:  # reported below
            failures.append(exc)

    def replay() -> None:
        manager = TriggerManager(engine, [], FixedClock(T0))
        late = [e for e in events(8, 600, prefix="late") if e.timestamp < cutoff]
        try:
            for start in range(0, len(late), 10):
                manager.add_events(late[start : start + 10])
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=trim), threading.Thread(target=replay)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    check_all(engine, 7)
