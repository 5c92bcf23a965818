from datetime import UTC, datetime, timedelta, timezone

import pytest

from stacktach.exceptions import PermanentError, TimestampError
from stacktach.timeutils import format_timestamp, parse_timestamp

ACCEPTED = [
    # oslo's own format
    ("2014-05-01 00:44:59.805827", datetime(2014, 5, 1, 0, 44, 59, 805827, UTC)),
    # str(datetime) drops a zero fraction (notigen corpus)
    ("2014-05-22 18:37:00", datetime(2014, 5, 22, 18, 37, tzinfo=UTC)),
    ("2014-05-01T00:45:00", datetime(2014, 5, 1, 0, 45, tzinfo=UTC)),
    ("2015-07-01T12:00:00.000000", datetime(2015, 7, 1, 12, tzinfo=UTC)),
    ("2014-05-01T00:45:00Z", datetime(2014, 5, 1, 0, 45, tzinfo=UTC)),
    ("2014-05-01T00:45:00.5Z", datetime(2014, 5, 1, 0, 45, 0, 500000, UTC)),
    # oslo's length, but an offset: not the UTC fast path's
    ("2014-05-01 02:45:00.8+0200", datetime(2014, 5, 1, 0, 45, 0, 800000, UTC)),
    # offsets are converted to UTC
    ("2014-05-01T02:45:00+02:00", datetime(2014, 5, 1, 0, 45, tzinfo=UTC)),
    ("2014-05-01T02:45:00+0200", datetime(2014, 5, 1, 0, 45, tzinfo=UTC)),
    ("2014-04-30T19:45:00-05:00", datetime(2014, 5, 1, 0, 45, tzinfo=UTC)),
    # nanoseconds are truncated to microseconds
    ("2014-05-01T00:45:00.123456789", datetime(2014, 5, 1, 0, 45, 0, 123456, UTC)),
    ("2014-05-01", datetime(2014, 5, 1, tzinfo=UTC)),
    # compact (IPMI fixtures)
    ("20140223134852", datetime(2014, 2, 23, 13, 48, 52, tzinfo=UTC)),
    ("20140223T134852.25Z", datetime(2014, 2, 23, 13, 48, 52, 250000, UTC)),
]

REJECTED = [
    "2014-05-1510: 24: 56.335612",  # neutron fixture, space-mangled
    "2014-05-3107: 19: 43.463101",
    "2015-01-30T16: 38: 43.233621",
    "2014-05-15X10:24:56",  # fromisoformat alone would accept any separator
    "2014-05-15X10:24:56.335612",
    "2014-05-15 10:24:56,335612",
    "2014-05-15 1\u0663:24:56.335612",  # a digit, but not an ASCII one
    "2014-05-15 10:24:56.33561 ",
    "2011-W01-2",  # ISO week date: not a notification timestamp
    "2014-13-01T00:00:00",  # no month 13
    "2014-02-30",
    "yesterday",
    "",
    "2014052",
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_formats(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", REJECTED)
def test_malformed_rejected_with_the_value_named(text: str) -> None:
    with pytest.raises(TimestampError) as info:
        parse_timestamp(text)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PermanentError)


@pytest.mark.parametrize("value", [None, 1400000000, 14.5, b"2014-05-01"])
def test_non_strings_rejected(value: object) -> None:
    with pytest.raises(TimestampError, match="must be a string"):
        parse_timestamp(value)  # type: ignore[arg-type]


def test_format_is_utc_iso_with_microseconds() -> None:
    east = timezone(timedelta(hours=3))
    assert format_timestamp(datetime(2014, 5, 1, 3, 0, tzinfo=east)) == (
        "2014-05-01T00:00:00.000000+00:00"
    )
    assert format_timestamp(datetime(2014, 5, 1)) == "2014-05-01T00:00:00.000000+00:00"


def test_format_round_trips() -> None:
    value = datetime(2014, 5, 1, 0, 44, 59, 805827, UTC)
    assert parse_timestamp(format_timestamp(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T01:00:00+05:00",
        "99991231T230000-0500",
    ],
)
def test_an_offset_past_the_edge_of_the_calendar_is_a_timestamp_error(
    value: str,
) -> None:
    with pytest.raises(TimestampError, match="outside the calendar"):
        parse_timestamp(value)
