"""Stream lifecycle in the database: claim, renew, finish, fail, take back, reset.

The rules every function here keeps:

* **Every state change is one guarded statement** (or one transaction), and
  says what it expects: ``... WHERE id IN (...) AND state = firing AND
  lease_owner = :me``. A worker that lost its lease cannot complete, fail or
  otherwise touch a stream another worker now holds.
* **Claiming is atomic and lock-free for the others**: ``SELECT ... FOR UPDATE
  SKIP LOCKED`` (MariaDB >= 10.6, MySQL 8, PostgreSQL) picks rows nobody else
  is claiming or appending to, and the same transaction moves them to
  ``firing``/``expiring``. SQLite has one writer at a time (``BEGIN
  IMMEDIATE``), so the same SELECT + UPDATE is atomic there too.
* **Claiming closes the stream's key** (``open_key = NULL``) in that same
  statement: from then on ingest starts a new stream for the key, and an event
  can never join a stream that is being fired (the original's bug).
* **Every in-progress state has a lease and a way back**: the claim sets
  ``lease_expires``; :func:`take_back_lapsed` returns streams whose worker died
  to ``retry_fire``/``retry_expire`` (after a backoff), or to
  ``error``/``expire_error`` once ``max_attempts`` claims have been used.
* **A lease is renewed while the work lasts**: :func:`renew` extends the
  leases of all the streams a worker still holds in one guarded UPDATE
  (owner and in-progress state checked) and says which it no longer holds;
  a worker must not commit the side effects of those.
* **A reset only brings back what can run**: :func:`reset_errors` moves
  ``error``/``expire_error`` streams of the given (defined) triggers back to
  ``retry_fire``/``retry_expire``; streams of any other trigger stay.
* Leases and backoff use the **wall clock** (they measure real time);
  "is it time to fire/expire" uses the configured clock (wall or event time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stacktach import jsonutil
from winchester.states import StreamState
from winchester.storage import changes, retention, schema
from winchester.storage.values import decode_traits

__all__ = [
    "Backoff",
    "Claimed",
    "claim",
    "complete",
    "errored_triggers",
    "fail",
    "load_events",
    "renew",
    "reset",
    "reset_errors",
    "take_back_lapsed",
]

FIRE = "fire"
EXPIRE = "expire"

_CLAIM = {
    FIRE: (StreamState.FIRING, (StreamState.ACTIVE, StreamState.RETRY_FIRE)),
    EXPIRE: (StreamState.EXPIRING, (StreamState.ACTIVE, StreamState.RETRY_EXPIRE)),
}
_RETRY = {FIRE: StreamState.RETRY_FIRE, EXPIRE: StreamState.RETRY_EXPIRE}
_ERROR = {FIRE: StreamState.ERROR, EXPIRE: StreamState.EXPIRE_ERROR}
_IN_PROGRESS = {StreamState.FIRING: FIRE, StreamState.EXPIRING: EXPIRE}
_IN_PROGRESS_STATES = [int(StreamState.FIRING), int(StreamState.EXPIRING)]
_RESETS = (
    (StreamState.ERROR, StreamState.RETRY_FIRE),
    (StreamState.EXPIRE_ERROR, StreamState.RETRY_EXPIRE),
)
#: The live view's change name of a finished stream, by its in-progress state.
_DONE = {StreamState.FIRING: changes.FIRED, StreamState.EXPIRING: changes.EXPIRED}
#: Ids per IN (...) list: well under every backend's bound-parameter limit.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before attempt ``n + 1`` after ``n`` failed: base * 2**(n-1), capped."""

    base: float = 5.0
    cap: float = 300.0

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.base * 2 ** max(attempts - 1, 0), self.cap))


@dataclass(frozen=True, slots=True)
class Claimed:
    """A stream this worker holds the lease of."""

    id: int
    trigger_name: str
    kind: str  # "fire" or "expire"
    attempts: int
    distinguishing_traits: dict[str, Any]


def claim(
    conn: Connection,
    kind: str,
    *,
    now: datetime,
    wall: datetime,
    owner: str,
    lease: timedelta,
    limit: int,
) -> list[Claimed]:
    """Claim up to ``limit`` streams ready to fire (or expire); run in a transaction.

    Ready to fire: ``active`` or ``retry_fire`` with ``fire_timestamp <= now``.
    Ready to expire: ``retry_expire``, or ``active`` and not ready to fire, with
    ``expire_timestamp <= now``.
    A retry waits until its ``retry_after`` (wall clock) has passed.
    """
    stream = schema.stream
    target, states = _CLAIM[kind]
    due = stream.c.fire_timestamp if kind == FIRE else stream.c.expire_timestamp
    conditions = [
        stream.c.state.in_([int(s) for s in states]),
        due <= now,
        sa.or_(stream.c.retry_after.is_(None), stream.c.retry_after <= wall),
    ]
    if kind == EXPIRE:
        # A stream whose fire criteria were met fires; it does not expire, even
        # when a backlog lets its expiry pass first.
        conditions.append(
            sa.or_(
                stream.c.state == int(StreamState.RETRY_EXPIRE),
                stream.c.fire_timestamp.is_(None),
            )
        )
    query = (
        sa.select(
            stream.c.id,
            stream.c.trigger_name,
            stream.c.attempts,
            stream.c.distinguishing_traits,
        )
        .where(*conditions)
        .order_by(due)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(query).all()
    if not rows:
        return []
    ids = [row.id for row in rows]
    conn.execute(
        stream.update()
        .where(stream.c.id.in_(ids))
        .values(
            state=int(target),
            open_key=None,
            lease_owner=owner,
            lease_expires=wall + lease,
            attempts=stream.c.attempts + 1,
            retry_after=None,
            state_serial_no=stream.c.state_serial_no + 1,
        )
    )
    changes.record(conn, target.name.lower(), ids, at=wall)
    return [
        Claimed(
            row.id,
            row.trigger_name,
            kind,
            row.attempts + 1,
            jsonutil.loads(row.distinguishing_traits),
        )
        for row in rows
    ]


def load_events(
    conn: Connection, stream_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """The events of each stream as dicts (traits + envelope), oldest first."""
    event, link, types = schema.event, schema.stream_event, schema.event_type
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not stream_ids:
        return found
    # The type's name by scalar subquery, not a join: joined, MariaDB may start
    # from event_type and walk every event of the type (seconds per batch on a
    # large table) instead of following the streams' links to the events.
    name = (
        sa.select(types.c.name)
        .where(types.c.id == event.c.event_type_id)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(
            link.c.stream_id,
            event.c.message_id,
            event.c.generated,
            event.c.traits,
            name,
        )
        .join(event, event.c.id == link.c.event_id)
        .where(link.c.stream_id.in_(list(stream_ids)))
        .order_by(link.c.stream_id, event.c.generated, event.c.id)
    )
    for stream_id, message_id, generated, traits, event_type in rows:
        item = decode_traits(traits)
        item["event_type"] = event_type
        item["message_id"] = message_id
        item["timestamp"] = generated
        found[stream_id].append(item)
    return found


def _held(conn: Connection, ids: Sequence[int], owner: str) -> list[int]:
    """The streams of ``ids`` this owner still holds, locked for the caller's update."""
    stream = schema.stream
    rows = conn.execute(
        sa.select(stream.c.id)
        .where(
            stream.c.id.in_(list(ids)),
            stream.c.lease_owner == owner,
            stream.c.state.in_(_IN_PROGRESS_STATES),
        )
        .with_for_update()
    )
    return [row.id for row in rows]


def renew(
    conn: Connection,
    ids: Sequence[int],
    *,
    owner: str,
    wall: datetime,
    lease: timedelta,
) -> set[int]:
    """Extend the lease of the streams of ``ids`` this owner still holds.

    One guarded UPDATE (per 500 ids): ``lease_expires = wall + lease WHERE id IN
    (...) AND lease_owner = :owner AND state IN (firing, expiring)``. Returns
    the ids **no longer held** (taken back after a lapse, reset, or deleted);
    their rows are untouched. The SELECT that finds them runs only when the
    UPDATE matched fewer rows than it was given.
    """
    stream = schema.stream
    lost: set[int] = set()
    unique = sorted(set(ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        guard = (
            stream.c.id.in_(chunk),
            stream.c.lease_owner == owner,
            stream.c.state.in_(_IN_PROGRESS_STATES),
        )
        matched = conn.execute(
            stream.update().where(*guard).values(lease_expires=wall + lease)
        ).rowcount
        if matched != len(chunk):
            still = set(conn.execute(sa.select(stream.c.id).where(*guard)).scalars())
            lost.update(set(chunk) - still)
    return lost


def complete(
    conn: Connection, ids: Sequence[int], *, owner: str, purge: bool
) -> list[int]:
    """Finish streams whose pipeline succeeded: delete them (``purge``) or mark
    them ``completed``. Returns the ids actually finished - those this owner
    still held; the caller must not commit its other work for the rest."""
    held = _held(conn, ids, owner)
    if not held:
        return []
    stream = schema.stream
    changes.record(conn, _DONE, held, state=StreamState.COMPLETED)
    if purge:
        retention.purge_streams(conn, held)
    else:
        conn.execute(
            stream.update()
            .where(stream.c.id.in_(held))
            .values(
                state=int(StreamState.COMPLETED),
                lease_owner=None,
                lease_expires=None,
                last_error=None,
                state_serial_no=stream.c.state_serial_no + 1,
            )
        )
    return held


def fail(
    conn: Connection,
    streams: Sequence[Claimed],
    reason: str,
    *,
    owner: str,
    wall: datetime,
    max_attempts: int,
    backoff: Backoff,
) -> dict[int, StreamState]:
    """Record a failed run: retry later with backoff, or error after ``max_attempts``.

    Returns the new state of each stream this owner still held.
    """
    held = set(_held(conn, [s.id for s in streams], owner))
    stream = schema.stream
    outcome: dict[int, StreamState] = {}
    for item in streams:
        if item.id not in held:
            continue
        final = item.attempts >= max_attempts
        state = _ERROR[item.kind] if final else _RETRY[item.kind]
        conn.execute(
            stream.update()
            .where(stream.c.id == item.id)
            .values(
                state=int(state),
                lease_owner=None,
                lease_expires=None,
                retry_after=None if final else wall + backoff.delay(item.attempts),
                last_error=reason[:4000],
                state_serial_no=stream.c.state_serial_no + 1,
            )
        )
        changes.record(conn, changes.ERROR if final else changes.RETRY, [item.id],
                       reason=reason, at=wall)  # fmt: skip
        outcome[item.id] = state
    return outcome


def take_back_lapsed(
    conn: Connection, *, wall: datetime, max_attempts: int, backoff: Backoff
) -> int:
    """Return streams whose lease lapsed (their worker died) to retry or error.

    One guarded UPDATE per outcome; returns how many streams were taken back.
    """
    stream = schema.stream
    taken = 0
    for in_progress, kind in _IN_PROGRESS.items():
        lapsed = (stream.c.state == int(in_progress)) & (stream.c.lease_expires <= wall)
        reason = "lease lapsed: the worker holding the stream stopped"
        # changes.update_logged: one guarded UPDATE, logged for the live view
        taken += changes.update_logged(
            conn,
            changes.ERROR,
            (lapsed, stream.c.attempts >= max_attempts),
            dict(
                state=int(_ERROR[kind]),
                lease_owner=None,
                lease_expires=None,
                last_error=reason,
                state_serial_no=stream.c.state_serial_no + 1,
            ),
            reason=reason,
        )
        taken += changes.update_logged(
            conn,
            changes.RETRY,
            (lapsed, stream.c.attempts < max_attempts),
            dict(
                state=int(_RETRY[kind]),
                lease_owner=None,
                lease_expires=None,
                retry_after=wall + backoff.delay(1),
                last_error=reason,
                state_serial_no=stream.c.state_serial_no + 1,
            ),
            reason=reason,
        )
    return taken


def reset(conn: Connection, stream_id: int) -> StreamState | None:
    """An operator's reset: ``error`` -> ``retry_fire``, ``expire_error`` ->
    ``retry_expire`` (attempts start again). Returns the new state, or None when
    the stream is in neither state (nothing changes; like the original)."""
    for source, target in _RESETS:
        if _reset_where(conn, source, target, schema.stream.c.id == stream_id):
            return target
    return None


def _reset_where(
    conn: Connection, source: StreamState, target: StreamState, *where: Any
) -> int:
    """Move the streams in ``source`` matching ``where`` to ``target`` (attempts
    start again, in one guarded UPDATE); how many moved."""
    stream = schema.stream
    # changes.update_logged: one guarded UPDATE, logged for the live view
    return changes.update_logged(
        conn,
        changes.RESET,
        (stream.c.state == int(source), *where),
        dict(
            state=int(target),
            attempts=0,
            retry_after=None,
            state_serial_no=stream.c.state_serial_no + 1,
        ),
    )


def reset_errors(
    conn: Connection, triggers: Sequence[str]
) -> dict[str, dict[StreamState, int]]:
    """Put the errored streams of ``triggers`` back: ``error`` -> ``retry_fire``,
    ``expire_error`` -> ``retry_expire``, attempts start again (one guarded
    UPDATE per trigger and state). Streams of other triggers stay in error.

    Returns trigger -> new state -> how many streams moved (only non-zero).
    """
    trigger = schema.stream.c.trigger_name
    moved: dict[str, dict[StreamState, int]] = {}
    for name in triggers:
        for source, target in _RESETS:
            count = _reset_where(conn, source, target, trigger == name)
            if count:
                moved.setdefault(name, {})[target] = count
    return moved


def errored_triggers(conn: Connection) -> dict[str, int]:
    """Trigger name -> how many of its streams are in ``error``/``expire_error``."""
    stream = schema.stream
    rows = conn.execute(
        sa.select(stream.c.trigger_name, sa.func.count())
        .where(stream.c.state.in_([int(s) for s, _ in _RESETS]))
        .group_by(stream.c.trigger_name)
    )
    return {name: int(count) for name, count in rows}
