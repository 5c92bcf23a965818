"""Timestamp parsing and formatting.

Every timestamp StackTach keeps is a timezone-aware ``datetime`` in UTC.

Accepted input (every format met in real OpenStack notifications):

* ISO 8601 extended, with ``T`` or a space between date and time:
  ``2014-05-01T00:45:00``, ``2014-05-01 00:45:00.805827``;
* seconds and fraction optional (1 to 9 fraction digits; beyond microseconds is
  truncated), ``Z`` or a ``+HH:MM`` / ``+HHMM`` / ``+HH`` offset optional (no offset
  means UTC);
* a date alone: ``2014-05-01`` (midnight UTC);
* the compact form some agents send (IPMI): ``20140223134852`` with optional
  ``.ffffff`` and offset.

Anything else raises :class:`~stacktach.exceptions.TimestampError` - including
strings Python's ``fromisoformat`` would accept with a surprising meaning (any
character as the date/time separator, ISO week dates), and times whose offset
takes them outside the calendar once converted to UTC
(``9999-12-31T23:00:00-05:00``, ``0001-01-01T01:00:00+05:00``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from stacktach.exceptions import TimestampError

__all__ = ["UTC", "format_timestamp", "parse_timestamp"]

_EXTENDED = re.compile(
    r"\d{4}-\d\d-\d\d"
    r"(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?)?"
    r"(?:Z|[+-]\d\d(?::?\d\d)?)?\Z"
)
_COMPACT = re.compile(
    r"(\d{4})(\d\d)(\d\d)T?(\d\d)(\d\d)(\d\d)(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d\d(?::?\d\d)?)?\Z"
)
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: str) -> datetime:
    """Parse ``value`` into an aware UTC datetime.

    Raises :class:`TimestampError` (a ``ValueError``) when ``value`` is not a string
    in one of the accepted formats, or names an impossible date.
    """
    if type(value) is not str:
        raise TimestampError(
            f"timestamp must be a string, got {type(value).__name__} {value!r}"
        )
    # Fastest path: oslo's own format, 'YYYY-MM-DD HH:MM:SS.ffffff' (or with a
    # T), UTC by convention. The separators are checked here and the digits by
    # fromisoformat; the offset appended makes it aware (timezone.utc itself)
    # for a fraction of what datetime.replace(tzinfo=...) costs.
    if (
        len(value) == 26
        and value[19] == "."
        and value[10] in " T"
        and value[4] == value[7] == "-"
        and value[13] == value[16] == ":"
    ):
        try:
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            pass  # not a time after all: the path below says why
    # Fast path: the other ISO forms, validated by the regex (fromisoformat
    # alone would accept any separator character).
    if _EXTENDED.match(value) is not None:
        text = value
        if len(text) > 26 and "." in text:
            text = _LONG_FRACTION.sub(r"\1", text, count=1)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise TimestampError(f"invalid timestamp {value!r}: {exc}") from None
    else:
        parsed = _parse_compact(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise TimestampError(
            f"timestamp {value!r} is outside the calendar (years 1-9999) in UTC"
        ) from None


def _parse_compact(value: str) -> datetime:
    match = _COMPACT.match(value)
    if match is None:
        raise TimestampError(
            f"malformed timestamp {value!r}: expected ISO 8601 "
            "(e.g. '2014-05-01 00:45:00.805827' or '2014-05-01T00:45:00Z') "
            "or compact '20140223134852'"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    if fraction:
        text += "." + fraction[:6]
    if zone:
        text += zone
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimestampError(f"invalid timestamp {value!r}: {exc}") from None


def format_timestamp(value: datetime) -> str:
    """Render an aware (or naive UTC) datetime as ISO 8601 UTC with microseconds."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC).isoformat(timespec="microseconds")
    return value.astimezone(UTC).isoformat(timespec="microseconds")
