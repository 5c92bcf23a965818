"""Timestamp, TimeRange and PinnedTimeRange: every example of the original's
tests/test_expression.py, plus value semantics (truthiness, containment,
equality, immutability, time zones)."""

import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from winchester.timex import (
    Duration,
    PinnedTimeRange,
    TimeRange,
    Timestamp,
    TimexError,
    TimexEvaluationError,
)


def utc(
    y: int, mo: int, d: int, h: int = 0, m: int = 0, s: int = 0, us: int = 0
) -> datetime:
    return datetime(y, mo, d, h, m, s, us, tzinfo=UTC)


DT = utc(2014, 8, 1, 2, 10, 23, 550)
OTHER_DT = utc(2014, 8, 7, 2, 0, 0, 0)

# -- Timestamp (original TestTimestamp) -------------------------------------------

TIMESTAMP_ADD = [
    (Duration(microsecond=10), utc(2014, 8, 1, 2, 10, 23, 560)),
    (Duration(second=10), utc(2014, 8, 1, 2, 10, 33, 550)),
    (Duration(minute=7), utc(2014, 8, 1, 2, 17, 23, 550)),
    (Duration(hour=1), utc(2014, 8, 1, 3, 10, 23, 550)),
    (Duration(day=2), utc(2014, 8, 3, 2, 10, 23, 550)),
    (Duration(month=6), utc(2015, 2, 1, 2, 10, 23, 550)),
    (Duration(year=3), utc(2017, 8, 1, 2, 10, 23, 550)),
]
TIMESTAMP_SUB = [
    (Duration(microsecond=10), utc(2014, 8, 1, 2, 10, 23, 540)),
    (Duration(second=10), utc(2014, 8, 1, 2, 10, 13, 550)),
    (Duration(minute=7), utc(2014, 8, 1, 2, 3, 23, 550)),
    (Duration(hour=1), utc(2014, 8, 1, 1, 10, 23, 550)),
    (Duration(day=2), utc(2014, 7, 30, 2, 10, 23, 550)),
    (Duration(month=6), utc(2014, 2, 1, 2, 10, 23, 550)),
    (Duration(year=3), utc(2011, 8, 1, 2, 10, 23, 550)),
]
TIMESTAMP_REPLACE = [
    (Duration(day=2), utc(2014, 8, 2, 2, 10, 23, 550)),
    (Duration(month=6), utc(2014, 6, 1, 2, 10, 23, 550)),
    (Duration(year=2017), utc(2017, 8, 1, 2, 10, 23, 550)),
    (Duration(hour=0, minute=0, second=0, microsecond=0), utc(2014, 8, 1)),
]


def test_timestamp_properties() -> None:
    ts = Timestamp(DT)
    assert (ts.begin, ts.end, ts.timestamp) == (DT, DT, DT)
    assert ts.is_range is False
    assert ts.total_seconds() == 0


@pytest.mark.parametrize(("dt", "expected"), [(DT, True), (OTHER_DT, False)])
def test_timestamp_match_and_in(dt: datetime, expected: bool) -> None:
    ts = Timestamp(DT)
    assert ts.match(dt) is expected
    assert (dt in ts) is expected


@pytest.mark.parametrize(("duration", "expected"), TIMESTAMP_ADD)
def test_timestamp_add(duration: Duration, expected: datetime) -> None:
    assert (Timestamp(DT) + duration).timestamp == expected


@pytest.mark.parametrize(("duration", "expected"), TIMESTAMP_SUB)
def test_timestamp_sub(duration: Duration, expected: datetime) -> None:
    assert (Timestamp(DT) - duration).timestamp == expected


@pytest.mark.parametrize(("duration", "expected"), TIMESTAMP_REPLACE)
def test_timestamp_replace(duration: Duration, expected: datetime) -> None:
    assert Timestamp(DT).replace(duration).timestamp == expected


@pytest.mark.parametrize(
    "operation",
    [
        lambda ts, d: ts + d,
        lambda ts, d: ts - d,
        lambda ts, d: ts.replace(d),
    ],
    ids=["add", "sub", "replace"],
)
def test_timestamp_rejects_bare_numbers(operation: object) -> None:
    with pytest.raises(TimexEvaluationError, match="bare number 2"):
        operation(Timestamp(DT), Duration(hour=10, unknown=2))  # type: ignore[operator]


# -- TimeRange (original TestTimeRange) -------------------------------------------

BEGIN = utc(2014, 8, 1, 2, 10, 23, 550)
END = utc(2014, 8, 2, 2, 10, 23, 550)
MIDDLE = utc(2014, 8, 1, 17, 30, 10, 25)


def shifted(**delta: int) -> tuple[datetime, datetime]:
    return BEGIN + timedelta(**delta), END + timedelta(**delta)


RANGE_ADD = [
    (Duration(microsecond=10), shifted(microseconds=10)),
    (Duration(second=10), shifted(seconds=10)),
    (Duration(minute=7), shifted(minutes=7)),
    (Duration(hour=1), shifted(hours=1)),
    (Duration(day=2), shifted(days=2)),
    (
        Duration(month=6),
        (utc(2015, 2, 1, 2, 10, 23, 550), utc(2015, 2, 2, 2, 10, 23, 550)),
    ),
    (
        Duration(year=3),
        (utc(2017, 8, 1, 2, 10, 23, 550), utc(2017, 8, 2, 2, 10, 23, 550)),
    ),
    # a bare number on a one-day range counts hours
    (Duration(unknown=1), shifted(hours=1)),
]
RANGE_SUB = [
    (Duration(microsecond=10), shifted(microseconds=-10)),
    (Duration(second=10), shifted(seconds=-10)),
    (Duration(minute=7), shifted(minutes=-7)),
    (Duration(hour=1), shifted(hours=-1)),
    (Duration(day=2), shifted(days=-2)),
    (
        Duration(month=6),
        (utc(2014, 2, 1, 2, 10, 23, 550), utc(2014, 2, 2, 2, 10, 23, 550)),
    ),
    (
        Duration(year=3),
        (utc(2011, 8, 1, 2, 10, 23, 550), utc(2011, 8, 2, 2, 10, 23, 550)),
    ),
    (Duration(unknown=1), shifted(hours=-1)),
]
RANGE_REPLACE = [
    (Duration(hour=6), shifted(hours=4)),
    (
        Duration(month=6),
        (utc(2014, 6, 1, 2, 10, 23, 550), utc(2014, 6, 2, 2, 10, 23, 550)),
    ),
    (
        Duration(year=2017),
        (utc(2017, 8, 1, 2, 10, 23, 550), utc(2017, 8, 2, 2, 10, 23, 550)),
    ),
    (
        Duration(hour=0, minute=0, second=0, microsecond=0),
        (utc(2014, 8, 1), utc(2014, 8, 2)),
    ),
    (Duration(unknown=1), shifted(hours=-1)),
]


def test_time_range_properties() -> None:
    tr = TimeRange(BEGIN, END)
    assert (tr.begin, tr.end, tr.timestamp) == (BEGIN, END, BEGIN)
    assert tr.is_range is True
    assert tr.total_seconds() == 24 * 60 * 60


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (BEGIN, True),  # ranges include their beginning
        (MIDDLE, True),
        (END - timedelta(microseconds=1), True),
        (END, False),  # ... and exclude their end
        (BEGIN - timedelta(microseconds=1), False),
        (OTHER_DT, False),
    ],
)
def test_time_range_match_and_in(dt: datetime, expected: bool) -> None:
    tr = TimeRange(BEGIN, END)
    assert tr.match(dt) is expected
    assert (dt in tr) is expected


@pytest.mark.parametrize(("duration", "expected"), RANGE_ADD)
def test_time_range_add(
    duration: Duration, expected: tuple[datetime, datetime]
) -> None:
    res = TimeRange(BEGIN, END) + duration
    assert (res.begin, res.end) == expected


@pytest.mark.parametrize(("duration", "expected"), RANGE_SUB)
def test_time_range_sub(
    duration: Duration, expected: tuple[datetime, datetime]
) -> None:
    res = TimeRange(BEGIN, END) - duration
    assert (res.begin, res.end) == expected


@pytest.mark.parametrize(("duration", "expected"), RANGE_REPLACE)
def test_time_range_replace(
    duration: Duration, expected: tuple[datetime, datetime]
) -> None:
    res = TimeRange(BEGIN, END).replace(duration)
    assert (res.begin, res.end) == expected


def test_time_range_replace_out_of_range_bare_number() -> None:
    with pytest.raises(TimexEvaluationError, match="cannot set hour to 24"):
        TimeRange(BEGIN, END).replace(Duration(unknown=24))


# -- PinnedTimeRange (original TestPinnedTimeRange) -------------------------------

PIN_BEGIN = utc(2014, 8, 1, 1)
PIN_END = utc(2014, 8, 2, 1)
PIN = utc(2014, 8, 1, 17, 30, 10, 25)

PINNED = [
    ("add", Duration(hour=1), utc(2014, 8, 1, 2), utc(2014, 8, 2, 2)),
    ("add", Duration(hour=18), utc(2014, 7, 31, 19), utc(2014, 8, 1, 19)),
    ("sub", Duration(hour=1), utc(2014, 8, 1, 0), utc(2014, 8, 2, 0)),
    ("sub", Duration(hour=8), utc(2014, 8, 1, 17), utc(2014, 8, 2, 17)),
    ("replace", Duration(hour=2), utc(2014, 8, 1, 2), utc(2014, 8, 2, 2)),
    ("replace", Duration(hour=18), utc(2014, 7, 31, 18), utc(2014, 8, 1, 18)),
    # ours: a whole day moves the pin too (the original raised AttributeError)
    ("add", Duration(day=1), utc(2014, 8, 2, 1), utc(2014, 8, 3, 1)),
    ("sub", Duration(day=1), utc(2014, 7, 31, 1), utc(2014, 8, 1, 1)),
]


@pytest.mark.parametrize(("operation", "duration", "begin", "end"), PINNED)
def test_pinned_time_range_wraps_around_its_pin(
    operation: str, duration: Duration, begin: datetime, end: datetime
) -> None:
    pinned = PinnedTimeRange(PIN_BEGIN, PIN_END, PIN, "day")
    if operation == "add":
        res = pinned + duration
    elif operation == "sub":
        res = pinned - duration
    else:
        res = pinned.replace(duration)
    assert isinstance(res, PinnedTimeRange)
    assert (res.begin, res.end, res.unit) == (begin, end, "day")
    assert res.pinned_to in res


def test_pinned_time_range_needs_a_range_unit() -> None:
    with pytest.raises(ValueError, match="unit must be one of"):
        PinnedTimeRange(PIN_BEGIN, PIN_END, PIN, "week")


# -- Duration (original TestDuration) ---------------------------------------------


def test_duration_ordering() -> None:
    hour, second = Duration(hour=1), Duration(second=1)
    assert hour > second
    assert not second > hour
    assert second < hour
    assert not hour < second
    assert Duration(day=1) >= Duration(hour=23) >= Duration(hour=23)


def test_bare_numbers_have_no_order() -> None:
    with pytest.raises(TypeError, match="bare-number"):
        assert Duration(unknown=1) < Duration(hour=1)


def test_duration_add() -> None:
    d = Duration(second=1) + Duration(hour=1) + Duration(day=1)
    assert (d.second, d.hour, d.day) == (1, 1, 1)
    assert (d.microsecond, d.minute, d.month, d.year, d.unknown) == (None,) * 5
    assert Duration(hour=1, unknown=2) + Duration(hour=2, unknown=3) == Duration(
        hour=3, unknown=5
    )


def test_duration_as_dict() -> None:
    assert Duration(second=1, hour=1, day=1).as_dict == {
        "second": 1,
        "hour": 1,
        "day": 1,
    }
    assert Duration(unknown=4).as_dict == {"unknown": 4}


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(day=1, hour=2), "1d 2h"),
        (
            Duration(year=1, month=2, minute=3, second=4, microsecond=5),
            "1y 2mo 3m 4s 5us",
        ),
        (Duration(hour=1, unknown=5), "1h 5"),
        (Duration(), "0s"),
    ],
)
def test_duration_str_is_timex_syntax(duration: Duration, text: str) -> None:
    assert str(duration) == text


@pytest.mark.parametrize("value", [1.5, "1", True, None])
def test_duration_fields_must_be_ints(value: object) -> None:
    if value is None:
        assert Duration(hour=None) == Duration()
        return
    with pytest.raises(ValueError, match="must be an int"):
        Duration(hour=value)  # type: ignore[arg-type]


def test_duration_too_large() -> None:
    with pytest.raises(ValueError, match="too large"):
        Duration(day=10**10)


# -- value semantics --------------------------------------------------------------

TRUTHINESS = [
    (Timestamp(DT), True),
    (TimeRange(BEGIN, END), True),
    (TimeRange(BEGIN, BEGIN), False),  # empty: falsy (the original was truthy on py3)
    (TimeRange(END, BEGIN), False),
    (TimeRange(BEGIN, BEGIN + timedelta(microseconds=1)), True),
    (PinnedTimeRange(PIN_BEGIN, PIN_END, PIN, "day"), True),
]


@pytest.mark.parametrize(("value", "expected"), TRUTHINESS)
def test_truthiness(value: object, expected: bool) -> None:
    assert bool(value) is expected


def test_equality_and_hash() -> None:
    plain = TimeRange(PIN_BEGIN, PIN_END)
    pinned = PinnedTimeRange(PIN_BEGIN, PIN_END, PIN, "day")
    other_pin = PinnedTimeRange(PIN_BEGIN, PIN_END, PIN_BEGIN, "day")
    assert plain == pinned == other_pin
    assert len({plain, pinned, other_pin}) == 1
    assert Timestamp(DT) == Timestamp(DT)
    assert hash(Timestamp(DT)) == hash(Timestamp(DT))
    assert Timestamp(BEGIN) != TimeRange(BEGIN, BEGIN)
    assert plain != TimeRange(PIN_BEGIN, PIN_END + timedelta(microseconds=1))
    assert Duration(day=1) == Duration(day=1)
    assert Duration(day=1) != Duration(day=1, hour=0)
    assert len({Duration(day=1), Duration(day=1)}) == 1


@pytest.mark.parametrize(
    ("value", "attribute"),
    [
        (Timestamp(DT), "timestamp"),
        (TimeRange(BEGIN, END), "begin"),
        (PinnedTimeRange(PIN_BEGIN, PIN_END, PIN, "day"), "pinned_to"),
        (Duration(day=1), "day"),
    ],
)
def test_values_are_immutable(value: object, attribute: str) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        setattr(value, attribute, DT)
    with pytest.raises(AttributeError, match="immutable"):
        delattr(value, attribute)


@pytest.mark.parametrize(
    "value",
    [
        Timestamp(DT),
        TimeRange(BEGIN, END),
        PinnedTimeRange(PIN_BEGIN, PIN_END, PIN, "day"),
        Duration(day=1, unknown=3),
    ],
)
def test_values_pickle(value: object) -> None:
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value
    assert repr(copy) == repr(value)


def test_naive_datetimes_mean_utc_and_zones_are_converted() -> None:
    east = timezone(timedelta(hours=2))
    assert Timestamp(datetime(2014, 8, 1, 2)).timestamp == utc(2014, 8, 1, 2)
    assert Timestamp(datetime(2014, 8, 1, 4, tzinfo=east)).timestamp == utc(
        2014, 8, 1, 2
    )
    assert Timestamp(DT).timestamp.tzinfo is UTC
    tr = TimeRange(datetime(2014, 8, 1), datetime(2014, 8, 2, 2, tzinfo=east))
    assert (tr.begin, tr.end) == (utc(2014, 8, 1), utc(2014, 8, 2))
    assert datetime(2014, 8, 1, 12) in tr  # naive probe: UTC
    # 23:30 UTC the day before
    assert datetime(2014, 8, 1, 1, 30, tzinfo=east) not in tr
    assert Timestamp(DT).match(DT.replace(tzinfo=None))


@pytest.mark.parametrize("probe", ["2014-08-01", 5, None])
def test_containment_of_a_non_datetime_is_a_type_error(probe: object) -> None:
    with pytest.raises(TypeError, match="expected a datetime"):
        probe in TimeRange(BEGIN, END)  # type: ignore[arg-type]  # noqa: B015
    with pytest.raises(TypeError, match="expected a datetime"):
        Timestamp(probe)  # type: ignore[arg-type]


def test_reprs() -> None:
    assert repr(Timestamp(utc(2014, 8, 1))) == (
        "Timestamp(datetime.datetime(2014, 8, 1, 0, 0, tzinfo=datetime.timezone.utc))"
    )
    assert repr(TimeRange(utc(2014, 8, 1), utc(2014, 8, 2))).startswith(
        "TimeRange(datetime.datetime(2014, 8, 1, 0, 0"
    )
    assert "unit='day'" in repr(PinnedTimeRange(PIN_BEGIN, PIN_END, PIN, "day"))


def test_errors_are_value_errors() -> None:
    assert issubclass(TimexEvaluationError, TimexError)
    assert issubclass(TimexError, ValueError)
