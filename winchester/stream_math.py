"""Stream arithmetic: keys, spans, expiry and fire criteria, with no I/O.

Ingest (:mod:`winchester.ingest`) groups a batch's events per stream key, then
asks this module what each stream row must become; the storage layer
(:mod:`winchester.storage.streams`) only writes the answer. The rules:

* A stream is named by its **distinguishing key**: the trigger name plus the
  typed distinguishing values (:func:`stream_key`; the hash is
  :func:`winchester.storage.values.distinguishing_key`, the JSON shown by the API
  :func:`winchester.storage.values.encode_key`).
* ``first``/``last`` span every event of the stream (the batch's and those
  already stored); ``expire_timestamp`` is the trigger's expiry of that span.
* ``fire_counts`` holds, per fire criterion, how many events matched it so far
  (comma-separated integers, so firing never reloads the stream); a stream is
  ready when every criterion has its ``number``, and then fires at
  ``now + fire_delay``. Once set, the fire time never moves.
* An open stream whose expiry is at or before ``now`` takes no more events
  (:func:`expired`): its key closes and the events start a new stream.

Everything here is a pure function of its arguments (time is passed in).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from distiller import Event
from winchester.states import StreamState
from winchester.storage.values import distinguishing_key, encode_key

__all__ = [
    "Pending",
    "aggregate",
    "expired",
    "extend",
    "fire_at",
    "format_counts",
    "new_stream_row",
    "parse_counts",
    "ready",
    "stream_key",
]

#: (position of the event in the batch, its fire-criteria hits)
Member = tuple[int, tuple[bool, ...]]


class CriterionLike(Protocol):
    """A fire criterion: only its ``number`` matters here."""

    @property
    def number(self) -> int: ...


class StreamTrigger(Protocol):
    """What the arithmetic needs of a trigger definition."""

    @property
    def name(self) -> str: ...

    @property
    def fire_delay(self) -> float: ...

    @property
    def fire_criteria(self) -> tuple[CriterionLike, ...]: ...

    def expires_at(self, first: datetime, last: datetime) -> datetime: ...


@dataclass(slots=True)
class Pending:
    """The events of one batch for one (trigger, key)."""

    trigger: StreamTrigger
    key: tuple[tuple[str, Any], ...]
    dist_key: str
    members: list[Member] = field(default_factory=list)
    #: the JSON of ``key`` shown by the API (computed once, when checked)
    encoded_key: str | None = None


def stream_key(trigger_name: str, key: Iterable[tuple[str, Any]]) -> str:
    """The distinguishing key (hex SHA-256) of a trigger's stream for ``key``."""
    return distinguishing_key(trigger_name, key)


def parse_counts(text: str, size: int) -> list[int]:
    """``fire_counts`` text -> one count per criterion (padded or cut to ``size``)."""
    counts = [int(part) for part in text.split(",")] if text else []
    return (counts + [0] * size)[:size]


def format_counts(counts: Sequence[int]) -> str:
    """The ``fire_counts`` text of ``counts``."""
    return ",".join(map(str, counts))


def ready(trigger: StreamTrigger, counts: Sequence[int]) -> bool:
    """Every fire criterion has its ``number`` of matching events."""
    return all(
        c >= crit.number for c, crit in zip(counts, trigger.fire_criteria, strict=True)
    )


def fire_at(trigger: StreamTrigger, now: datetime) -> datetime:
    """When a stream that became ready at ``now`` fires."""
    return now + timedelta(seconds=trigger.fire_delay)


def expired(expire_timestamp: datetime | None, now: datetime) -> bool:
    """An open stream with this expiry takes no more events at ``now``."""
    return expire_timestamp is not None and expire_timestamp <= now


def aggregate(
    members: Sequence[Member], events: Sequence[Event], counts: list[int]
) -> tuple[datetime, datetime]:
    """The (first, last) span of ``members``; adds their hits to ``counts``."""
    first = last = events[members[0][0]].timestamp
    for position, hits in members:
        stamp = events[position].timestamp
        first = min(first, stamp)
        last = max(last, stamp)
        for number, hit in enumerate(hits):
            if hit:
                counts[number] += 1
    return first, last


def new_stream_row(
    entry: Pending,
    members: Sequence[Member],
    events: Sequence[Event],
    now: datetime,
) -> dict[str, Any]:
    """The ``stream`` row a new stream of ``entry`` starts with."""
    trigger = entry.trigger
    counts = [0] * len(trigger.fire_criteria)
    first, last = aggregate(members, events, counts)
    return {
        "trigger_name": trigger.name,
        "state": int(StreamState.ACTIVE),
        "dist_key": entry.dist_key,
        "open_key": entry.dist_key,
        "distinguishing_traits": (
            entry.encoded_key
            if entry.encoded_key is not None
            else encode_key(entry.key)
        ),
        "first_event": first,
        "last_event": last,
        "expire_timestamp": trigger.expires_at(first, last),
        "fire_timestamp": fire_at(trigger, now) if ready(trigger, counts) else None,
        "event_count": len(members),
        "fire_counts": format_counts(counts),
        "created_at": now,
    }


def extend(
    entry: Pending,
    row: dict[str, Any],
    members: Sequence[Member],
    events: Sequence[Event],
    now: datetime,
) -> dict[str, Any]:
    """The update of the open stream ``row`` once ``members`` join it.

    ``row`` has ``id``, ``first_event``, ``last_event``, ``fire_timestamp``,
    ``event_count`` and ``fire_counts``; the update's ``b_id`` is the stream id.
    """
    trigger = entry.trigger
    counts = parse_counts(row["fire_counts"], len(trigger.fire_criteria))
    first, last = aggregate(members, events, counts)
    first = min(first, row["first_event"])
    last = max(last, row["last_event"])
    fire = row["fire_timestamp"]
    if fire is None and ready(trigger, counts):
        fire = fire_at(trigger, now)
    return {
        "b_id": row["id"],
        "first_event": first,
        "last_event": last,
        "expire_timestamp": trigger.expires_at(first, last),
        "fire_timestamp": fire,
        "event_count": row["event_count"] + len(members),
        "fire_counts": format_counts(counts),
    }
