"""Retention: purging finished streams and trimming old events.

The rules:

* **Purge** (:func:`purge_streams`) deletes streams *the caller holds*, with
  their event links and distinguishing traits, inside the caller's transaction
  (the one that completes them, :func:`winchester.storage.lifecycle.complete`).
  The events themselves stay: other streams may share them, and trimming is
  their only way out.
* **Trim** (:class:`EventTrimmer`) deletes events older than a cutoff that
  belong to **no stream that is not completed** - never an event of a stream
  still open, in progress, waiting to retry or in error. It works in bounded
  batches (``batch_size`` events per call, oldest first): one read, then one
  short write transaction that deletes the events' trait index rows, stream
  links and rows. An event that joins a stream between the read and the write
  is not protected by a lock; that is acceptable only because a trimmed event
  is older than ``trim_events_age`` (days), far older than anything ingest
  still appends.
* The live view's stream change log (:mod:`winchester.storage.changes`) is
  trimmed with the events: each :meth:`EventTrimmer.trim` first deletes up to
  1,000 change rows logged before the same cutoff.
* Every IN list holds at most 500 values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from winchester.states import StreamState
from winchester.storage import event_counts, schema
from winchester.storage.engine import run_transaction
from winchester.storage.names import NameCache
from winchester.storage.values import decode_traits, value_hash

__all__ = ["EventTrimmer", "purge_streams"]

_CHUNK = 500


def purge_streams(conn: Connection, ids: Sequence[int]) -> int:
    """Delete the streams ``ids`` (links, distinguishing traits, rows); the caller
    holds them (it checked their owner in this transaction). Returns rows deleted."""
    stream, link, dist = schema.stream, schema.stream_event, schema.stream_dist_trait
    deleted = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        conn.execute(link.delete().where(link.c.stream_id.in_(chunk)))
        conn.execute(dist.delete().where(dist.c.stream_id.in_(chunk)))
        deleted += conn.execute(stream.delete().where(stream.c.id.in_(chunk))).rowcount
    return deleted


class EventTrimmer:
    """Deletes old events in bounded batches (see the module docstring)."""

    def __init__(self, engine: Engine, *, batch_size: int = 100) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self._trait_names = NameCache(schema.trait_name)

    def trim(self, cutoff: datetime) -> int:
        """Delete one batch of events generated before ``cutoff`` that belong to
        no stream still open or in progress. Returns how many were deleted."""
        from winchester.storage import changes  # noqa: PLC0415 - a cycle via queries

        event, link, stream = schema.event, schema.stream_event, schema.stream
        run_transaction(
            self.engine, lambda c: changes.trim(c, cutoff), what="trim stream changes"
        )
        busy = (
            sa.select(link.c.event_id)
            .join(stream, stream.c.id == link.c.stream_id)
            .where(
                link.c.event_id == event.c.id,
                stream.c.state != int(StreamState.COMPLETED),
            )
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(event.c.id, event.c.traits)
                .where(event.c.generated < cutoff, ~sa.exists(busy))
                .order_by(event.c.generated)
                .limit(self.batch_size)
            ).all()
            if not rows:
                return 0
            traits = {row.id: decode_traits(row.traits) for row in rows}
            names = self._trait_names.lookup(
                conn, {n for t in traits.values() for n in t}
            )
        unindexed = self._trait_names.unindexed  # no trait_index rows to delete
        keys = [
            (names[name], value_hash(value), event_id)
            for event_id, values in traits.items()
            for name, value in values.items()
            if name in names and names[name] not in unindexed
        ]
        ids = list(traits)

        def work(conn: Connection) -> int:
            index = schema.trait_index
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                conn.execute(
                    index.delete().where(
                        sa.tuple_(
                            index.c.name_id, index.c.value_hash, index.c.event_id
                        ).in_(chunk)
                    )
                )
            deleted = 0
            for start in range(0, len(ids), _CHUNK):
                chunk_ids = ids[start : start + _CHUNK]
                # Locked, so two trimmers never both subtract the same event.
                gone = conn.execute(
                    sa.select(event.c.event_type_id, event.c.generated)
                    .where(event.c.id.in_(chunk_ids))
                    .with_for_update()
                ).all()
                conn.execute(link.delete().where(link.c.event_id.in_(chunk_ids)))
                deleted += int(
                    conn.execute(
                        event.delete().where(event.c.id.in_(chunk_ids))
                    ).rowcount
                )
                event_counts.subtract_event_counts(conn, [tuple(row) for row in gone])
            return deleted

        return run_transaction(self.engine, work, what="trim events")
