"""Keeping a worker's stream leases alive while its pipelines run.

A :class:`LeaseRenewer` holds the ids of the streams a worker claimed and not
yet finished. While it runs (``with renewer:``), a background thread renews all
of their leases every ``every`` seconds (default: a third of the lease) with
one guarded UPDATE (:func:`winchester.storage.lifecycle.renew`), so a handler
call longer than the lease - atompub's retries can take many minutes - keeps
its streams; the lease lapses only when the worker stops renewing (killed,
paused, cut off from the database for two renewal periods or more).

The rules:

* A renewal that finds a stream **no longer ours** (another worker took it
  back after a lapse, or an operator reset or deleted it) marks it *lost* and
  logs one WARNING per renewal naming the streams. The worker skips a lost
  stream, and :meth:`LeaseRenewer.still_held` - called just before a
  pipeline's ``commit`` - answers False for it, so its side effects are not
  committed. When the lease last confirmed has less than half its length left,
  :meth:`still_held` renews that stream first (a synchronous check of
  ownership); otherwise it trusts the last renewal.
* The worker :meth:`release`\\ s streams *before* the transaction that
  completes or fails them, so a renewal racing that transaction never reports
  a finished stream as lost.
* A failed renewal (database unavailable) is logged and retried at the next
  period; it never stops the worker. The thread is a daemon and stops when the
  ``with`` block ends.
* Lease times use the injected wall clock (like the claim); the period is real
  time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from winchester.storage import lifecycle
from winchester.storage.engine import run_transaction

__all__ = ["LeaseRenewer"]

LOG = logging.getLogger(__name__)


class LeaseRenewer:
    """The leases a worker holds, renewed in the background (module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str,
        lease: timedelta,
        wall: Callable[[], datetime],
        every: float | None = None,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.lease = lease
        self.wall = wall
        self.every = every if every is not None else lease.total_seconds() / 3
        self._held: dict[int, datetime] = {}  # stream id -> lease confirmed until
        self._lost: set[int] = set()
        self._new_lost = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0

    # ------------------------------------------------------------------ holding

    def hold(self, ids: Iterable[int], until: datetime) -> None:
        """Start keeping the leases of ``ids`` (claimed, lease valid ``until``)."""
        with self._lock:
            for stream_id in ids:
                self._held[stream_id] = until

    def release(self, ids: Iterable[int]) -> None:
        """Stop renewing ``ids`` (about to be completed or failed)."""
        with self._lock:
            for stream_id in ids:
                self._held.pop(stream_id, None)

    def is_lost(self, stream_id: int) -> bool:
        """True once a renewal found that another worker holds the stream."""
        with self._lock:
            return stream_id in self._lost

    def take_lost_count(self) -> int:
        """How many streams were found lost since the last call."""
        with self._lock:
            count, self._new_lost = self._new_lost, 0
            return count

    def still_held(self, stream_id: int) -> bool:
        """Whether the worker may commit the stream's side effects now.

        False when it is lost; renews it first when its confirmed lease has
        less than half its length left.
        """
        with self._lock:
            if stream_id in self._lost:
                return False
            until = self._held.get(stream_id)
        if until is None:
            return False
        if until - self.wall() >= self.lease / 2:
            return True
        self._renew([stream_id])
        return not self.is_lost(stream_id)

    # ------------------------------------------------------------------ thread

    def __enter__(self) -> LeaseRenewer:
        # One shared in-memory SQLite connection cannot serve two threads; its
        # worker (tests only) renews before each commit instead.
        if not isinstance(self.engine.pool, StaticPool) and self.every > 0:
            self._thread = threading.Thread(
                target=self._loop, name=f"lease-renewer-{self.owner}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        if self._thread is not None:
            # A renewal stuck on an unanswering database must not hold the
            # worker: the daemon thread ends after its call (its ids are guarded).
            self._thread.join(timeout=max(1.0, self.every))
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.wait(self.every):
            with self._lock:
                ids = list(self._held)
            if ids:
                self._renew(ids)

    def renew_now(self) -> None:
        """One renewal of every held lease (what the thread does each period)."""
        with self._lock:
            ids = list(self._held)
        if ids:
            self._renew(ids)

    def _renew(self, ids: list[int]) -> None:
        wall = self.wall()
        try:
            lost = run_transaction(
                self.engine,
                lambda conn: lifecycle.renew(
                    conn, ids, owner=self.owner, wall=wall, lease=self.lease
                ),
                what="lease renewal",
            )
        except Exception as exc:  # never kill the thread; the next period retries
            LOG.warning(
                "%s: could not renew the leases of %d streams: %s",
                self.owner,
                len(ids),
                exc,
            )
            return
        with self._lock:
            self.renewals += 1
            lost &= self._held.keys()  # a released stream was finished, not lost
            for stream_id in ids:
                if stream_id in self._held and stream_id not in lost:
                    self._held[stream_id] = wall + self.lease
            for stream_id in lost:
                del self._held[stream_id]
            self._lost |= lost
            self._new_lost += len(lost)
        if lost:
            shown = ", ".join(map(str, sorted(lost)[:10]))
            more = f" and {len(lost) - 10} more" if len(lost) > 10 else ""
            LOG.warning(
                "%s: lost the lease of %d streams (%s%s): another worker holds "
                "them now; their side effects will not be committed here",
                self.owner,
                len(lost),
                shown,
                more,
            )
