"""Notification bodies: JSON in UTF-8, the way OpenStack services send them.

Datetimes are written the way oslo's notifier wrote them: naive UTC with a space
and microseconds (``2014-05-01 00:45:00.805827``); aware datetimes are converted
to UTC first. Bytes are taken as already-encoded JSON and sent unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["CONTENT_ENCODING", "CONTENT_TYPE", "decode", "encode", "message_id_of"]

CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(item: Any) -> bytes:
    """Return the JSON body for ``item`` (bytes-like items are passed through).

    Raises :class:`TypeError` for a ``str`` (ambiguous: JSON text or a JSON
    string? encode it first) and for values JSON cannot hold.
    """
    if isinstance(item, bytes):
        return item
    if isinstance(item, bytearray | memoryview):
        return bytes(item)
    if isinstance(item, str):
        raise TypeError("publish a dict or JSON bytes, not str (encode it first)")
    try:
        return orjson.dumps(item, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"cannot encode notification as JSON: {exc}") from exc


def decode(body: bytes | str) -> Any:
    """Parse a JSON body; raises :class:`ValueError` if it is not JSON."""
    return orjson.loads(body)


def message_id_of(item: Any) -> str | None:
    """The notification's ``message_id`` (used as the AMQP message id), if any."""
    if isinstance(item, Mapping):
        value = item.get("message_id")
        if isinstance(value, str):
            return value
    return None
