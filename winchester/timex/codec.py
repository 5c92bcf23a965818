"""Typed JSON for timex values, through :mod:`stacktach.jsonutil`.

Encoding needs nothing: the values have ``to_typed_json()``. Decoding needs
:func:`register_json`, called once by whatever reads typed JSON (no side effects
at import)::

    {"__type__": "timex.TimeRange", "begin": <datetime>, "end": <datetime>}
    {"__type__": "timex.Timestamp", "timestamp": <datetime>}

A :class:`~winchester.timex.values.PinnedTimeRange` is written as a plain
TimeRange (its pin only steers arithmetic) and read back as one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stacktach import jsonutil
from stacktach.timeutils import parse_timestamp
from winchester.timex.values import TimeRange, Timestamp

__all__ = ["decode_time_range", "decode_timestamp", "register_json"]


def _datetime(value: Any) -> datetime:
    # jsonutil decodes the inner tagged datetimes first; accept bare strings too.
    if isinstance(value, str):
        return parse_timestamp(value)
    if isinstance(value, datetime):
        return value
    raise ValueError(f"expected a datetime in timex JSON, got {value!r}")


def decode_time_range(obj: dict[str, Any]) -> TimeRange:
    """Decode ``{"__type__": "timex.TimeRange", "begin": ..., "end": ...}``."""
    return TimeRange(_datetime(obj["begin"]), _datetime(obj["end"]))


def decode_timestamp(obj: dict[str, Any]) -> Timestamp:
    """Decode ``{"__type__": "timex.Timestamp", "timestamp": ...}``."""
    return Timestamp(_datetime(obj["timestamp"]))


def register_json() -> None:
    """Teach :func:`stacktach.jsonutil.loads` the timex tags (idempotent)."""
    jsonutil.register_decoder("timex.TimeRange", decode_time_range)
    jsonutil.register_decoder("timex.Timestamp", decode_timestamp)
