"""Simulated time: formats and the parsing of --start and --duration."""

from __future__ import annotations

import pytest

from notigen.clock import (
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    iso_z,
    midnight_before,
    next_midnight,
    nova_str,
    oslo,
    parse_duration,
    parse_start,
)

T0 = parse_start("2014-05-01T00:45:00.304764")


@pytest.mark.parametrize(
    ("us", "expected"),
    [
        (T0, "2014-05-01 00:45:00.304764"),
        (T0 - 304_764, "2014-05-01 00:45:00.000000"),
        (parse_start("1999-12-31T23:59:59.999999"), "1999-12-31 23:59:59.999999"),
    ],
)
def test_oslo_format_always_has_microseconds(us: int, expected: str) -> None:
    assert oslo(us) == expected


def test_nova_str_drops_a_zero_fraction_like_str_datetime() -> None:
    assert nova_str(T0) == "2014-05-01 00:45:00.304764"
    assert nova_str(midnight_before(T0)) == "2014-05-01 00:00:00"
    assert iso_z(T0) == "2014-05-01T00:45:00Z"


def test_midnights() -> None:
    midnight = parse_start("2014-05-01")
    assert midnight_before(T0) == midnight
    assert next_midnight(T0) == midnight + DAY
    assert next_midnight(midnight) == midnight + DAY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", 90 * SECOND),
        ("90s", 90 * SECOND),
        ("15m", 15 * MINUTE),
        ("1.5h", 90 * MINUTE),
        ("1d", DAY),
        ("1d12h", DAY + 12 * HOUR),
        ("2w", 14 * DAY),
        ("250ms", 250_000),
        (" 3D ", 3 * DAY),
        ("1h 30m", 90 * MINUTE),
    ],
)
def test_durations(text: str, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1x", "d", "-1h", "0", "0s", "1h-", "h1", "1.h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_start_accepts_offsets_and_rejects_nonsense() -> None:
    assert parse_start("2014-05-01T02:45:00.304764+02:00") == T0
    with pytest.raises(ValueError):
        parse_start("tomorrow")
