"""``GET /v1/stream``: new events and stream changes as server-sent events.

How it is served (gunicorn's threaded worker, ``gthread``)

* Each SSE connection holds one thread of its worker, blocked on its own queue
  most of the time: an idle watcher costs a sleeping thread, nothing more, and
  ordinary requests are served by the other threads (``api.threads``; at most
  ``threads - 4`` watchers per process, the rest are told 503).
* One **poller thread per worker process** (:class:`Hub`) reads the database
  every ``api.sse_poll_seconds`` - the events and the stream change log
  (:mod:`winchester.storage.changes`) it has not examined yet - shapes each row
  once and hands it to every watcher of the process, which applies its filters
  in memory. The database cost does not grow with the number of watchers.
* The database is the source of truth: any ``yagi-event`` or
  ``pipeline-worker`` on any host writes, every API process on every host reads
  the same rows.

Cursors (:mod:`quince.cursor`) make resuming exact: every message carries
``id: <cursor>``, the set of ids the watcher has not examined (with the holes
left by transactions that had not committed yet), and ``Last-Event-ID`` (or
``?since=``) resumes from it: the rows in between are read back from the
database first (nothing still in the database is missed, nothing is sent
twice), then the live feed continues. A heartbeat comment (``: heartbeat``)
goes out every ``api.sse_heartbeat_seconds`` of silence, with the current
``id:`` so that a narrow filter's cursor keeps up.

Messages::

    retry: 2000
    id: 1234:56

    id: 1235:56
    event: event
    data: {... one item of GET /v1/events ...}

    id: 1235:57
    event: stream
    data: {"id": 7, "change": "fired", "state": "completed", "name": "...",
           "trigger_name": "...", "distinguishing_traits": {...},
           "at": {"__type__": "datetime", ...}, "reason": null}

Filters: ``kind=events|streams|all``; ``event_name`` (a glob), ``traits``
(typed, as ``/v1/events``) and ``deployment`` (the ``deployment`` trait
``yagi-event`` gives every event) select events; ``traits`` selects stream
changes by their distinguishing traits.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import falcon

from quince.context import QuinceContext
from quince.cursor import Cursor, Tracker, Unseen, parse_cursor
from quince.params import get_text, get_traits, invalid
from quince.shapes import dumps, event_json
from winchester.storage import changes
from winchester.storage.changes import StoredChange
from winchester.storage.queries import StoredEvent, TraitFilter

__all__ = ["KINDS", "THREADS_ENV", "Hub", "LiveStream", "shutdown_all"]

LOG = logging.getLogger(__name__)

KINDS = ("events", "streams", "all")
#: quince-api puts its ``--threads`` here for the workers (else ``api.threads``).
THREADS_ENV = "QUINCE_API_THREADS"
#: The ``retry:`` sent first (milliseconds before a browser reconnects).
RETRY_MS = 2000
#: Threads of a worker kept for ordinary requests.
RESERVED_THREADS = 4
#: A hole (ids a transaction may still commit) is re-read for this long.
SETTLE_SECONDS = 60.0
#: Rows read per poll and table (a poll that reads this many polls again at once).
BATCH = 1000
#: Newest ids read at start, to find the holes among them.
START_DEPTH = 2000
#: Polls' worth of messages a watcher may have queued; a slower client is
#: disconnected (it resumes from its last id).
QUEUE_SIZE = 2000
#: A poller with no watcher stops after this long.
IDLE_SECONDS = 10.0

_CLOSE = ("close", b"", "")
_HUBS: weakref.WeakSet[Hub] = weakref.WeakSet()


def _dumps(value: Any) -> str:
    return dumps(value).decode()


def shutdown_all() -> None:
    """End every watcher's response and stop the pollers (worker shutdown)."""
    for hub in list(_HUBS):
        hub.shutdown()


@dataclass(frozen=True, slots=True)
class Selection:
    """What a watcher asked for."""

    events: bool
    streams: bool
    event_name: str | None
    traits: tuple[TraitFilter, ...]
    deployment: str | None

    def wants_event(self, event: StoredEvent) -> bool:
        if not self.events:
            return False
        if self.event_name and not fnmatch.fnmatchcase(
            event.event_type, self.event_name
        ):
            return False
        if self.deployment is None and not self.traits:
            return True
        traits = event.traits
        if self.deployment is not None and traits.get("deployment") != self.deployment:
            return False
        return all(t.matches(traits) for t in self.traits)

    def wants_change(self, change: StoredChange) -> bool:
        if not self.streams:
            return False
        return all(t.matches(change.distinguishing_traits) for t in self.traits)

    def wants(self, row: StoredEvent | StoredChange) -> bool:
        if isinstance(row, StoredEvent):
            return self.wants_event(row)
        return self.wants_change(row)


@dataclass(frozen=True, slots=True)
class Message:
    """One row, shaped once, with the poller's position just after it."""

    kind: str  # "event" or "stream"
    row_id: int
    row: StoredEvent | StoredChange
    data: str
    cursor: Cursor
    frame: bytes  # with the poller's cursor as its id


def change_json(change: StoredChange) -> dict[str, Any]:
    """A change-log row as ``event: stream`` data."""
    return {
        "id": change.stream_id,
        "change": change.change,
        "state": change.state.name.lower(),
        "name": change.trigger_name,
        "trigger_name": change.trigger_name,
        "distinguishing_traits": change.distinguishing_traits,
        "at": change.at,
        "reason": change.reason,
    }


def _frame(kind: str, data: str, cursor_text: str) -> bytes:
    return f"id: {cursor_text}\nevent: {kind}\ndata: {data}\n\n".encode()


class Watcher:
    """One SSE connection's queue and filters.

    Each poll queues one item: ``("batch", frames, position)``, the frames of
    every message it wants, written with one ``yield`` (one send), and the
    position after them, for its heartbeats.
    """

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        #: The client's own position when it is ahead of the poller somewhere
        #: (resumed from another process); None: the poller's is the client's.
        self.base: Cursor | None = None
        self.queue: queue.Queue[tuple[str, bytes, str]] = queue.Queue(QUEUE_SIZE)
        self._position = ""

    def _put(self, item: tuple[str, bytes, str]) -> bool:
        try:
            self.queue.put_nowait(item)
            return True
        except queue.Full:
            self.close()
            return False

    def close(self) -> None:
        """End the response (its queued messages are dropped: the client
        resumes from the last one it got)."""
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.queue.put_nowait(_CLOSE)

    def offer(
        self,
        messages: list[Message],
        position: Cursor,
        shared: dict[Selection, bytes],
    ) -> bool:
        """Queue the frames of the messages this watcher wants and the new
        position; False when its queue overflowed (it is closed). ``shared``
        holds the frames already joined for a selection in this poll (watchers
        with the same filters share them)."""
        base = self.base
        if base is None:
            frames = shared.get(self.selection)
            if frames is None:
                frames = b"".join(
                    m.frame for m in messages if self.selection.wants(m.row)
                )
                shared[self.selection] = frames
            text = position.text()
        else:
            frames = b"".join(
                _frame(m.kind, m.data, base.intersect(m.cursor).text())
                for m in messages
                if (base.events if m.kind == "event" else base.changes).contains(
                    m.row_id
                )
                and self.selection.wants(m.row)
            )
            text = base.intersect(position).text()
        if not frames and text == self._position:
            return True
        self._position = text
        return self._put(("batch", frames, text))


class Hub:
    """The per-process poller and its watchers (see the module docstring)."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx
        self.poll_seconds = ctx.settings.api.sse_poll_seconds
        self._lock = threading.Lock()
        self._watchers: set[Watcher] = set()
        self._events: Tracker | None = None
        self._changes: Tracker | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        _HUBS.add(self)

    @property
    def max_watchers(self) -> int:
        """Watchers this process takes (threads left for ordinary requests)."""
        threads = os.environ.get(THREADS_ENV, "")
        count = int(threads) if threads.isdigit() else self.ctx.settings.api.threads
        return max(1, count - RESERVED_THREADS)

    def count(self) -> int:
        """Watchers now."""
        with self._lock:
            return len(self._watchers)

    def join(self, watcher: Watcher) -> Cursor | None:
        """Register ``watcher``; the poller's position at that moment (every row
        not examined by it will be offered to the watcher). None: full."""
        with self._lock:
            if self._stop.is_set() or len(self._watchers) >= self.max_watchers:
                return None
            if self._thread is None:
                self._start()
            assert self._events is not None and self._changes is not None
            self._watchers.add(watcher)
            return Cursor(self._events.unseen(), self._changes.unseen())

    def leave(self, watcher: Watcher) -> None:
        """Unregister ``watcher``."""
        with self._lock:
            self._watchers.discard(watcher)

    def shutdown(self) -> None:
        """Close every watcher and stop polling."""
        self._stop.set()
        with self._lock:
            for watcher in self._watchers:
                watcher.close()
            self._watchers.clear()

    def _start(self) -> None:
        now = time.monotonic()
        with self.ctx.engine.connect() as conn:
            events = changes.recent_ids(conn, "event", START_DEPTH)
            logged = changes.recent_ids(conn, "stream_change", START_DEPTH)
        self._events = Tracker.from_ids(events, now)
        self._changes = Tracker.from_ids(logged, now)
        self._thread = threading.Thread(
            target=self._run, name="quince-live-poller", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        idle_since: float | None = None
        failing = False
        while not self._stop.is_set():
            with self._lock:
                if not self._watchers:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > IDLE_SECONDS:
                        self._thread = None
                        return
                else:
                    idle_since = None
            try:
                more = self._poll()
                if failing:
                    LOG.warning("live stream: database reads work again")
                failing = False
            except Exception as exc:  # the database went away: keep trying
                if not failing:
                    LOG.warning("live stream: reading the database failed: %s", exc)
                failing, more = True, False
                self._stop.wait(1.0)
            if not more:
                self._stop.wait(self.poll_seconds)

    def _poll(self) -> bool:
        """One read of both tables and its fan-out; True when a read was full."""
        events, logged = self._events, self._changes
        assert events is not None and logged is not None
        with self.ctx.engine.connect() as conn:
            new_events = changes.read_events(
                conn, events.unseen().ranges(), limit=BATCH
            )
            new_changes = changes.read_changes(
                conn, logged.unseen().ranges(), limit=BATCH
            )
        now = time.monotonic()
        messages: list[Message] = []
        with self._lock:
            for event in new_events:
                events.mark(event.id, now)
                cursor = Cursor(events.unseen(), logged.unseen())
                data = _dumps(event_json(event))
                frame = _frame("event", data, cursor.text())
                messages.append(Message("event", event.id, event, data, cursor, frame))
            for change in new_changes:
                logged.mark(change.id, now)
                cursor = Cursor(events.unseen(), logged.unseen())
                data = _dumps(change_json(change))
                frame = _frame("stream", data, cursor.text())
                messages.append(
                    Message("stream", change.id, change, data, cursor, frame)
                )
            events.settle(now, SETTLE_SECONDS)
            logged.settle(now, SETTLE_SECONDS)
            position = Cursor(events.unseen(), logged.unseen())
            shared: dict[Selection, bytes] = {}
            for watcher in list(self._watchers):
                if not watcher.offer(messages, position, shared):
                    LOG.warning("live stream: a watcher fell behind; disconnected")
                    self._watchers.discard(watcher)
        return len(new_events) >= BATCH or len(new_changes) >= BATCH


def _selection(req: falcon.Request) -> Selection:
    kind = get_text(req, "kind") or "events"
    if kind not in KINDS:
        raise invalid("kind", f"Expected one of {', '.join(KINDS)}.")
    return Selection(
        events=kind in ("events", "all"),
        streams=kind in ("streams", "all"),
        event_name=get_text(req, "event_name"),
        traits=get_traits(req, "traits"),
        deployment=get_text(req, "deployment"),
    )


def _start_cursor(req: falcon.Request) -> Cursor | None:
    header = req.get_header("Last-Event-ID")
    if header:
        try:
            return parse_cursor(header)
        except ValueError:
            raise falcon.HTTPInvalidHeader(
                "Expected an id: line of this stream.", "Last-Event-ID"
            ) from None
    since = get_text(req, "since")
    if since is None:
        return None
    try:
        return parse_cursor(since)
    except ValueError:
        raise invalid("since", "Expected an id: line of this stream.") from None


class LiveStream:
    """``GET /v1/stream``."""

    #: It holds its thread while it lasts: no request slot (quince.slots).
    long_lived = True

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx
        self.hub = Hub(ctx)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        selection = _selection(req)
        start = _start_cursor(req)
        watcher = Watcher(selection)
        position = self.hub.join(watcher)
        if position is None:
            raise falcon.HTTPServiceUnavailable(
                title="Too many watchers",
                description="This API process serves as many live streams as it "
                "can (api.threads); try another or later.",
                retry_after=5,
            )
        client = position if start is None else start
        if position.intersect(client) != position:
            watcher.base = client  # ahead of this poller somewhere
        resp.content_type = "text/event-stream"
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer
        resp.stream = self._serve(watcher, selection, client, position)

    def _serve(
        self, watcher: Watcher, selection: Selection, client: Cursor, position: Cursor
    ) -> Iterator[bytes]:
        heartbeat = self.ctx.settings.api.sse_heartbeat_seconds
        try:
            yield f"retry: {RETRY_MS}\nid: {client.text()}\n\n".encode()
            if client != position:
                yield from self._catch_up(selection, client, position)
            text = client.intersect(position).text()
            written = time.monotonic()
            while True:
                wait = max(written + heartbeat - time.monotonic(), 0.0)
                try:
                    kind, frames, position_text = watcher.queue.get(timeout=wait)
                except queue.Empty:
                    yield f": heartbeat\nid: {text}\n\n".encode()
                    written = time.monotonic()
                    continue
                if kind == "close":
                    return
                if frames:
                    yield frames
                    written = time.monotonic()
                text = position_text
        finally:
            self.hub.leave(watcher)

    def _catch_up(
        self, selection: Selection, client: Cursor, position: Cursor
    ) -> Iterator[bytes]:
        """The rows the client has not examined and the poller has: read back
        from the database, each with the client's position after it."""
        events_done = client.events.intersect(position.events)
        if selection.events:
            read = changes.read_events
            for event in self._rows(read, client.events, position.events):
                after = Cursor(
                    client.events.intersect(position.events.upto(event.id)),
                    client.changes,
                )
                if selection.wants_event(event):
                    yield _frame("event", _dumps(event_json(event)), after.text())
        if selection.streams:
            for change in self._rows(
                changes.read_changes, client.changes, position.changes
            ):
                after = Cursor(
                    events_done,
                    client.changes.intersect(position.changes.upto(change.id)),
                )
                if selection.wants_change(change):
                    data = _dumps(change_json(change))
                    yield _frame("stream", data, after.text())

    def _rows(self, read: Any, client: Unseen, position: Unseen) -> Iterator[Any]:
        after: int | None = None
        while True:
            with self.ctx.engine.connect() as conn:
                rows = read(
                    conn,
                    client.ranges(),
                    exclude=position.ranges(),
                    after=after,
                    limit=BATCH,
                )
            yield from rows
            if len(rows) < BATCH:
                return
            after = rows[-1].id
