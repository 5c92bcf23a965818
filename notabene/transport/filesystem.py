# mypy: disallow-untyped-calls=False
# (kombu's annotations are partial; every function of ours is still annotated.)
"""kombu's filesystem transport, made safe for several processes.

This is the embedded broker: no server, just a folder that every process of one
machine opens. ``filesystem:///var/lib/stacktach/broker`` (see
:mod:`notabene.connection`) lays it out as::

    broker/data/       one file per message: <ns-time>_<uuid>.<queue>.msg
    broker/control/    <exchange>.exchange - the binding table (kombu's format);
                       <exchange>.type - the exchange type, so a process that did
                       not declare the exchange still routes like one that did
    broker/inflight/   <owner>/ - messages a live consumer holds, not yet acked;
                       <owner>.lock - held (flock) for as long as that consumer lives

What this adds to :mod:`kombu.transport.filesystem` (kombu >= 5.3):

* **Atomic claims and writes.** A message is written under a hidden name and
  renamed into ``data/``, so a reader never sees half a file. A consumer claims a
  message by renaming it into its own ``inflight/<owner>/`` folder: two
  competing consumers never both get it.
* **Nothing lost when a consumer dies.** kombu deletes a message as soon as it is
  read and relies on the process to put unacked ones back at shutdown. Here the
  file stays in ``inflight/`` until it is acked; rejected-with-requeue and
  shutdown put it back under its original name (same place in the queue) with
  the redelivered flag set. If the process is killed (``kill -9``), its lock is
  released by the kernel and any other consumer moves its in-flight messages
  back to ``data/`` (checked when a channel opens and then every
  ``recover_interval`` seconds while it polls).
* **Requeue to the right queue.** kombu re-routes a requeued message through its
  exchange, which duplicates it into every other queue bound with a matching key;
  here it goes back to the queue it came from only.
* **Cheaper routing and polling.** The binding table is re-read only when its
  file changes, and one directory listing serves many ``get`` calls.

Guarantees: at-least-once delivery across process crashes. Not durable across a
power loss (no fsync). The folder must be local (``flock``, atomic ``rename``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
import uuid
from collections import deque
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import filesystem, virtual
from kombu.utils.json import dumps, loads

__all__ = ["Channel", "Transport"]

LOG = logging.getLogger(__name__)

_SUFFIX = ".msg"
_LOCK = ".lock"


def _write_atomically(
    folder: str, name: str, data: bytes, *, name_is_unique: bool = False
) -> None:
    """Write ``data`` to ``folder/name`` so that readers see all of it or nothing.

    The temporary file is hidden (leading dot); it is named after ``name`` when
    no other writer can use that name, else after a fresh uuid.
    """
    hidden = name if name_is_unique else uuid.uuid4().hex
    tmp = os.path.join(folder, f".{hidden}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, os.path.join(folder, name))


def _queue_of(name: str) -> str | None:
    """Return the queue a message file belongs to, or None if it is not one."""
    if name.startswith(".") or not name.endswith(_SUFFIX):
        return None
    return name.partition(".")[2][: -len(_SUFFIX)]


class _Owner:
    """A consumer's private in-flight folder, alive while its lock is held."""

    def __init__(self, root: str) -> None:
        os.makedirs(root, exist_ok=True)
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder = os.path.join(root, self.name)
        self.lock_path = self.folder + _LOCK
        os.makedirs(self.folder)
        # Take the lock before the lock file becomes visible, so no recoverer
        # can mistake a starting consumer for a dead one.
        tmp = os.path.join(root, f".{self.name}.locktmp")
        self._fd: int | None = os.open(tmp, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.replace(tmp, self.lock_path)

    def release(self) -> None:
        """Drop the lock; remove the folder if nothing is left in flight."""
        if self._fd is None:
            return
        try:
            os.rmdir(self.folder)
        except OSError:
            LOG.warning(
                "%s still holds in-flight messages; another consumer will requeue them",
                self.folder,
            )
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_path)
        os.close(self._fd)
        self._fd = None


class Channel(filesystem.Channel):
    """A filesystem channel with atomic claims and crash-safe in-flight messages."""

    #: Seconds between scans for in-flight messages of dead consumers.
    recover_interval = 5.0
    #: Seconds a cached binding table is trusted even if its file looks unchanged.
    table_ttl = 1.0

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._backlog: dict[str, deque[str]] = {}
        self._inflight: dict[Any, tuple[str, str]] = {}
        self._no_ack_queues: set[str] = set()
        self._tables: dict[str, tuple[tuple[int, int, int], float, list[Any]]] = {}
        self._owner: _Owner | None = None
        self._exchange_paths: dict[str, Path] = {}
        self._last_recovery = 0.0
        for folder in (self.data_folder_in, self.data_folder_out):
            os.makedirs(folder, exist_ok=True)
        self.control_folder.mkdir(parents=True, exist_ok=True)

    @property
    def inflight_folder(self) -> str:
        """Where consumers keep claimed messages (``inflight_folder`` option)."""
        default = os.path.join(os.path.dirname(self.data_folder_in), "inflight")
        return str(self.transport_options.get("inflight_folder", default))

    # -- exchanges ---------------------------------------------------------

    def _exchange_file(self, exchange: str) -> Path:
        # kombu validates the name and builds a Path on every publish; cache it.
        path = self._exchange_paths.get(exchange)
        if path is None:
            path = self._exchange_paths[exchange] = super()._exchange_file(exchange)
        return path

    def _type_file(self, exchange: str) -> Path:
        return self._exchange_file(exchange).with_suffix(".type")

    def exchange_declare(
        self,
        exchange: str | None = None,
        type: str = "direct",
        durable: bool = False,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
        nowait: bool = False,
        passive: bool = False,
    ) -> None:
        """Declare in-process (kombu) and record the type on disk for others."""
        if passive and exchange and self._type_file(exchange).exists():
            return  # declared by another connection or process
        super().exchange_declare(
            exchange, type, durable, auto_delete, arguments, nowait, passive
        )
        if exchange and not passive:
            path = self._type_file(exchange)
            if not path.exists():
                kind = (type or "direct").encode()
                _write_atomically(str(path.parent), path.name, kind)

    def typeof(self, exchange: str, default: str = "direct") -> Any:
        """Exchange type from this process's declarations, else from disk."""
        if exchange and exchange not in self.state.exchanges:
            with contextlib.suppress(FileNotFoundError, ValueError):
                default = self._type_file(exchange).read_text().strip() or default
        return super().typeof(exchange, default)

    def get_table(self, exchange: str) -> list[Any]:
        """The binding table of ``exchange``, re-read only when its file changed."""
        path = self._exchange_file(exchange)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._tables.pop(exchange, None)
            return []
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        now = time.monotonic()
        cached = self._tables.get(exchange)
        if cached and cached[0] == key and now - cached[1] < self.table_ttl:
            return cached[2]
        table: list[Any] = super().get_table(exchange)
        self._tables[exchange] = (key, now, table)
        return table

    # -- messages ----------------------------------------------------------

    # kombu names the argument "message" in one base class and "payload" in the
    # other; callers pass it positionally.
    def _put(  # type: ignore[override]
        self, queue: Any, payload: Any, **kwargs: Any
    ) -> Any:
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}{_SUFFIX}"
        data = dumps(payload).encode()
        _write_atomically(self.data_folder_out, name, data, name_is_unique=True)

    def _refill(self, queue: str) -> deque[str]:
        names = os.listdir(self.data_folder_in)
        backlog = deque(sorted(n for n in names if _queue_of(n) == queue))
        self._backlog[queue] = backlog
        return backlog

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        """Claim the oldest message of ``queue``; raise :class:`queue.Empty` if none."""
        if self._owner is None:
            self._owner = _Owner(self.inflight_folder)
            self.recover()
        backlog = self._backlog.get(queue) or self._refill(queue)
        while backlog:
            name = backlog.popleft()
            claimed = os.path.join(self._owner.folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except FileNotFoundError:
                continue  # another consumer was quicker
            try:
                with open(claimed, "rb") as handle:
                    payload = loads(handle.read())
                tag = payload["properties"]["delivery_tag"]
            except (ValueError, KeyError, TypeError):
                self._quarantine(claimed, name)
                continue
            if queue in self._no_ack_queues:
                os.unlink(claimed)
            else:
                self._inflight[tag] = (claimed, name)
            return payload
        if time.monotonic() - self._last_recovery >= self.recover_interval:
            self.recover()
        raise Empty()

    def _quarantine(self, path: str, name: str) -> None:
        target = os.path.join(os.path.dirname(self.data_folder_in), "corrupt")
        os.makedirs(target, exist_ok=True)
        os.replace(path, os.path.join(target, name))
        LOG.error("unreadable message file moved to %s/%s", target, name)

    def _forget(self, delivery_tag: Any) -> None:
        entry = self._inflight.pop(delivery_tag, None)
        if entry is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry[0])

    def basic_consume(
        self, queue: str, no_ack: bool, callback: Any, consumer_tag: str, **kwargs: Any
    ) -> Any:
        """Consume ``queue``; with ``no_ack`` claimed files are deleted at once."""
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        """Get one message synchronously (kombu semantics)."""
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._forget(message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        """Acknowledge: the in-flight file is deleted."""
        super().basic_ack(delivery_tag, multiple)
        self._forget(delivery_tag)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Reject: requeued under its original name, or deleted."""
        super().basic_reject(delivery_tag, requeue=requeue)
        self._forget(delivery_tag)

    def _restore(self, message: Any) -> None:
        entry = self._inflight.pop(message.delivery_tag, None)
        if entry is None:
            super()._restore(message)
            return
        claimed, name = entry
        payload = message.serializable()
        payload["redelivered"] = True
        payload["properties"].setdefault("delivery_info", {})["redelivered"] = True
        _write_atomically(self.data_folder_in, name, dumps(payload).encode())
        with contextlib.suppress(FileNotFoundError):
            os.unlink(claimed)

    def recover(self) -> int:
        """Requeue the in-flight messages of dead consumers; return how many."""
        self._last_recovery = time.monotonic()
        root = self.inflight_folder
        try:
            entries = os.listdir(root)
        except FileNotFoundError:
            return 0
        own = self._owner.name + _LOCK if self._owner else None
        moved = 0
        for entry in entries:
            if entry.startswith(".") or not entry.endswith(_LOCK) or entry == own:
                continue
            moved += self._recover_owner(root, entry)
        if moved:
            LOG.warning("requeued %d in-flight message(s) of dead consumers", moved)
        return moved

    def _recover_owner(self, root: str, lock_name: str) -> int:
        lock_path = os.path.join(root, lock_name)
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            return 0
        moved = 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its owner is alive
            folder = lock_path[: -len(_LOCK)]
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                self._requeue_file(os.path.join(folder, name), name)
                moved += 1
            if os.path.isdir(folder):
                os.rmdir(folder)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
        finally:
            os.close(fd)
        return moved

    def _requeue_file(self, path: str, name: str) -> None:
        try:
            with open(path, "rb") as handle:
                payload = loads(handle.read())
            payload["redelivered"] = True
            payload["properties"].setdefault("delivery_info", {})["redelivered"] = True
            data = dumps(payload).encode()
        except (ValueError, KeyError, TypeError):
            os.replace(path, os.path.join(self.data_folder_in, name))
            return
        _write_atomically(self.data_folder_in, name, data)
        os.unlink(path)

    def close(self) -> None:
        """Close: unacked messages go back to their queue, then the lock is released."""
        super().close()
        if self._owner is not None:
            self._owner.release()
            self._owner = None


class Transport(filesystem.Transport):
    """Filesystem transport using :class:`Channel`; select it with ``filesystem://``.

    Unlike kombu's, declarations are not shared process-wide: each connection
    keeps its own, and the folder is the truth for bindings and exchange types.
    (A process-wide cache would let a binding made under one folder, or since
    removed by another process, stop this one from writing it.)
    """

    Channel = Channel
    driver_type = "filesystem"
    driver_name = "filesystem"

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.state = virtual.BrokerState()
