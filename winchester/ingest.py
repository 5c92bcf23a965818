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

All SQL is in :mod:`winchester.storage` (events, streams, counters); the
arithmetic of spans, expiry and firing in :mod:`winchester.stream_math`.

A crash anywhere before the commit leaves nothing of the batch behind; the
caller acks its messages only after this returns, so a redelivered batch is
stored exactly once. The event clock moves only once the transaction committed
(:mod:`winchester.clock`). Contention (deadlocks, lock timeouts, a lost race for a new
stream) re-runs the whole transaction; an unreachable database raises
:class:`~winchester.storage.engine.DatabaseUnavailable`.

Streams and time: a stream accepts events while it is ``active`` and its
``expire_timestamp`` is in the future. Once a pipeline worker claims it, or it
has expired, its key is closed, and an event for that key starts a **new**
stream and is counted as *late* (``late_events``). Late events are normal for an
expired stream's key; for a stream that fired, they usually mean notifications
arrived after the fact (a slow cell, a replay), and the new stream's own
pipeline handles them.

The checks of a batch before its transaction are in :mod:`winchester.batch`.
No single notification stops a batch (each reject is ``(index in the batch,
reason)`` in ``IngestResult.rejected``, which yagi-event dead-letters):

* ``max_notification_size`` (bytes of the raw message - for yagi-event the
  bytes it received, envelope included, passed as ``sizes`` - or of its JSON
  for a dict given alone; default 1 MiB) refuses an oversize notification with
  its size;
* a notification the distiller refuses, or that raises while being distilled;
* an event that does not fit the columns (:mod:`winchester.storage.limits`: a
  ``message_id``, event type or trait name too long, traits JSON too large, a
  distinguishing key too long for the stream, text that is not UTF-8, a time
  outside years 1000-9999), or whose traits cannot be encoded or hashed (an
  integer out of the 64-bit range): refused with a reason naming the field and
  its length, before the transaction;
* if the database still refuses the batch because of its data (a data error,
  a non-duplicate integrity error: :func:`~winchester.storage.engine.is_data_error`),
  the batch is split in halves, each stored in its own transaction, down to the
  culprits, which are refused with the database's message. Errors of the
  database itself (unreachable, deadlocks, lock timeouts) are retried or raise
  ``DatabaseUnavailable`` as before.

Clock hygiene: event times more than ``clock_max_skew`` (default 1 day) ahead of
the wall clock are stored but never move the event clock (``future_events``);
with the wall clock, a batch mostly more than a day old logs one WARNING per
process suggesting ``clock: event``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from distiller import Distiller, Event, NotificationRejected
from stacktach.exceptions import RecoverableError
from winchester import stream_math
from winchester.batch import (
    IngestResult,
    MatchLike,
    Names,
    Prepared,
    TriggerLike,
    describe,
    prepare_batch,
    size_problem,
)
from winchester.clock import Clock
from winchester.storage import counters as counter_store
from winchester.storage import event_counts
from winchester.storage import events as event_store
from winchester.storage import streams as stream_store
from winchester.storage.bulk import row_pieces
from winchester.storage.engine import (
    DatabaseUnavailable,
    is_data_error,
    run_transaction,
)
from winchester.storage.limits import Limits, limits_for
from winchester.storage.names import ALL_TRAITS, event_type_names, trait_names
from winchester.stream_math import Member, Pending

if TYPE_CHECKING:
    from winchester.config.settings import WinchesterSettings

__all__ = [
    "DEFAULT_CLOCK_MAX_SKEW",
    "DEFAULT_MAX_NOTIFICATION_SIZE",
    "IngestResult",
    "MatchLike",
    "PendingIngest",
    "Prepared",
    "TriggerLike",
    "TriggerManager",
]

LOG = logging.getLogger(__name__)

#: Default ``max_notification_size``: 1 MiB, far under MariaDB's 16 MiB packet.
DEFAULT_MAX_NOTIFICATION_SIZE = 1024 * 1024
#: Default ``clock_max_skew``: event times further ahead never move the clock.
DEFAULT_CLOCK_MAX_SKEW = timedelta(days=1)
#: With the wall clock, events older than this are "late" for the warning.
LATE_AFTER = timedelta(days=1)

# Raised by a driver on one value it cannot send (besides DBAPI data errors).
_VALUE_ERRORS = (UnicodeError, ValueError, TypeError, OverflowError)
_Made = TypeVar("_Made")
_warned_wall_clock = False  # the wall-clock warning is logged once per process

_Pending = Pending  # the old private name


class TriggerManager:
    """Ingest: events in, streams grown. One per process (it caches name ids).

    ``max_notification_size`` (bytes), ``clock_max_skew`` and
    ``indexed_traits`` (which new trait names get ``trait_index`` rows) come
    from ``winchester.yaml``; ``wall`` tells the real time (tests replace it).
    """

    def __init__(
        self,
        engine: Engine,
        triggers: Sequence[TriggerLike],
        clock: Clock,
        *,
        distiller: Distiller | None = None,
        max_notification_size: int = DEFAULT_MAX_NOTIFICATION_SIZE,
        clock_max_skew: timedelta = DEFAULT_CLOCK_MAX_SKEW,
        indexed_traits: Sequence[str] = ALL_TRAITS,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.triggers = list(triggers)
        self.clock = clock
        self.distiller = distiller
        self.max_notification_size = max_notification_size
        self.clock_max_skew = clock_max_skew
        self.wall = wall or (lambda: datetime.now(UTC))
        self._event_types = event_type_names()
        # names this process stores first are indexed as indexed_traits says;
        # the others as the database says (trait_name.indexed)
        self._trait_names = trait_names(indexed_traits)
        self._names = Names(
            lambda names: self._event_types.ids(self.engine, names),
            lambda names: self._trait_names.ids(self.engine, names),
            self._trait_names.unindexed,
        )
        self._limits: Limits | None = None
        self.totals: Counter[str] = Counter()

    @staticmethod
    def options(settings: WinchesterSettings) -> dict[str, Any]:
        """The keyword arguments ``winchester.yaml`` gives a manager.

        ``TriggerManager(engine, triggers, clock, **TriggerManager.options(s))``
        """
        return {
            "max_notification_size": settings.max_notification_size,
            "clock_max_skew": timedelta(seconds=settings.clock_max_skew),
            "indexed_traits": settings.indexed_traits,
        }

    # ------------------------------------------------------------------ entry points

    def add_notifications(
        self,
        notifications: Sequence[Any],
        *,
        traits: Mapping[str, Any] | None = None,
        sizes: Sequence[int] | None = None,
    ) -> IngestResult:
        """Distil ``notifications`` (dicts, or JSON text/bytes) and store the events.

        ``traits`` are added to every event that lacks them (yagi-event's
        ``deployment``). ``sizes`` (optional, one per notification) are the
        bytes each arrived as, for ``max_notification_size``: a caller that
        decoded the messages passes their raw lengths, so the dicts are not
        encoded again to be measured. Rejected notifications are listed in
        ``result.rejected`` as ``(index in the batch, reason)``; the rest of
        the batch is stored.
        """
        return self.start_notifications(
            notifications, traits=traits, sizes=sizes
        ).store()

    def start_notifications(
        self,
        notifications: Sequence[Any],
        *,
        traits: Mapping[str, Any] | None = None,
        sizes: Sequence[int] | None = None,
    ) -> PendingIngest:
        """:meth:`add_notifications` up to its transaction, which ``.store()`` runs.

        The distilling and the batch's preparation are done now (no database
        work but creating new event type and trait names); ``store()`` may run
        in another thread while the next batch is started, and is re-run after
        a ``RecoverableError``. The running totals move only in ``store()``.
        """
        if sizes is not None and len(sizes) != len(notifications):
            raise ValueError(
                f"add_notifications: {len(sizes)} sizes for "
                f"{len(notifications)} notifications"
            )
        if self.distiller is None:
            raise RuntimeError("TriggerManager built without a distiller")
        events: list[Event] = []
        origins: list[int] = []
        rejected: list[tuple[int, str]] = []
        unmatched = 0
        for index, notification in enumerate(notifications):
            try:
                if sizes is None:
                    problem = size_problem(notification, self.max_notification_size)
                elif sizes[index] > self.max_notification_size:
                    problem = (
                        f"notification is {sizes[index]} bytes; "
                        f"max_notification_size is {self.max_notification_size}"
                    )
                else:
                    problem = None
                if problem is not None:
                    rejected.append((index, problem))
                    continue
                if isinstance(notification, (bytes, str)):
                    event = self.distiller.distill_json(notification)
                else:
                    event = self.distiller.distill(notification)
            except NotificationRejected as exc:
                rejected.append((index, str(exc)))
                continue
            except Exception as exc:  # one notification's data must not stop the rest
                rejected.append((index, describe(exc)))
                continue
            if event is None:
                unmatched += 1
            else:
                for name, value in (traits or {}).items():
                    event.traits.setdefault(name, value)
                events.append(event)
                origins.append(index)
        prepared: Prepared | None = None
        if events:
            try:
                prepared = self.prepare(events, origins)
            except RecoverableError:
                raise
            except Exception:
                prepared = None  # store() prepares again, and finds the culprits
        return PendingIngest(
            self, len(notifications), events, origins, rejected, unmatched, prepared
        )

    def add_events(self, events: Sequence[Event]) -> IngestResult:
        """Store ``events`` and grow their streams in one transaction.

        Rejects are ``(index in events, reason)``; a batch the database refuses
        for its data is split until the culprits are found.
        """
        return self._ingest(events, list(range(len(events))))

    def prepare(
        self, events: Sequence[Event], origins: Sequence[int] | None = None
    ) -> Prepared:
        """The work of storing ``events``, computed outside any transaction.

        With :meth:`store` it lets a caller store events inside a transaction of
        its own (the pipeline worker completes a stream and stores the events
        its handlers emitted in one transaction). Events that cannot be stored
        are in ``rejected`` as ``(origins[i] or i, reason)``.
        """
        prepared = prepare_batch(
            events,
            list(origins) if origins is not None else list(range(len(events))),
            self.triggers,
            self._get_limits(),
            self._names,
            self.wall() + self.clock_max_skew,
        )
        dialect = self.engine.dialect
        if dialect.name == "mysql":
            # the SQL text of the rows, but for the event ids the insert gives
            prepared.index_pieces = list(map(row_pieces, prepared.index))
            if dialect.driver == "pymysql":
                prepared.event_literals = event_store.event_literals(prepared.rows)
        elif dialect.name == "postgresql" and dialect.driver == "psycopg":
            copy = event_store.trait_index_copy_pieces
            prepared.index_copy = list(map(copy, prepared.index))
        prepared.buckets = event_counts.bucket_counts(
            (row["event_type_id"], row["generated"]) for row in prepared.rows
        )
        return prepared

    def store(self, conn: Connection, prepared: Prepared) -> IngestResult:
        """Store prepared events inside the caller's transaction (re-runnable).

        The clock's in-memory mark moves only in :meth:`record`, once the
        caller committed (until then it moves when it re-reads the database).
        """
        now = self.clock.batch_now(prepared.newest)
        result = IngestResult(
            received=prepared.received,
            duplicates=prepared.duplicates,
            rejected=list(prepared.rejected),
            future_events=prepared.future_events,
            newest=prepared.newest,
        )
        if prepared.rows:
            self._store(conn, prepared, now, result)
        return result

    def record(self, result: IngestResult) -> None:
        """After the commit: move the clock, add to this manager's running totals."""
        self.clock.committed(result.newest)
        self.totals.update(
            saved=result.saved,
            duplicates=result.duplicates,
            rejected=len(result.rejected),
            streams_created=result.streams_created,
            ready_to_fire=result.ready_to_fire,
            late_events=result.late_events,
            future_events=result.future_events,
        )

    # ----------------------------------------------------- outside the transaction

    def _ingest(
        self,
        events: Sequence[Event],
        origins: list[int],
        prepared: Prepared | None = None,
    ) -> IngestResult:
        total = IngestResult(received=len(events))
        if not events:
            return total
        self._warn_if_late(events)
        self._store_isolating(list(events), origins, total, prepared)
        self.totals.update(rejected=len(total.rejected))
        return total

    def _store_isolating(
        self,
        events: list[Event],
        origins: list[int],
        total: IngestResult,
        prepared: Prepared | None = None,
    ) -> None:
        """Store ``events`` in one transaction; on a data error, each half apart.

        ``prepared`` is ``prepare(events, origins)`` when the caller made it.
        """
        try:
            if prepared is None:
                prepared = self.prepare(events, origins)
            final = run_transaction(
                self.engine,
                lambda conn: self.store(conn, prepared),
                what="ingest batch",
            )
        except RecoverableError:
            raise
        except DBAPIError as exc:
            if not is_data_error(exc):
                # The database itself is at fault (a missing table, a refused
                # grant, a read-only server): no notification is to blame, so
                # the batch is held, never dead-lettered.
                raise DatabaseUnavailable(
                    f"the database refused the batch: {describe(exc)}"
                ) from exc
            self._split(events, origins, total, exc)
            return
        except Exception as exc:
            if not isinstance(exc, _VALUE_ERRORS):
                raise
            self._split(events, origins, total, exc)
            return
        self._record_part(final)
        total.add(final)

    def _split(
        self,
        events: list[Event],
        origins: list[int],
        total: IngestResult,
        exc: Exception,
    ) -> None:
        """Refuse a lone culprit, or store each half of ``events`` apart."""
        if len(events) == 1:
            by = "refused by the database" if is_data_error(exc) else "not stored"
            reason = f"{by}: {describe(exc)}"
            LOG.warning("message_id %s: %s", events[0].message_id, reason)
            total.rejected.append((origins[0], reason))
            return
        LOG.info(
            "a batch of %d events could not be stored (%s): splitting it",
            len(events),
            describe(exc),
        )
        half = len(events) // 2
        self._store_isolating(events[:half], origins[:half], total)
        self._store_isolating(events[half:], origins[half:], total)

    def _record_part(self, result: IngestResult) -> None:
        rejected = result.rejected
        result.rejected = []  # counted once, by _ingest
        self.record(result)
        result.rejected = rejected
        if result.future_events:
            LOG.info(
                "%d events more than %s ahead of the wall clock: stored, but they "
                "do not move the event clock",
                result.future_events,
                self.clock_max_skew,
            )

    def _warn_if_late(self, events: Sequence[Event]) -> None:
        global _warned_wall_clock
        if _warned_wall_clock or self.clock.kind != "wall":
            return
        cutoff = self.wall() - LATE_AFTER
        late = sum(1 for event in events if event.timestamp < cutoff)
        if late * 2 > len(events):
            _warned_wall_clock = True
            LOG.warning(
                "%d of %d events of a batch are more than %s older than the wall "
                "clock: their streams expire as soon as they open. To replay old "
                "notifications, set 'clock: event' in winchester.yaml",
                late,
                len(events),
                LATE_AFTER,
            )

    def _get_limits(self) -> Limits:
        if self._limits is None:
            self._limits = limits_for(self.engine)
        return self._limits

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
        result.statements += self.clock.persist(conn, prep.newest)
        result.statements += counter_store.add_trigger_counters(conn, counters)
        rows = prep.rows
        if prep.buckets is not None and len(new_ids) == len(rows):
            # every event is new: the counts made before the transaction
            result.statements += event_counts.add_buckets(conn, prep.buckets)
            return
        result.statements += event_counts.add_event_counts(
            conn,
            ((rows[p]["event_type_id"], rows[p]["generated"]) for p in new_ids),
        )

    def _insert_events(
        self, conn: Connection, prep: Prepared, result: IngestResult
    ) -> dict[int, int]:
        """Insert the batch's events; position in batch -> event id for the new ones."""
        by_message, statements = event_store.insert_events(
            conn, prep.rows, literals=prep.event_literals
        )
        result.statements += statements
        new_ids = {
            position: by_message[row["message_id"]]
            for position, row in enumerate(prep.rows)
            if row["message_id"] in by_message
        }
        result.saved = len(new_ids)
        result.duplicates += len(prep.rows) - len(new_ids)
        dialect = conn.dialect.name
        if prep.index_pieces is not None and dialect == "mysql":
            result.statements += event_store.insert_trait_index_pieces(
                conn, _per_event(prep.index_pieces, new_ids)
            )
            return new_ids
        if prep.index_copy is not None and dialect == "postgresql":
            result.statements += event_store.copy_trait_index_pieces(
                conn, _per_event(prep.index_copy, new_ids)
            )
            return new_ids
        trait_rows = [
            (name_id, hashed, event_id)
            for position, event_id in new_ids.items()
            for name_id, hashed in prep.index[position]
        ]
        result.statements += event_store.insert_trait_index(conn, trait_rows)
        return new_ids

    def _grow_streams(
        self,
        conn: Connection,
        prep: Prepared,
        live: dict[str, list[Member]],
        new_ids: dict[int, int],
        now: datetime,
        result: IngestResult,
        counters: Counter[tuple[str, str]],
    ) -> None:
        open_rows, statements = stream_store.lock_open(conn, list(live))
        result.statements += statements
        # An open stream past its expiry takes no more events: close its key.
        expired = [
            row["id"]
            for row in open_rows.values()
            if stream_math.expired(row["expire_timestamp"], now)
        ]
        if expired:
            result.statements += stream_store.close_keys(conn, expired)
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
            entry = prep.pending[key]
            members = live[key]
            update = stream_math.extend(entry, row, members, prep.events, now)
            if update["fire_timestamp"] is not None and row["fire_timestamp"] is None:
                result.ready_to_fire += 1
                counters[(entry.trigger.name, "ready to fire")] += 1
            updates.append(update)
            links.extend((row["id"], new_ids[pos]) for pos, _ in members)
            result.streams_extended += 1
        result.statements += stream_store.update(conn, updates)
        result.statements += stream_store.link_events(conn, links)

    def _create_streams(
        self,
        conn: Connection,
        prep: Prepared,
        live: dict[str, list[Member]],
        keys: list[str],
        now: datetime,
        result: IngestResult,
        counters: Counter[tuple[str, str]],
    ) -> dict[str, int]:
        """Open new streams for ``keys``; dist key -> id of the streams opened.

        A key another writer opened in the meantime makes the transaction start
        over: the next attempt finds it open and extends it.
        """
        if not keys:
            return {}
        rows = [
            stream_math.new_stream_row(prep.pending[key], live[key], prep.events, now)
            for key in keys
        ]
        opened = stream_store.create(conn, rows)
        result.statements += 1
        ready = [row for row in rows if row["fire_timestamp"] is not None]
        result.ready_to_fire += len(ready)
        for row in ready:
            counters[(row["trigger_name"], "ready to fire")] += 1
        result.streams_created += len(opened)
        late, statements = stream_store.closed_keys(conn, list(opened))
        result.statements += statements
        for key in opened:
            entry = prep.pending[key]
            counters[(entry.trigger.name, "new stream")] += 1
            if key in late:
                result.late_events += len(live[key])
                counters[(entry.trigger.name, "late events")] += len(live[key])
        # Every distinguishing name was interned before the transaction began
        # (creating one now would wait on our own write lock under SQLite).
        name_ids = self._trait_names.known
        result.statements += stream_store.add_dist_traits(
            conn,
            [
                {
                    "stream_id": stream_id,
                    "name_id": name_ids[name],
                    "value_hash": hashed,
                }
                for key, stream_id in opened.items()
                for name, hashed in prep.key_hashes[key]
            ],
        )
        return opened


def _per_event(made: list[_Made], new_ids: dict[int, int]) -> list[tuple[_Made, int]]:
    """What was made before the transaction for each new event, with its id."""
    return [(made[position], event_id) for position, event_id in new_ids.items()]


@dataclass
class PendingIngest:
    """A distilled, prepared batch of notifications, waiting for its transaction.

    Made by :meth:`TriggerManager.start_notifications`; :meth:`store` stores
    it and returns what :meth:`TriggerManager.add_notifications` returns.
    """

    manager: TriggerManager
    received: int
    events: list[Event]
    origins: list[int]
    rejected: list[tuple[int, str]]
    unmatched: int
    prepared: Prepared | None

    def store(self) -> IngestResult:
        """Store the events in one transaction (re-runnable after an outage)."""
        manager = self.manager
        result = manager._ingest(self.events, self.origins, self.prepared)
        manager.totals.update(rejected=len(self.rejected))
        result.received = self.received
        result.rejected = sorted(self.rejected + result.rejected)
        result.unmatched = self.unmatched
        return result
