"""What an event must fit into: the column limits of :mod:`~winchester.storage.schema`.

Ingest checks every event against these limits **before** its transaction
(:func:`check_event`, :func:`check_stream_key`), so one over-long value refuses
that one notification with a reason naming the field and its length, and the
rest of the batch is stored. The same limits apply on every database (SQLite
would store a 300-character ``message_id``; MariaDB would refuse it), so a
notification is accepted or refused the same way everywhere.

* ``message_id`` (128), event type and trait names (255): characters; text that
  is not valid UTF-8 (a lone surrogate) or holds a NUL character is refused too
  (MariaDB and PostgreSQL refuse it).
* ``event.traits`` JSON: 16 MiB - 1 bytes (MEDIUMTEXT); on MySQL/MariaDB also
  the server's ``max_allowed_packet`` less a margin, so one event never makes a
  packet the server drops (which would look like an outage).
* ``stream.distinguishing_traits``: 65,535 bytes (TEXT on MySQL/MariaDB).
* event times: years 1000 to 9999 (MySQL ``DATETIME``).

The checks cost a few ``len()`` calls on strings ingest already has; the slower
paths (encoding non-ASCII text) run only for non-ASCII values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from winchester.storage import schema
from winchester.storage.engine import run_transaction

__all__ = ["Limits", "check_event", "check_stream_key", "key_size_bound", "limits_for"]

_PACKET_MARGIN = 64 * 1024  # the statement around one row, with room to spare
_MEDIUMTEXT = 16 * 1024 * 1024 - 1


def _length(column: sa.Column[Any]) -> int:
    length = getattr(column.type, "length", None)
    assert isinstance(length, int), column
    return length


@dataclass(frozen=True, slots=True)
class Limits:
    """The largest values the schema holds (characters, or bytes for ``*_bytes``)."""

    message_id: int = _length(schema.event.c.message_id)
    event_type: int = _length(schema.event_type.c.name)
    trait_name: int = _length(schema.trait_name.c.name)
    traits_bytes: int = _MEDIUMTEXT
    dist_traits_bytes: int = 65_535
    earliest: datetime = datetime(1000, 1, 1, tzinfo=UTC)
    latest: datetime = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def limits_for(engine: Engine) -> Limits:
    """The limits on ``engine``'s database (asks MySQL for ``max_allowed_packet``).

    Raises ``DatabaseUnavailable`` when the database cannot be reached.
    """
    if engine.dialect.name != "mysql":
        return Limits()
    packet = run_transaction(
        engine,
        lambda conn: conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar(),
        what="reading max_allowed_packet",
    )
    traits = _MEDIUMTEXT
    if isinstance(packet, int) and packet - _PACKET_MARGIN < traits:
        traits = max(packet - _PACKET_MARGIN, 1024)
    return Limits(traits_bytes=traits)


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _text_problem(what: str, text: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"{what} is {len(text)} characters long; the column holds {limit}"
    if "\x00" in text:
        return f"{what} contains a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"{what} is not valid UTF-8 text ({exc.reason} at {exc.start})"
    return None


#: Trait names that passed the check, per length limit (bounded).
_GOOD_NAMES: dict[int, set[str]] = {}
_GOOD_NAMES_SIZE = 10_000


def check_event(
    limits: Limits,
    message_id: str,
    event_type: str,
    generated: datetime,
    traits: Mapping[str, Any],
    traits_json: str,
) -> str | None:
    """Why this event cannot be stored, or None if it fits every column."""
    problem = _text_problem("message_id", message_id, limits.message_id)
    if problem is None:
        problem = _text_problem(
            f"event type {event_type[:60]!r}", event_type, limits.event_type
        )
    if problem is not None:
        return problem
    good = _GOOD_NAMES.get(limits.trait_name)
    if good is None or len(good) > _GOOD_NAMES_SIZE:
        good = _GOOD_NAMES[limits.trait_name] = set()
    for name in traits:
        if name in good:  # trait names repeat: each distinct one is checked once
            continue
        problem = _text_problem(f"trait name {name[:60]!r}", name, limits.trait_name)
        if problem is not None:
            return problem
        good.add(name)
    if len(traits_json) * 4 > limits.traits_bytes:  # only then count the bytes
        size = _utf8_size(traits_json)
        if size > limits.traits_bytes:
            largest = max(traits, key=lambda n: len(str(traits[n])), default="")
            return (
                f"traits are {size} bytes of JSON (largest: trait {largest!r}, "
                f"{len(str(traits[largest]))} characters); the column holds "
                f"{limits.traits_bytes}"
            )
    if not limits.earliest <= generated <= limits.latest:
        return (
            f"timestamp {generated.isoformat()} is outside the years "
            f"{limits.earliest.year}-{limits.latest.year} the database holds"
        )
    return None


def key_size_bound(key: Iterable[tuple[str, Any]]) -> int:
    """An upper bound of the bytes of a key's JSON, without encoding it.

    JSON escaping turns one character into at most 6 bytes (``\\uXXXX``); a typed
    value (a datetime, a time range) adds its tags. Ingest encodes a key to
    measure it exactly only when this bound is over the limit.
    """
    return sum(6 * (len(name) + len(str(value))) + 256 for name, value in key)


def check_stream_key(limits: Limits, trigger_name: str, encoded_key: str) -> str | None:
    """Why a stream with these distinguishing traits cannot be stored, or None."""
    if len(encoded_key) * 4 <= limits.dist_traits_bytes:
        return None
    size = _utf8_size(encoded_key)
    if size <= limits.dist_traits_bytes:
        return None
    return (
        f"distinguishing traits of trigger {trigger_name!r} are {size} bytes of "
        f"JSON; the stream key column holds {limits.dist_traits_bytes}"
    )
