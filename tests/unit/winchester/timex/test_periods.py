"""Calendar helpers: clamped month arithmetic and tiling unit periods."""

from datetime import UTC, datetime, timedelta

import pytest

from winchester.timex.periods import (
    add_months,
    bare_unit_for_length,
    days_in_month,
    period_containing,
    period_of,
)


def utc(y: int, mo: int, d: int, h: int = 0, m: int = 0) -> datetime:
    return datetime(y, mo, d, h, m, tzinfo=UTC)


@pytest.mark.parametrize(
    ("year", "month", "days"),
    [
        (2014, 2, 28),
        (2016, 2, 29),
        (1900, 2, 28),
        (2000, 2, 29),
        (2014, 4, 30),
        (2014, 12, 31),
    ],
)
def test_days_in_month(year: int, month: int, days: int) -> None:
    assert days_in_month(year, month) == days


@pytest.mark.parametrize(
    ("instant", "months", "expected"),
    [
        (utc(2014, 1, 31), 1, utc(2014, 2, 28)),
        (utc(2014, 1, 31), -2, utc(2013, 11, 30)),
        (utc(2014, 12, 31), 1, utc(2015, 1, 31)),
        (utc(2014, 1, 1), -1, utc(2013, 12, 1)),
        (utc(2014, 5, 15, 7, 30), 24, utc(2016, 5, 15, 7, 30)),
        (utc(2014, 5, 15), 0, utc(2014, 5, 15)),
    ],
)
def test_add_months(instant: datetime, months: int, expected: datetime) -> None:
    assert add_months(instant, months) == expected


@pytest.mark.parametrize("months", [12 * 8000, -12 * 2014])
def test_add_months_out_of_range(months: int) -> None:
    with pytest.raises(OverflowError):
        add_months(utc(2014, 1, 1), months)


@pytest.mark.parametrize(
    ("unit", "begin", "end"),
    [
        ("hour", utc(2014, 8, 1, 2), utc(2014, 8, 1, 3)),
        ("day", utc(2014, 8, 1), utc(2014, 8, 2)),
        ("month", utc(2014, 8, 1), utc(2014, 9, 1)),
        ("year", utc(2014, 1, 1), utc(2015, 1, 1)),
    ],
)
def test_period_of(unit: str, begin: datetime, end: datetime) -> None:
    assert period_of(utc(2014, 8, 1, 2, 10), unit) == (begin, end)


def test_month_periods_from_a_31st_tile_the_year() -> None:
    base = utc(2014, 1, 31, 10)
    instant = utc(2013, 11, 1)
    seen = set()
    while instant < utc(2015, 3, 1):
        begin, end = period_containing(base, "month", instant)
        assert begin <= instant < end
        seen.add(begin)
        instant += timedelta(hours=11)
    assert sorted(seen)[:5] == [
        utc(2013, 10, 31, 10),
        utc(2013, 11, 30, 10),
        utc(2013, 12, 31, 10),
        utc(2014, 1, 31, 10),
        utc(2014, 2, 28, 10),
    ]


@pytest.mark.parametrize(
    ("seconds", "unit"),
    [
        (400 * 86400, "month"),
        (365 * 86400, "month"),
        (364 * 86400, "day"),
        (28 * 86400, "day"),
        (86400, "hour"),
        (-86400, "hour"),
        (3600, "minute"),
        (60, "second"),
        (59.9, "microsecond"),
        (0, "microsecond"),
    ],
)
def test_bare_unit_for_length(seconds: float, unit: str) -> None:
    assert bare_unit_for_length(seconds) == unit
