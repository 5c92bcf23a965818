"""A batch of events on its way in: what it did, and its checks, with no SQL.

:func:`prepare_batch` turns a batch of events into a :class:`Prepared` (rows,
trait index, events grouped per stream key, counters), outside any transaction:

* a repeated ``message_id`` in the batch is a duplicate (counted);
* an event that does not fit the columns (:mod:`winchester.storage.limits`),
  whose traits cannot be encoded or hashed, for which a trigger raises, or whose
  distinguishing traits are too long for a stream, is **rejected**:
  ``(origin, reason)`` naming the field and its length;
* event times after ``future`` (wall clock + ``clock_max_skew``) are counted in
  ``future_events`` and left out of ``newest``, the time that moves the clock.

:func:`size_problem` is the ``max_notification_size`` check; :func:`describe`
and :func:`trait_problem` word the reasons.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from distiller import Event
from winchester import stream_math
from winchester.storage.limits import (
    Limits,
    check_event,
    check_stream_key,
    key_size_bound,
)
from winchester.storage.values import encode_key, encode_traits, value_hash
from winchester.stream_math import CriterionLike, Pending

__all__ = [
    "IngestResult",
    "MatchLike",
    "Names",
    "Prepared",
    "TriggerLike",
    "describe",
    "prepare_batch",
    "size_problem",
    "trait_problem",
]


class MatchLike(Protocol):
    """What a trigger's ``match`` returns (see winchester.config.definition)."""

    @property
    def criterion_index(self) -> int: ...

    @property
    def key(self) -> tuple[tuple[str, Any], ...]: ...


class TriggerLike(Protocol):
    """The part of a trigger definition ingest uses."""

    @property
    def name(self) -> str: ...

    @property
    def debug_level(self) -> int: ...

    @property
    def fire_delay(self) -> float: ...

    @property
    def fire_criteria(self) -> tuple[CriterionLike, ...]: ...

    def match(self, event: Event) -> MatchLike | None: ...

    def explain(self, event: Event) -> str: ...

    def fire_hits(self, event: Event) -> tuple[bool, ...]: ...

    def expires_at(self, first: datetime, last: datetime) -> datetime: ...


@dataclass(slots=True)
class IngestResult:
    """What one batch did."""

    received: int = 0
    saved: int = 0
    duplicates: int = 0
    unmatched: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    streams_created: int = 0
    streams_extended: int = 0
    ready_to_fire: int = 0
    late_events: int = 0
    future_events: int = 0
    statements: int = 0
    #: newest event time of the batch that may move the clock (None: none)
    newest: datetime | None = None

    def add(self, other: IngestResult) -> None:
        """Add the counts of ``other`` (part of the same batch) to this one."""
        self.saved += other.saved
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.streams_created += other.streams_created
        self.streams_extended += other.streams_extended
        self.ready_to_fire += other.ready_to_fire
        self.late_events += other.late_events
        self.future_events += other.future_events
        self.statements += other.statements
        if other.newest is not None and (
            self.newest is None or other.newest > self.newest
        ):
            self.newest = other.newest


@dataclass(slots=True)
class Prepared:
    """A batch of events ready to store (see :meth:`TriggerManager.prepare`)."""

    rows: list[dict[str, Any]]
    index: list[list[tuple[int, int]]]  # per row: (name_id, value_hash)
    pending: dict[str, Pending]
    events: list[Event]
    counters: Counter[tuple[str, str]]
    newest: datetime | None
    received: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    future_events: int = 0
    #: per pending key: its distinguishing values' (name, value_hash)
    key_hashes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: MySQL: per row, its index rows' text around the event id (``row_pieces``)
    index_pieces: list[list[str]] | None = None
    #: PostgreSQL: per row, its index rows' ``COPY`` data around the event id
    index_copy: list[list[bytes]] | None = None
    #: MySQL over PyMySQL: per row, its ``VALUES`` text (``event_literals``)
    event_literals: list[str] | None = None
    #: the event counts of all the rows (``event_counts.bucket_counts``)
    buckets: Counter[tuple[int, int, datetime]] | None = None


@dataclass(frozen=True, slots=True)
class Names:
    """Interns names to ids (outside any transaction): event types, trait names."""

    event_types: Callable[[Iterable[str]], dict[str, int]]
    trait_names: Callable[[Iterable[str]], dict[str, int]]
    #: ids of trait names with no ``trait_index`` rows (kept up to date by
    #: ``trait_names``, which reads each name's flag with its id)
    unindexed: Set[int] = frozenset()


def size_problem(notification: Any, limit: int) -> str | None:
    """Why ``notification`` (bytes, str or decoded) is over ``limit`` bytes, or None."""
    if isinstance(notification, bytes):
        size = len(notification)
    elif isinstance(notification, str):
        if len(notification) * 4 <= limit:
            return None
        size = len(notification.encode("utf-8", "surrogatepass"))
    else:
        try:
            size = json_size(notification)
        except RecursionError:  # the distiller refuses it, with that reason
            return None
    if size > limit:
        return f"notification is {size} bytes; max_notification_size is {limit}"
    return None


def prepare_batch(
    events: Sequence[Event],
    origins: Sequence[int],
    triggers: Sequence[TriggerLike],
    limits: Limits,
    names: Names,
    future: datetime,
) -> Prepared:
    """Check ``events`` and group them per stream (see the module docstring).

    ``origins[i]`` is what a reject of ``events[i]`` is reported as; event times
    after ``future`` never move the clock.
    """
    duplicates = 0
    rejected: list[tuple[int, str]] = []
    checked: list[tuple[Event, int, str]] = []
    seen: set[str] = set()
    for event, origin in zip(events, origins, strict=True):
        try:
            if event.message_id in seen:
                duplicates += 1
                continue
            traits_json = encode_traits(event.traits)
            problem = check_event(
                limits,
                event.message_id,
                event.event_type,
                event.timestamp,
                event.traits,
                traits_json,
            )
        except Exception as exc:  # a value that cannot be encoded, ...
            problem = trait_problem(event, exc)
        if problem is not None:
            rejected.append((origin, problem))
            continue
        seen.add(event.message_id)
        checked.append((event, origin, traits_json))
    type_ids = names.event_types({e.event_type for e, _, _ in checked})
    name_ids = names.trait_names({name for e, _, _ in checked for name in e.traits})
    prep = Prepared([], [], {}, [], Counter(), None, len(events), duplicates)
    prep.rejected = rejected
    bad_keys: dict[str, str] = {}
    unindexed = names.unindexed
    for event, origin, traits_json in checked:
        try:
            type_id = type_ids[event.event_type]
            trait_ids = [name_ids[name] for name in event.traits]
        except KeyError as exc:  # the database took the name for another one
            reason = f"name {exc.args[0]!r} has no id of its own in the database"
            prep.rejected.append((origin, reason))
            continue
        try:
            index = [
                (name_id, value_hash(value))
                for name_id, value in zip(trait_ids, event.traits.values(), strict=True)
                if name_id not in unindexed
            ]
            matched = _match(triggers, event, prep, bad_keys, limits)
        except Exception as exc:
            prep.rejected.append((origin, trait_problem(event, exc)))
            continue
        if isinstance(matched, str):
            prep.rejected.append((origin, matched))
            continue
        position = len(prep.rows)
        prep.rows.append(
            {
                "message_id": event.message_id,
                "event_type_id": type_id,
                "generated": event.timestamp,
                "traits": traits_json,
            }
        )
        prep.index.append(index)
        prep.events.append(event)
        if event.timestamp > future:
            prep.future_events += 1
        elif prep.newest is None or event.timestamp > prep.newest:
            prep.newest = event.timestamp
        for trigger, dist_key, key, hits, label in matched:
            entry = prep.pending.get(dist_key)
            if entry is None:
                entry = prep.pending[dist_key] = Pending(trigger, key, dist_key)
            entry.members.append((position, hits))
            if label:
                prep.counters[(trigger.name, label)] += 1
    prep.rejected.sort()
    # Distinguishing names too are interned now, outside the transaction.
    names.trait_names({n for e in prep.pending.values() for n, _ in e.key})
    return prep


def _match(
    triggers: Sequence[TriggerLike],
    event: Event,
    prep: Prepared,
    bad_keys: dict[str, str],
    limits: Limits,
) -> (
    list[tuple[TriggerLike, str, tuple[tuple[str, Any], ...], tuple[bool, ...], str]]
    | str
):
    """The streams ``event`` joins, or why it cannot join one."""
    matched = []
    for trigger in triggers:
        match = trigger.match(event)
        if match is None:
            if trigger.debug_level >= 2:
                prep.counters[
                    (trigger.name, f"mismatch: {trigger.explain(event)}")
                ] += 1
            elif trigger.debug_level:
                prep.counters[(trigger.name, "mismatched")] += 1
            continue
        dist_key = _stream_key(trigger.name, match.key)
        if dist_key not in prep.pending and dist_key not in prep.key_hashes:
            problem = bad_keys.get(dist_key)
            if problem is None and key_size_bound(match.key) > limits.dist_traits_bytes:
                problem = check_stream_key(limits, trigger.name, encode_key(match.key))
            if problem is not None:
                bad_keys[dist_key] = problem
                return problem
            prep.key_hashes[dist_key] = [
                (name, value_hash(value)) for name, value in match.key
            ]
        label = "matched" if trigger.debug_level else ""
        matched.append((trigger, dist_key, match.key, trigger.fire_hits(event), label))
    return matched


#: (trigger, typed key) -> dist key: events of one stream share their key.
#: Emptied when full: an entry (a key with its values and time range, and the
#: 64-character dist key) is about 700 bytes, so at most about 3.5 MB; the open
#: streams' keys come back at once.
_KEYS: dict[tuple[str, tuple[tuple[str, type, Any], ...]], str] = {}
_KEYS_SIZE = 5_000


def _stream_key(trigger_name: str, key: tuple[tuple[str, Any], ...]) -> str:
    """:func:`stream_math.stream_key`, memoised on the typed key values.

    The value's class is part of the memo key (``1`` and ``1.0`` are equal in
    Python but hash differently as trait values).
    """
    memo = (trigger_name, tuple([(name, v.__class__, v) for name, v in key]))
    try:
        return _KEYS[memo]
    except KeyError:
        pass
    except TypeError:  # an unhashable value: compute it every time
        return stream_math.stream_key(trigger_name, key)
    if len(_KEYS) >= _KEYS_SIZE:
        _KEYS.clear()
    found = _KEYS[memo] = stream_math.stream_key(trigger_name, key)
    return found


def json_size(value: Any) -> int:
    """Bytes of ``value`` as JSON (for the size limit of decoded notifications)."""
    try:
        return len(orjson.dumps(value, default=str))
    except (TypeError, orjson.JSONEncodeError):  # a big integer, deep nesting
        return len(json.dumps(value, default=str, ensure_ascii=False).encode())


def describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # a DBAPIError: the driver's own message
    text = str(orig if orig is not None else exc).strip().splitlines()
    message = text[0] if text else ""
    return f"{type(orig or exc).__name__}: {message}"[:1000]


def trait_problem(event: Event, exc: Exception) -> str:
    """The reason an event's values cannot be stored, naming the trait if it can."""
    for name, value in getattr(event, "traits", {}).items():
        if value.__class__ is int and not -(2**63) <= value < 2**64:
            return (
                f"trait {name!r}: integer of {value.bit_length()} bits is out of "
                "the 64-bit range the database holds"
            )
        try:
            value_hash(value)
            encode_traits({name: value})
        except Exception as inner:
            return f"trait {name!r}: {describe(inner)}"
    return describe(exc)
