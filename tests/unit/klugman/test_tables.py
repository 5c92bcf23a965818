"""Tables for people: aligned, fitting the width, readable values."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from klugman import views
from klugman.tables import ELLIPSIS, cell, properties, table, terminal_width
from stacktach import jsonutil

from .conftest import EVENT, STREAM


def decoded(value: object) -> object:
    """What the client hands the views: typed JSON decoded."""
    return jsonutil.loads(jsonutil.dumps(value))


@pytest.mark.parametrize(
    ("value", "precise", "text"),
    [
        (datetime(2026, 12, 1, tzinfo=UTC), False, "2026-12-01 00:00:00"),
        (
            datetime(2026, 12, 1, 0, 0, 0, 123456, tzinfo=UTC),
            False,
            "2026-12-01 00:00:00",
        ),
        (
            datetime(2026, 12, 1, 0, 0, 0, 123456, tzinfo=UTC),
            True,
            "2026-12-01 00:00:00.123456",
        ),
        (datetime(2026, 12, 1, tzinfo=UTC), True, "2026-12-01 00:00:00"),
        # another offset is shown in UTC
        (
            datetime(2026, 12, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))),
            False,
            "2026-12-01 00:00:00",
        ),
        (None, False, "-"),
        (True, False, "true"),
        (512, False, "512"),
        (1.5, False, "1.5"),
        ("two\nlines\tand tab", False, "two lines and tab"),
        ({"a": [1, 2]}, False, '{"a": [1, 2]}'),
        (
            {"__type__": "timex.TimeRange", "begin": "x", "end": "y"},
            False,
            "x .. y",
        ),
        (
            {"__type__": "timex.Timestamp", "timestamp": "x"},
            False,
            "timex.Timestamp(timestamp=x)",
        ),
    ],
)
def test_cell_renders_values_readably(value: object, precise: bool, text: str) -> None:
    assert cell(value, precise) == text


def test_typed_datetime_from_the_api_reads_as_utc_text() -> None:
    value = jsonutil.loads(
        '{"__type__": "datetime", "datetime": "2026-12-01T00:00:00.000000+00:00"}'
    )
    assert cell(value) == "2026-12-01 00:00:00"


def test_columns_are_aligned_and_integers_right_aligned() -> None:
    text = table(["ID", "NAME"], [["7", "short"], ["1234", "a longer name"]])
    assert text.splitlines() == [
        "  ID  NAME",
        "   7  short",
        "1234  a longer name",
    ]


def test_no_width_means_whole_cells() -> None:
    long = "x" * 500
    assert long in table(["A", "B"], [["1", long]], None)


def test_a_wide_table_fits_the_width_cutting_the_widest_column() -> None:
    rows = [["1", "per_instance", "i-" + "a" * 80], ["22", "usage", "short"]]
    text = table(["ID", "TRIGGER", "TRAITS"], rows, width=40)
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].endswith(ELLIPSIS)
    assert "per_instance" in lines[1]  # the narrow columns are left whole
    assert lines[2].endswith("short")
    # the columns still line up
    assert lines[0].index("TRAITS") == lines[1].index("i-") == lines[2].index("short")


def test_flexible_columns_are_cut_first() -> None:
    rows = [["2026-12-01 00:00:00", "n" * 30, "t" * 30]]
    text = table(["WHEN", "NAME", "TRAITS"], rows, width=60, flexible=[2])
    row = text.splitlines()[1]
    assert row.startswith("2026-12-01 00:00:00  " + "n" * 30 + "  ")
    assert len(row) == 60 and row.endswith(ELLIPSIS)
    # when the flexible ones are at their minimum, the others give way too
    tight = table(["WHEN", "NAME", "TRAITS"], rows, width=40, flexible=[2])
    assert all(len(line) <= 40 for line in tight.splitlines())


def test_columns_are_never_cut_below_their_header_or_the_minimum() -> None:
    rows = [["a" * 30, "b" * 30, "c" * 30]]
    text = table(["FIRST", "SECOND", "THIRD"], rows, width=10)
    head, row = text.splitlines()
    assert head.split() == ["FIRST", "SECOND", "THIRD"]
    assert row.split() == ["a" * 5 + ELLIPSIS, "b" * 5 + ELLIPSIS, "c" * 5 + ELLIPSIS]


def test_rows_must_match_the_headers() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        table(["A", "B", "C"], [["1", "2"]])


def test_properties_is_a_property_value_table() -> None:
    text = properties([("id", 12), ("when", datetime(2026, 12, 1, tzinfo=UTC))])
    assert text.splitlines() == [
        "Property  Value",
        "id        12",
        "when      2026-12-01 00:00:00",
    ]


def test_terminal_width_follows_columns_else_no_limit_in_a_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    assert terminal_width() == 72
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr("sys.stdout", io.StringIO())  # a pipe: not a terminal
    assert terminal_width() is None


def test_stream_table_shows_times_and_distinguishing_traits() -> None:
    text = views.stream_table([decoded(STREAM)], None)  # type: ignore[list-item]
    head, row = text.splitlines()
    assert head.split()[0:3] == ["ID", "TRIGGER", "STATE"]
    assert head.split()[-1] == "TRAITS"
    assert row.split()[0:3] == ["12", "per_instance", "error"]
    assert "2026-12-01 00:00:00" in row and "2026-12-01 03:15:42" in row
    assert "expire 2026-12-02 03:15:42" in row  # no fire time: when it expires
    assert row.endswith("instance_id=i-0001 tenant_id=t-42")
    assert "T00:00" not in row and "__type__" not in row


def test_stream_table_keeps_times_whole_in_a_terminal() -> None:
    stream = dict(decoded(STREAM))  # type: ignore[call-overload]
    stream["distinguishing_traits"] = {"instance_id": "x" * 60}
    text = views.stream_table([stream], 110)
    row = text.splitlines()[1]
    assert len(row) <= 110 and row.endswith(ELLIPSIS)
    assert "2026-12-01 00:00:00  2026-12-01 03:15:42  expire 2026-12-02 03:15:42" in row


def test_stream_detail_lists_each_trait_and_its_events() -> None:
    stream = dict(decoded(STREAM))  # type: ignore[call-overload]
    stream["events"] = [decoded(EVENT)]
    text = views.stream_detail(stream, None)
    assert "trait.instance_id  i-0001" in text
    assert "last_event         2026-12-01 03:15:42.123456" in text
    assert "fire_timestamp     -" in text
    assert "Events (1):" in text
    assert "compute.instance.create.end" in text and "memory_mb=512" in text


def test_event_detail_puts_id_type_and_time_first_then_sorted_traits() -> None:
    text = views.event_detail(decoded(EVENT), None)  # type: ignore[arg-type]
    names = [line.split()[0] for line in text.splitlines()[1:]]
    assert names == [
        "message_id", "event_type", "timestamp", "instance_id", "launched_at",
        "memory_mb",
    ]  # fmt: skip
    assert "launched_at  2026-12-01 00:00:04.500000" in text
    assert "_mark" not in text


def test_event_table_keeps_the_other_traits_in_one_column() -> None:
    text = views.event_table([decoded(EVENT)], None)  # type: ignore[list-item]
    row = text.splitlines()[1]
    assert row.startswith("2026-12-01 00:00:05  compute.instance.create.end  m-0001")
    assert row.endswith(
        "instance_id=i-0001 launched_at=2026-12-01 00:00:04 memory_mb=512"
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (12 * 1024**2, "12.0 MiB")],
)
def test_sizes_for_people(size: int, text: str) -> None:
    assert views.size_text(size) == text


def test_other_tables_have_their_columns() -> None:
    types = [{"name": "compute.instance.exists", "count": 3, "first_seen": None,
              "last_seen": None}]  # fmt: skip
    assert views.event_type_table(types, None).splitlines()[1].split()[:2] == [
        "compute.instance.exists", "3",
    ]  # fmt: skip
    traits = views.trait_table([{"name": "memory_mb", "type": "int"}], None)
    assert traits.splitlines() == ["TRAIT      TYPE", "memory_mb  int"]
    triggers = views.trigger_table(
        [{"name": "usage", "distinguished_by": ["instance_id", {"timestamp": "day"}],
          "expiration": "$last + 1h", "fire_pipeline": "usage",
          "expire_pipeline": None, "counters": {"fired": 2, "expired": 1}}],
        None,
    )  # fmt: skip
    row = triggers.splitlines()[1]
    assert "instance_id, timestamp=day" in row and row.endswith("expired=1, fired=2")
    health = views.health_detail({"database": "ok", "status": "ok"}, None)
    assert health.splitlines()[1:] == ["status    ok", "database  ok"]
