"""The trigger manager: store a batch of events and grow their streams, atomically.

:meth:`TriggerManager.add_notifications` distils a batch of notifications and
passes the events to :meth:`TriggerManager.add_events`, which does everything in
**one transaction per batch**:

1. inserts the events, skipping any whose ``message_id`` is already stored (the
   insert reports which rows it really wrote, so a duplicate - within the batch,
   from an earlier batch, or from another process at the same moment - is counted
   and goes no further);
2. inserts their trait index rows;
3. for each trigger an event matches, finds the stream open for its key - the
   open streams of the batch are read with ``SELECT ... FOR UPDATE``, in key
   order, so a pipeline worker cannot claim one between our read and our write -
   or creates it (the unique ``open_key`` makes two writers agree on one stream);
4. appends the events, recomputes ``first``/``last``/``expire_timestamp``, adds
   each event's fire-criteria hits to the stream's running counts, and sets
   ``fire_timestamp`` (now + ``fire_delay``) the first time every fire criterion
   has its ``number`` - so the cost of an event never depends on the stream's
   length;
5. raises the event-time clock and adds to the per-trigger counters.

A crash anywhere before the commit leaves nothing of the batch behind; the
caller acks its messages only after this returns, so a redelivered batch is
stored exactly once. Contention (deadlocks, lock timeouts, a lost race for a new
stream) re-runs the whole transaction; an unreachable database raises
:class:`~winchester.storage.engine.DatabaseUnavailable`.

Streams and time: a stream accepts events while it is ``active`` and its
``expire_timestamp`` is in the future. Once a pipeline worker claims it, or it
has expired, its key is closed, and an event for that key starts a **new**
stream and is counted as *late* (``late_events``). Late events are normal for an
expired stream's key; for a stream that fired, they usually mean notifications
arrived after the fact (a slow cell, a replay), and the new stream's own
pipeline handles them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from distiller import Distiller, Event, NotificationRejected
from winchester.clock import Clock
from winchester.states import StreamState
from winchester.storage import schema
from winchester.storage.bulk import bulk_insert
from winchester.storage.dialect import insert_ignore
from winchester.storage.engine import StartOver, run_transaction
from winchester.storage.names import NameCache
from winchester.storage.values import (
    distinguishing_key,
    encode_key,
    encode_traits,
    value_hash,
)

__all__ = ["IngestResult", "Prepared", "TriggerLike", "TriggerManager"]

LOG = logging.getLogger(__name__)

_CHUNK = 500  # rows per IN (...) list
_TRAIT_INDEX_COLUMNS = ("name_id", "value_hash", "event_id")


class MatchLike(Protocol):
    """What a trigger's ``match`` returns (see winchester.config.definition)."""

    @property
    def criterion_index(self) -> int: ...

    @property
    def key(self) -> tuple[tuple[str, Any], ...]: ...


class CriterionLike(Protocol):
    """A fire criterion: only its ``number`` matters here."""

    @property
    def number(self) -> int: ...


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
    statements: int = 0


@dataclass(slots=True)
class _Pending:
    """The events of one batch for one (trigger, key)."""

    trigger: TriggerLike
    key: tuple[tuple[str, Any], ...]
    dist_key: str
    members: list[tuple[int, tuple[bool, ...]]] = field(default_factory=list)


@dataclass(slots=True)
class Prepared:
    """A batch of events ready to store (see :meth:`TriggerManager.prepare`)."""

    rows: list[dict[str, Any]]
    index: list[list[tuple[int, int]]]  # per row: (name_id, value_hash)
    pending: dict[str, _Pending]
    events: list[Event]
    counters: Counter[tuple[str, str]]
    newest: datetime | None
    received: int = 0
    duplicates: int = 0


class TriggerManager:
    """Ingest: events in, streams grown. One per process (it caches name ids)."""

    def __init__(
        self,
        engine: Engine,
        triggers: Sequence[TriggerLike],
        clock: Clock,
        *,
        distiller: Distiller | None = None,
    ) -> None:
        self.engine = engine
        self.triggers = list(triggers)
        self.clock = clock
        self.distiller = distiller
        self._event_types = NameCache(schema.event_type)
        self._trait_names = NameCache(schema.trait_name)
        self.totals: Counter[str] = Counter()

    # ------------------------------------------------------------------ entry points

    def add_notifications(
        self, notifications: Sequence[Any], *, traits: Mapping[str, Any] | None = None
    ) -> IngestResult:
        """Distil ``notifications`` (dicts, or JSON text/bytes) and store the events.

        ``traits`` are added to every event that lacks them (yagi-event's
        ``deployment``). Rejected notifications are listed in ``result.rejected``
        as ``(index in the batch, reason)``; the rest of the batch is stored.
        """
        if self.distiller is None:
            raise RuntimeError("TriggerManager built without a distiller")
        events: list[Event] = []
        rejected: list[tuple[int, str]] = []
        unmatched = 0
        for index, notification in enumerate(notifications):
            try:
                if isinstance(notification, (bytes, str)):
                    event = self.distiller.distill_json(notification)
                else:
                    event = self.distiller.distill(notification)
            except NotificationRejected as exc:
                rejected.append((index, str(exc)))
                continue
            if event is None:
                unmatched += 1
            else:
                for name, value in (traits or {}).items():
                    event.traits.setdefault(name, value)
                events.append(event)
        result = self.add_events(events)
        result.received = len(notifications)
        result.rejected = rejected
        result.unmatched = unmatched
        return result

    def add_events(self, events: Sequence[Event]) -> IngestResult:
        """Store ``events`` and grow their streams in one transaction."""
        if not events:
            return IngestResult()
        prepared = self.prepare(events)
        final = run_transaction(
            self.engine, lambda conn: self.store(conn, prepared), what="ingest batch"
        )
        self.record(final)
        return final

    def prepare(self, events: Sequence[Event]) -> Prepared:
        """The work of storing ``events``, computed outside any transaction.

        With :meth:`store` it lets a caller store events inside a transaction of
        its own (the pipeline worker completes a stream and stores the events
        its handlers emitted in one transaction).
        """
        result = IngestResult(received=len(events))
        prepared = self._prepare(events, result)
        prepared.duplicates = result.duplicates
        return prepared

    def store(self, conn: Connection, prepared: Prepared) -> IngestResult:
        """Store prepared events inside the caller's transaction (re-runnable)."""
        if prepared.newest is not None:
            self.clock.observe(prepared.newest)
        now = self.clock.now()
        result = IngestResult(
            received=prepared.received, duplicates=prepared.duplicates
        )
        if prepared.rows:
            self._store(conn, prepared, now, result)
        return result

    def record(self, result: IngestResult) -> None:
        """Add a committed result to this manager's running totals."""
        self.totals.update(
            saved=result.saved,
            duplicates=result.duplicates,
            streams_created=result.streams_created,
            ready_to_fire=result.ready_to_fire,
            late_events=result.late_events,
        )

    # ----------------------------------------------------- outside the transaction

    def _prepare(self, events: Sequence[Event], result: IngestResult) -> Prepared:
        unique: list[Event] = []
        seen: set[str] = set()
        for event in events:
            if event.message_id in seen:
                result.duplicates += 1
                continue
            seen.add(event.message_id)
            unique.append(event)
        type_ids = self._event_types.ids(self.engine, {e.event_type for e in unique})
        name_ids = self._trait_names.ids(
            self.engine, {name for e in unique for name in e.traits}
        )
        rows: list[dict[str, Any]] = []
        index: list[list[tuple[int, int]]] = []
        pending: dict[str, _Pending] = {}
        counters: Counter[tuple[str, str]] = Counter()
        newest: datetime | None = None
        for position, event in enumerate(unique):
            rows.append(
                {
                    "message_id": event.message_id,
                    "event_type_id": type_ids[event.event_type],
                    "generated": event.timestamp,
                    "traits": encode_traits(event.traits),
                }
            )
            index.append(
                [
                    (name_ids[name], value_hash(value))
                    for name, value in event.traits.items()
                ]
            )
            if newest is None or event.timestamp > newest:
                newest = event.timestamp
            for trigger in self.triggers:
                match = trigger.match(event)
                if match is None:
                    if trigger.debug_level >= 2:
                        counters[
                            (trigger.name, f"mismatch: {trigger.explain(event)}")
                        ] += 1
                    elif trigger.debug_level:
                        counters[(trigger.name, "mismatched")] += 1
                    continue
                if trigger.debug_level:
                    counters[(trigger.name, "matched")] += 1
                dist_key = distinguishing_key(trigger.name, match.key)
                entry = pending.get(dist_key)
                if entry is None:
                    entry = pending[dist_key] = _Pending(trigger, match.key, dist_key)
                entry.members.append((position, trigger.fire_hits(event)))
        # Distinguishing names too are interned now, outside the transaction.
        self._trait_names.ids(
            self.engine, {n for e in pending.values() for n, _ in e.key}
        )
        return Prepared(rows, index, pending, unique, counters, newest, len(events))

    # ------------------------------------------------------ inside the transaction

    def _store(
        self, conn: Connection, prep: Prepared, now: datetime, result: IngestResult
    ) -> None:
        new_ids = self._insert_events(conn, prep, result)
        counters: Counter[tuple[str, str]] = Counter(prep.counters)
        if new_ids:
            live = {
                key: members
                for key, entry in prep.pending.items()
                if (members := [m for m in entry.members if m[0] in new_ids])
            }
            if live:
                self._grow_streams(conn, prep, live, new_ids, now, result, counters)
        self.clock.persist(conn)
        result.statements += 2
        if counters:
            self._add_counters(conn, counters)
            result.statements += 2

    def _insert_events(
        self, conn: Connection, prep: Prepared, result: IngestResult
    ) -> dict[int, int]:
        """Insert the batch's events; position in batch -> event id for the new ones."""
        statement = insert_ignore(conn, schema.event, ["message_id"]).returning(
            schema.event.c.id, schema.event.c.message_id
        )
        by_message: dict[str, int] = {
            mid: id_ for id_, mid in conn.execute(statement, prep.rows)
        }
        result.statements += 1
        new_ids = {
            position: by_message[row["message_id"]]
            for position, row in enumerate(prep.rows)
            if row["message_id"] in by_message
        }
        result.saved = len(new_ids)
        result.duplicates += len(prep.rows) - len(new_ids)
        trait_rows = [
            (name_id, hashed, event_id)
            for position, event_id in new_ids.items()
            for name_id, hashed in prep.index[position]
        ]
        if trait_rows:
            bulk_insert(conn, schema.trait_index, _TRAIT_INDEX_COLUMNS, trait_rows)
            result.statements += 1
        return new_ids

    def _grow_streams(
        self,
        conn: Connection,
        prep: Prepared,
        live: dict[str, list[tuple[int, tuple[bool, ...]]]],
        new_ids: dict[int, int],
        now: datetime,
        result: IngestResult,
        counters: Counter[tuple[str, str]],
    ) -> None:
        stream = schema.stream
        open_rows = self._lock_open_streams(conn, sorted(live), result)
        # An open stream past its expiry takes no more events: close its key.
        expired = [
            row["id"]
            for row in open_rows.values()
            if row["expire_timestamp"] is not None and row["expire_timestamp"] <= now
        ]
        if expired:
            conn.execute(
                stream.update().where(stream.c.id.in_(expired)).values(open_key=None)
            )
            result.statements += 1
            open_rows = {k: r for k, r in open_rows.items() if r["id"] not in expired}
        links: list[tuple[int, int]] = []
        updates: list[dict[str, Any]] = []
        to_create = [key for key in sorted(live) if key not in open_rows]
        created = self._create_streams(
            conn, prep, live, to_create, now, result, counters
        )
        for key, stream_id in created.items():
            links.extend((stream_id, new_ids[pos]) for pos, _ in live[key])
        for key, row in open_rows.items():
            if key in created:
                continue
            entry = prep.pending[key]
            members = live[key]
            update = _extend(entry, row, members, prep.events, now)
            if update["fire_timestamp"] is not None and row["fire_timestamp"] is None:
                result.ready_to_fire += 1
                counters[(entry.trigger.name, "ready to fire")] += 1
            updates.append(update)
            links.extend((row["id"], new_ids[pos]) for pos, _ in members)
            result.streams_extended += 1
        if updates:
            conn.execute(
                stream.update()
                .where(stream.c.id == sa.bindparam("b_id"))
                .values(
                    first_event=sa.bindparam("first_event"),
                    last_event=sa.bindparam("last_event"),
                    expire_timestamp=sa.bindparam("expire_timestamp"),
                    fire_timestamp=sa.bindparam("fire_timestamp"),
                    event_count=sa.bindparam("event_count"),
                    fire_counts=sa.bindparam("fire_counts"),
                ),
                updates,
            )
            result.statements += len(updates)
        if links:
            bulk_insert(conn, schema.stream_event, ("stream_id", "event_id"), links)
            result.statements += 1

    def _lock_open_streams(
        self, conn: Connection, keys: list[str], result: IngestResult
    ) -> dict[str, dict[str, Any]]:
        stream = schema.stream
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            rows = conn.execute(
                sa.select(
                    stream.c.id,
                    stream.c.open_key,
                    stream.c.first_event,
                    stream.c.last_event,
                    stream.c.expire_timestamp,
                    stream.c.fire_timestamp,
                    stream.c.event_count,
                    stream.c.fire_counts,
                )
                .where(stream.c.open_key.in_(chunk))
                .order_by(stream.c.open_key)
                .with_for_update()
            ).mappings()
            found.update({row["open_key"]: dict(row) for row in rows})
            result.statements += 1
        return found

    def _create_streams(
        self,
        conn: Connection,
        prep: Prepared,
        live: dict[str, list[tuple[int, tuple[bool, ...]]]],
        keys: list[str],
        now: datetime,
        result: IngestResult,
        counters: Counter[tuple[str, str]],
    ) -> dict[str, int]:
        """Open new streams for ``keys``; dist key -> id of those this call opened.

        A key another writer opened in the meantime is not returned: the caller's
        next attempt (the transaction is retried) finds it open and extends it.
        """
        if not keys:
            return {}
        stream = schema.stream
        rows = []
        for key in keys:
            entry = prep.pending[key]
            rows.append(_new_stream_row(entry, live[key], prep.events, now))
        statement = insert_ignore(conn, stream, ["open_key"]).returning(
            stream.c.id, stream.c.open_key
        )
        opened = {open_key: id_ for id_, open_key in conn.execute(statement, rows)}
        result.statements += 1
        if len(opened) != len(keys):
            # Lost a race for a key: start over, so the winner's stream is locked
            # and extended instead.
            raise StartOver("a stream this batch needs was opened concurrently")
        ready = [row for row in rows if row["fire_timestamp"] is not None]
        result.ready_to_fire += len(ready)
        for row in ready:
            counters[(row["trigger_name"], "ready to fire")] += 1
        result.streams_created += len(opened)
        late = self._closed_siblings(
            conn, [prep.pending[k].dist_key for k in opened], result
        )
        for key in opened:
            entry = prep.pending[key]
            counters[(entry.trigger.name, "new stream")] += 1
            if key in late:
                result.late_events += len(live[key])
                counters[(entry.trigger.name, "late events")] += len(live[key])
        dist_rows = self._dist_trait_rows(opened, prep)
        if dist_rows:
            conn.execute(schema.stream_dist_trait.insert(), dist_rows)
            result.statements += 1
        return opened

    def _closed_siblings(
        self, conn: Connection, dist_keys: list[str], result: IngestResult
    ) -> set[str]:
        """The keys among ``dist_keys`` that already had a stream, now closed."""
        stream = schema.stream
        closed: set[str] = set()
        for start in range(0, len(dist_keys), _CHUNK):
            chunk = dist_keys[start : start + _CHUNK]
            closed.update(
                conn.execute(
                    sa.select(stream.c.dist_key)
                    .where(stream.c.dist_key.in_(chunk), stream.c.open_key.is_(None))
                    .distinct()
                ).scalars()
            )
            result.statements += 1
        return closed

    def _dist_trait_rows(
        self, opened: dict[str, int], prep: Prepared
    ) -> list[dict[str, Any]]:
        # Every distinguishing name was interned before the transaction began
        # (creating one now would wait on our own write lock under SQLite).
        name_ids = self._trait_names.known
        return [
            {
                "stream_id": stream_id,
                "name_id": name_ids[name],
                "value_hash": value_hash(value),
            }
            for key, stream_id in opened.items()
            for name, value in prep.pending[key].key
        ]

    def _add_counters(
        self, conn: Connection, counters: Counter[tuple[str, str]]
    ) -> None:
        table = schema.trigger_counter
        conn.execute(
            insert_ignore(conn, table, ["trigger_name", "counter"]),
            [
                {"trigger_name": t, "counter": c[:191], "value": 0}
                for t, c in sorted(counters)
            ],
        )
        conn.execute(
            table.update()
            .where(
                table.c.trigger_name == sa.bindparam("b_trigger"),
                table.c.counter == sa.bindparam("b_counter"),
            )
            .values(value=table.c.value + sa.bindparam("b_add")),
            [
                {"b_trigger": t, "b_counter": c[:191], "b_add": n}
                for (t, c), n in sorted(counters.items())
            ],
        )


# ------------------------------------------------------------- stream arithmetic


def _parse_counts(text: str, size: int) -> list[int]:
    counts = [int(part) for part in text.split(",")] if text else []
    return (counts + [0] * size)[:size]


def _ready(trigger: TriggerLike, counts: list[int]) -> bool:
    return all(
        c >= crit.number for c, crit in zip(counts, trigger.fire_criteria, strict=True)
    )


def _fire_at(trigger: TriggerLike, now: datetime) -> datetime:
    return now + timedelta(seconds=trigger.fire_delay)


def _aggregate(
    entry: _Pending,
    members: list[tuple[int, tuple[bool, ...]]],
    events: list[Event],
    counts: list[int],
) -> tuple[datetime, datetime]:
    first = last = events[members[0][0]].timestamp
    for position, hits in members:
        stamp = events[position].timestamp
        first = min(first, stamp)
        last = max(last, stamp)
        for number, hit in enumerate(hits):
            if hit:
                counts[number] += 1
    return first, last


def _new_stream_row(
    entry: _Pending,
    members: list[tuple[int, tuple[bool, ...]]],
    events: list[Event],
    now: datetime,
) -> dict[str, Any]:
    trigger = entry.trigger
    counts = [0] * len(trigger.fire_criteria)
    first, last = _aggregate(entry, members, events, counts)
    return {
        "trigger_name": trigger.name,
        "state": int(StreamState.ACTIVE),
        "dist_key": entry.dist_key,
        "open_key": entry.dist_key,
        "distinguishing_traits": encode_key(entry.key),
        "first_event": first,
        "last_event": last,
        "expire_timestamp": trigger.expires_at(first, last),
        "fire_timestamp": _fire_at(trigger, now) if _ready(trigger, counts) else None,
        "event_count": len(members),
        "fire_counts": ",".join(map(str, counts)),
        "created_at": now,
    }


def _extend(
    entry: _Pending,
    row: dict[str, Any],
    members: list[tuple[int, tuple[bool, ...]]],
    events: list[Event],
    now: datetime,
) -> dict[str, Any]:
    trigger = entry.trigger
    counts = _parse_counts(row["fire_counts"], len(trigger.fire_criteria))
    first, last = _aggregate(entry, members, events, counts)
    first = min(first, row["first_event"])
    last = max(last, row["last_event"])
    fire = row["fire_timestamp"]
    if fire is None and _ready(trigger, counts):
        fire = _fire_at(trigger, now)
    return {
        "b_id": row["id"],
        "first_event": first,
        "last_event": last,
        "expire_timestamp": trigger.expires_at(first, last),
        "fire_timestamp": fire,
        "event_count": row["event_count"] + len(members),
        "fire_counts": ",".join(map(str, counts)),
    }
