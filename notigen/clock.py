"""Simulated time: integer microseconds since the Unix epoch, UTC.

The generator never reads the wall clock for content. Every instant is an ``int``
of microseconds, which keeps heap ordering exact and formatting cheap. This module
holds the pure functions around that representation:

* formatting in the shapes nova uses: oslo's ``YYYY-MM-DD HH:MM:SS.ffffff``
  (:func:`oslo`), Python's ``str(datetime)`` that legacy payloads use and that
  drops a zero fraction (:func:`nova_str`), and the ISO ``...T...Z`` form of
  versioned payloads (:func:`iso_z`);
* parsing the command-line values ``--start`` and ``--duration``
  (:func:`parse_start`, :func:`parse_duration`), which raise ``ValueError`` with a
  message meant for the user;
* day arithmetic (:func:`midnight_before`, :func:`next_midnight`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from stacktach.exceptions import TimestampError
from stacktach.timeutils import parse_timestamp

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "from_datetime",
    "iso_z",
    "midnight_before",
    "next_midnight",
    "nova_str",
    "oslo",
    "parse_duration",
    "parse_start",
    "to_datetime",
]

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_SECONDS = 86_400

# Date strings by day number since the epoch: formatting a date is the slow part
# of a timestamp, and a run touches few distinct days.
_DATES: dict[int, str] = {}

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(us|ms|s|m|h|d|w)")
_DURATIONS = re.compile(r"(?:\d+(?:\.\d+)?\s*(?:us|ms|s|m|h|d|w)\s*)+")
_UNITS = {
    "us": 1,
    "ms": 1_000,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
    "d": DAY,
    "w": 7 * DAY,
}


def _date(day: int) -> str:
    text = _DATES.get(day)
    if text is None:
        if len(_DATES) > 100_000:
            _DATES.clear()
        text = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        _DATES[day] = text
    return text


_last_clock: list[Any] = [None, ""]


def _clock(seconds: int) -> str:
    # Consecutive calls mostly ask for the same second (a message's timestamp,
    # its payload's period end, ...): remember the last answer.
    last = _last_clock
    if last[0] == seconds:
        return str(last[1])
    text = _clock_text(seconds)
    last[0] = seconds
    last[1] = text
    return text


def _clock_text(seconds: int) -> str:
    day, rest = divmod(seconds, _DAY_SECONDS)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_date(day)} {hours:02d}:{minutes:02d}:{secs:02d}"


def oslo(us: int) -> str:
    """``2014-05-01 00:45:00.304764``: always six fraction digits (the envelope)."""
    seconds, fraction = divmod(us, SECOND)
    return f"{_clock(seconds)}.{fraction:06d}"


def nova_str(us: int) -> str:
    """``str(datetime)``: like :func:`oslo` but without a zero fraction.

    Legacy nova payloads render their dates this way, so a midnight audit period
    reads ``2014-05-01 00:00:00``.
    """
    seconds, fraction = divmod(us, SECOND)
    if fraction:
        return f"{_clock(seconds)}.{fraction:06d}"
    return _clock(seconds)


def iso_z(us: int) -> str:
    """``2014-05-01T00:45:00Z``: the whole-second UTC form of versioned payloads."""
    text = _clock(us // SECOND)
    return f"{text[:10]}T{text[11:]}Z"


def to_datetime(us: int) -> datetime:
    """The aware UTC ``datetime`` of ``us``."""
    return _EPOCH + timedelta(microseconds=us)


def from_datetime(value: datetime) -> int:
    """Microseconds since the epoch of an aware (or naive UTC) ``datetime``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * _DAY_SECONDS + delta.seconds) * SECOND + delta.microseconds


def midnight_before(us: int) -> int:
    """The UTC midnight at or before ``us``."""
    return us - us % DAY


def next_midnight(us: int) -> int:
    """The first UTC midnight strictly after ``us``."""
    return midnight_before(us) + DAY


def parse_duration(text: str) -> int:
    """Parse ``90s``, ``15m``, ``1.5h``, ``1d``, ``1w``, ``1d12h`` into microseconds.

    A bare number means seconds. Raises ``ValueError`` naming the accepted forms
    when ``text`` is anything else or not positive.
    """
    value = text.strip().lower()
    if _NUMBER.fullmatch(value):
        total = round(float(value) * SECOND)
    elif _DURATIONS.fullmatch(value):
        total = sum(
            round(float(number) * _UNITS[unit])
            for number, unit in _DURATION.findall(value)
        )
    else:
        raise ValueError(
            f"{text!r} is not a duration: use a number with a unit "
            "(us, ms, s, m, h, d, w), e.g. 90s, 15m, 1.5h, 1d, 1d12h"
        )
    if total <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return total


def parse_start(text: str) -> int:
    """Parse an ISO 8601 start time (UTC unless an offset is given).

    Accepts what :func:`stacktach.timeutils.parse_timestamp` accepts, e.g.
    ``2024-01-15``, ``2024-01-15T10:00:00``, ``2024-01-15 10:00:00.5+02:00``.
    Raises ``ValueError`` otherwise.
    """
    try:
        return from_datetime(parse_timestamp(text.strip()))
    except TimestampError as exc:
        raise ValueError(str(exc)) from None
