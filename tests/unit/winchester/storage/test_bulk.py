"""The fast bulk paths store exactly the rows given, on every backend.

``insert_integers`` builds the trait index and stream link inserts itself (a
multi-row literal on MariaDB, ``COPY`` on PostgreSQL): these tests read the rows
back, cross the literal's chunk size, and check that anything but a plain int
is refused before any SQL text is built. ``insert_events`` on PostgreSQL sends
the batch as arrays: the stored values, times and duplicate handling are
checked on every backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from winchester.storage import bulk, events, schema
from winchester.storage.engine import connect, is_duplicate_key
from winchester.storage.migrate import upgrade
from winchester.storage.values import decode_traits, encode_traits

T0 = datetime(2024, 1, 15, 10, 30, 5, 123456, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = connect(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(schema.event_type.insert(), [{"id": 1, "name": "e"}])
    yield engine
    engine.dispose()


def _index_rows(engine: Engine) -> list[tuple[int, int, int]]:
    table = schema.trait_index
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.name_id, table.c.value_hash, table.c.event_id)
        ).all()
    return sorted((int(a), int(b), int(c)) for a, b, c in rows)


def test_integer_rows_are_stored_exactly(engine: Engine) -> None:
    extremes = [(1, -(2**63), 1), (1, 2**63 - 1, 2), (2, 0, 3), (2, -1, 4)]
    many = [(3, hash_, event_id) for event_id in range(3) for hash_ in range(9000)]
    rows = extremes + many  # 27,004 rows: more than two literal chunks
    with engine.begin() as conn:
        sent = events.insert_trait_index(conn, rows)
    assert _index_rows(engine) == sorted(rows)
    expected = -(-len(rows) // bulk.INTEGER_CHUNK_ROWS)
    assert sent == (expected if engine.dialect.name == "mysql" else 1)


#: Row pieces are MariaDB's literal (the others bind arrays): those tests run there.
ON_MARIADB = pytest.mark.parametrize("database_url", ["mysql"], indirect=True)


@ON_MARIADB
def test_index_rows_cut_around_their_event_id_are_stored_exactly(
    engine: Engine,
) -> None:
    per_event = [
        [(1, -(2**63)), (1, 2**63 - 1), (2, 0)],
        [],  # an event without indexed traits
        *[[(3, h), (4, -h)] for h in range(7000)],  # 14,000 rows: two chunks
        [(5, 1)],
    ]
    groups = [(bulk.row_pieces(rows), 100 + n) for n, rows in enumerate(per_event)]
    with engine.begin() as conn:
        sent = events.insert_trait_index_pieces(conn, groups)
    expected = [
        (name_id, hashed, 100 + n)
        for n, rows in enumerate(per_event)
        for name_id, hashed in rows
    ]
    assert _index_rows(engine) == sorted(expected)
    assert sent == 2


@pytest.mark.parametrize("bad", [(1, "2); DROP TABLE event; --"), (1, 2.5), (True, 1)])
def test_row_pieces_refuse_anything_but_plain_ints(bad: Any) -> None:
    bulk._ROW_TEXT.clear()  # rows not seen before are the ones checked
    with pytest.raises(TypeError, match="not 2 ints"):
        bulk.row_pieces([(1, 1), bad])
    assert (1, 1) not in bulk._ROW_TEXT  # nothing of a refused call is kept


def test_row_pieces_remember_rows_and_give_the_same_text() -> None:
    bulk._ROW_TEXT.clear()
    rows = [(7, 2**63 - 1), (8, -(2**63)), (7, 2**63 - 1)]
    first = bulk.row_pieces(rows)
    assert "42".join(first) == (
        f"(7,{2**63 - 1},42),(8,{-(2**63)},42),(7,{2**63 - 1},42)"
    )
    assert set(bulk._ROW_TEXT) == {(7, 2**63 - 1), (8, -(2**63))}
    assert bulk.row_pieces(rows) == first  # from the memo now


@ON_MARIADB
def test_an_event_id_that_is_not_an_int_is_refused(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(TypeError, match="not an int"):
        events.insert_trait_index_pieces(conn, [(bulk.row_pieces([(1, 1)]), "1) --")])  # type: ignore[list-item]
    assert _index_rows(engine) == []


ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@ON_POSTGRESQL
def test_index_rows_copied_around_their_event_id_are_stored_exactly(
    engine: Engine,
) -> None:
    per_event = [
        [(2**31 - 1, -(2**63)), (-(2**31), 2**63 - 1), (2, 0)],
        [],  # an event without indexed traits
        *[[(3, h), (4, -h)] for h in range(7000)],
        [(5, 1)],
    ]
    ids = [2**63 - 1 - n for n in range(len(per_event))]  # bigint to its end
    groups = [
        (events.trait_index_copy_pieces(rows), ids[n])
        for n, rows in enumerate(per_event)
    ]
    with engine.begin() as conn:
        sent = events.copy_trait_index_pieces(conn, groups)
    expected = [
        (name_id, hashed, ids[n])
        for n, rows in enumerate(per_event)
        for name_id, hashed in rows
    ]
    assert _index_rows(engine) == sorted(expected)
    assert sent == 1
    with engine.begin() as conn:  # nothing to copy: no statement
        assert events.copy_trait_index_pieces(conn, [([], 1)]) == 0


@pytest.mark.parametrize("bad", [(1, "2"), (1, 2.5), (True, 1)])
def test_copy_pieces_refuse_anything_but_plain_ints(bad: Any) -> None:
    with pytest.raises(TypeError, match="not 2 ints"):
        events.trait_index_copy_pieces([(1, 1), bad])


@pytest.mark.parametrize("bad", [(2**31, 1), (1, 2**63)])
def test_copy_pieces_refuse_a_value_out_of_its_column_type(bad: Any) -> None:
    with pytest.raises(OverflowError, match="out of"):
        events.trait_index_copy_pieces([bad])


@ON_POSTGRESQL
def test_a_copy_the_database_refuses_raises_like_a_statement(engine: Engine) -> None:
    group = (events.trait_index_copy_pieces([(1, 7)]), 1)
    with pytest.raises(sa.exc.IntegrityError) as raised, engine.begin() as conn:
        events.copy_trait_index_pieces(conn, [group, group])  # a duplicate key
    assert is_duplicate_key(raised.value)
    with engine.begin() as conn:  # the connection went back to the pool sound
        assert events.copy_trait_index_pieces(conn, [group]) == 1
    with engine.begin() as conn, pytest.raises(TypeError, match="not an int"):
        events.copy_trait_index_pieces(conn, [(group[0], "1")])  # type: ignore[list-item]
    assert _index_rows(engine) == [(1, 7, 1)]


def test_stream_links_go_through_the_same_path(engine: Engine) -> None:
    from winchester.storage import streams

    with engine.begin() as conn:
        assert streams.link_events(conn, [(7, 1), (7, 2), (8, 1)]) == 1
        assert streams.link_events(conn, []) == 0
    table = schema.stream_event
    with engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.stream_id, table.c.event_id)).all()
    assert sorted(map(tuple, stored)) == [(7, 1), (7, 2), (8, 1)]


@pytest.mark.parametrize(
    "bad",
    [
        (1, "2); DROP TABLE event; --", 3),
        (1, 2.5, 3),
        (1, None, 3),
        (1, 2),
        (1, 2, 3, 4),
    ],
)
def test_anything_but_plain_ints_is_refused(engine: Engine, bad: Any) -> None:
    with engine.begin() as conn, pytest.raises(TypeError, match="not 3 ints"):
        events.insert_trait_index(conn, [(1, 1, 1), bad])
    assert _index_rows(engine) == []
    with engine.connect() as conn:  # nothing dropped
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.event))


def test_a_duplicate_index_row_raises_like_a_plain_insert(engine: Engine) -> None:
    with engine.begin() as conn:
        events.insert_trait_index(conn, [(1, 1, 1)])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        events.insert_trait_index(conn, [(1, 2, 2), (1, 1, 1)])
    assert _index_rows(engine) == [(1, 1, 1)]


def _event(message_id: str, generated: datetime, **traits: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "event_type_id": 1,
        "generated": generated,
        "traits": encode_traits(traits),
    }


def test_events_are_stored_exactly_and_duplicates_skipped(engine: Engine) -> None:
    tricky = "quote ' backslash \\ tab \t newline \n percent %s %(x)s accents é 字"
    plus_two = timezone(timedelta(hours=2))
    first = [
        _event("m-1", T0, text=tricky, number=512),
        _event("m-2", T0.astimezone(plus_two), when=T0),  # stored as UTC
        _event("m-3", datetime(1000, 1, 1, tzinfo=UTC)),
    ]
    with engine.begin() as conn:
        new, _ = events.insert_events(conn, first)
    assert sorted(new) == ["m-1", "m-2", "m-3"]
    again = [_event("m-2", T0), _event("m-4", T0 + timedelta(seconds=1))]
    with engine.begin() as conn:
        newer, _ = events.insert_events(conn, again)
    assert list(newer) == ["m-4"]
    assert len(set(new.values()) | set(newer.values())) == 4
    table = schema.event
    with engine.connect() as conn:
        stored = {
            row.message_id: row
            for row in conn.execute(
                sa.select(
                    table.c.id, table.c.message_id, table.c.generated, table.c.traits
                )
            )
        }
    assert stored["m-1"].id == new["m-1"]
    assert decode_traits(stored["m-1"].traits) == {"text": tricky, "number": 512}
    assert stored["m-2"].generated == T0
    assert decode_traits(stored["m-2"].traits) == {"when": T0}
    assert stored["m-3"].generated == datetime(1000, 1, 1, tzinfo=UTC)
    assert stored["m-4"].generated == T0 + timedelta(seconds=1)


def _special_rows(*, nul: bool = True) -> list[dict[str, Any]]:
    """Text with every character a literal escapes (NUL but on PostgreSQL), and
    times with and without microseconds."""
    special = "' \\ \" \n \r \x1a % %s %(x)s \\' '' \\\\ é 字 😀" + (
        " \0" if nul else ""
    )
    return [
        {"message_id": f"m-{k}-{special[:k]}", "event_type_id": 1,
         "generated": T0.replace(microsecond=0) + timedelta(microseconds=k - 1),
         "traits": special * k}
        for k in range(1, 12)
    ]  # fmt: skip


def test_every_character_a_literal_escapes_comes_back_as_it_went(
    engine: Engine,
) -> None:
    # MariaDB's event insert quotes text itself (quote_text), not the driver.
    rows = _special_rows(nul=engine.dialect.name == "mysql")  # PostgreSQL: no NUL
    with engine.begin() as conn:
        new, _ = events.insert_events(conn, rows)
    assert set(new) == {row["message_id"] for row in rows}
    assert _stored_events(engine) == {
        row["message_id"]: (row["generated"], row["traits"]) for row in rows
    }
    assert events.quote_text("a'b\\c\"d\x00") == "'a\\'b\\\\c\"d\\0'"


def test_event_literals_write_times_in_utc_as_pymysql_does() -> None:
    from pymysql.converters import escape_datetime

    zone = timezone(timedelta(hours=2))
    times = [
        datetime(2014, 5, 1, 2, 45, 0, 805827, tzinfo=zone),
        datetime(2014, 5, 1, 0, 45, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2014, 5, 1, 0, 45, 1),  # naive: UTC already
    ]
    rows = [
        {"message_id": "m", "event_type_id": 1, "generated": t, "traits": "{}"}
        for t in times
    ]
    for literal, t in zip(events.event_literals(rows), times, strict=True):
        naive = t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
        assert literal == f"('m',1,{escape_datetime(naive)},'{{}}')"


def _stored_events(engine: Engine) -> dict[str, tuple[datetime, str]]:
    table = schema.event
    query = sa.select(table.c.message_id, table.c.generated, table.c.traits)
    with engine.connect() as conn:
        return {
            row.message_id: (row.generated, row.traits) for row in conn.execute(query)
        }


@ON_MARIADB
def test_event_literals_are_the_text_the_insert_builds(engine: Engine) -> None:
    # Built before the transaction, they stand for what the connection escapes.
    rows = _special_rows()
    with engine.connect() as conn:
        insert = events._PyMySQLInsert(conn)
        sent: list[str] = []
        conn.exec_driver_sql = lambda sql: sent.append(sql) or _Empty()  # type: ignore[method-assign]
        insert.run(rows, None)
        insert.run(rows, events.event_literals(rows))
    assert len(sent) == 2 and sent[0] == sent[1]
    with engine.begin() as conn:
        new, _ = events.insert_events(
            conn, rows[::-1], literals=events.event_literals(rows[::-1])
        )
    assert set(new) == {row["message_id"] for row in rows}
    assert _stored_events(engine) == {
        row["message_id"]: (row["generated"], row["traits"]) for row in rows
    }


class _Empty:
    def all(self) -> list[Any]:
        return []


@ON_MARIADB
def test_a_connection_without_backslash_escapes_ignores_the_literals(
    engine: Engine,
) -> None:
    # event_literals assume backslash escapes; under NO_BACKSLASH_ESCAPES a
    # backslash is plain text, and the same literal would store it doubled.
    rows = _special_rows()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"
        )
        new, _ = events.insert_events(conn, rows, literals=events.event_literals(rows))
        conn.exec_driver_sql("SET SESSION sql_mode = DEFAULT")
    assert len(new) == len(rows)
    assert _stored_events(engine) == {
        row["message_id"]: (row["generated"], row["traits"]) for row in rows
    }


def test_an_over_long_message_id_is_an_error_not_truncated(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite keeps any length (ingest's limits refuse it before)")
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
        events.insert_events(conn, [_event("m" * 129, T0)])
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(schema.event))
        assert count.scalar_one() == 0
