"""The archive writer: append records, roll by size and by time, finish files.

::

    archive = shoebox.Archive("/var/archive", "/var/archive/work/yagi-1")
    archive.write([(body, {"queue": "monitor.info"})])
    archive.flush()          # on disk (fsync) - then ack the batch
    archive.close()          # stop the timer, roll what is open

Records go to a working file in the process's own working folder. A roll
finishes it (see :mod:`shoebox.finish`) into the destination folder and runs
the callbacks (:mod:`shoebox.callbacks`). A file rolls when it reaches
``roll_size_mb`` MiB (checked after each ``write``; with ``background=True`` the
full file is finished on the archive's thread while ``write`` returns) or
``roll_minutes`` after its first record - by a timer thread, so an idle archive
rolls too. Empty files are
never rolled. At start, files left in the working folder by a dead process are
finished first (:mod:`shoebox.recovery`).

``write`` hands every batch to the operating system (a killed process loses
nothing it wrote); ``flush`` also syncs it to the disk. A ``write`` or ``flush``
that fails (a full disk: ``ENOSPC``, ``EDQUOT``; ``EIO``) raises the ``OSError``
after cutting the file back to its last complete record (the last synced one
for ``flush``), so the caller can write the same records again later and the
file never holds a torn record in the middle. All methods are
thread-safe. A finished file is written while new records go to the next
working file, and rolls happen one at a time.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from io import FileIO
from pathlib import Path
from types import TracebackType
from typing import Any

from shoebox.callbacks import RollCallback, load_callbacks
from shoebox.exceptions import ArchiveClosed, ShoeboxConfigError
from shoebox.finish import Finisher
from shoebox.formats import Record, RecordFormat, check_metadata, get_format
from shoebox.recovery import leftovers, lock_working_folder, recover_file

__all__ = ["Archive", "ArchiveStats", "RecordLike"]

LOG = logging.getLogger(__name__)
MIB = 1024 * 1024

RecordLike = Record | tuple[bytes, Mapping[str, str]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ArchiveStats:
    """Counters since the archive was opened."""

    records: int = 0
    bytes_written: int = 0
    files_rolled: int = 0
    callback_errors: int = 0
    finish_errors: int = 0
    recovered_files: int = 0
    recovered_records: int = 0
    dropped_bytes: int = 0


@dataclass(slots=True)
class _OpenFile:
    path: Path
    handle: FileIO
    deadline: float
    size: int = 0
    records: int = 0
    synced_size: int = 0
    synced_records: int = 0


class Archive:
    """Rolling archive files of one format (see the module docstring).

    ``destination`` receives finished files; ``working`` is this process's own
    working folder (both created). ``fmt`` is ``json`` or ``binary``.
    ``roll_minutes=None`` disables the time roll. ``filename_template``
    defaults to the format's (see :mod:`shoebox.naming`). ``callbacks`` are
    callback objects or names, built with ``callback_options``; ``clock`` gives
    the roll time used in names. ``background=True`` finishes a file that
    reached ``roll_size_mb`` on the archive's own thread: ``write`` only syncs
    and closes it (its records are durable when ``write`` returns) and the
    compressing, naming and callbacks happen meanwhile; ``close`` waits for
    them. Raises ``ShoeboxConfigError`` for a bad option and ``ShoeboxError``
    when another process uses ``working``.
    """

    def __init__(
        self,
        destination: str | Path,
        working: str | Path,
        fmt: str = "json",
        roll_size_mb: float = 20.0,
        roll_minutes: float | None = 60.0,
        filename_template: str | None = None,
        callbacks: Iterable[str | RollCallback] | str = (),
        *,
        callback_options: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = _utc_now,
        background: bool = False,
    ) -> None:
        self.format: RecordFormat = get_format(fmt)
        if not roll_size_mb > 0:
            raise ShoeboxConfigError(
                f"must be positive, got {roll_size_mb!r}", key="roll_size_mb"
            )
        if roll_minutes is not None and not roll_minutes > 0:
            raise ShoeboxConfigError(
                f"must be positive or None, got {roll_minutes!r}", key="roll_minutes"
            )
        self.template = filename_template or self.format.default_template
        self.destination = Path(destination)
        self.working = Path(working)
        if self.destination.resolve() == self.working.resolve():
            raise ShoeboxConfigError(
                "the working folder must differ from the destination", key="working"
            )
        self.roll_bytes = int(roll_size_mb * MIB)
        self.roll_seconds = None if roll_minutes is None else roll_minutes * 60.0
        self.callbacks = load_callbacks(callbacks, callback_options)
        self.stats = ArchiveStats()
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._roll_lock = threading.Lock()
        self._file: _OpenFile | None = None
        self._unfinished: list[Path] = []
        self._background = background
        self._finish_due = False  # a full file was detached for the thread to finish
        self._closed = False
        self.destination.mkdir(parents=True, exist_ok=True)
        self.working.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = lock_working_folder(self.working)
        try:
            self._recover()
        except BaseException:
            self._release_lock()
            raise
        self._timer: threading.Thread | None = None
        if self.roll_seconds is not None or background:
            self._timer = threading.Thread(
                target=self._run_timer, name=f"shoebox-roll-{self.working}", daemon=True
            )
            self._timer.start()

    # ------------------------------------------------------------------ public

    def write(self, records: Iterable[RecordLike], *, parsed: bool = False) -> int:
        """Append ``records`` (``Record`` or ``(body, metadata)``); return the count.

        ``TypeError`` for a body that is not bytes or metadata that is not
        ``str -> str`` (nothing of the batch is written then). ``parsed``: every
        body is known to be JSON that orjson parses (a caller that decoded them
        saves the format checking them again).
        """
        encoded = [
            self.format.encode(_as_record(item), parsed=parsed) for item in records
        ]
        if not encoded:
            return 0
        data = b"".join(encoded)
        with self._lock:
            if self._closed:
                raise ArchiveClosed(f"archive {self.working} is closed")
            current = self._file or self._open()
            try:
                _write_all(current.handle, data)
            except OSError:
                self._cut(current, current.size, current.records)
                raise
            current.size += len(data)
            current.records += len(encoded)
            self.stats.records += len(encoded)
            self.stats.bytes_written += len(data)
            full = current.size >= self.roll_bytes
        if full and self._background:
            self._detach_full()
        elif full:
            self._roll(lambda f: f.size >= self.roll_bytes)
        return len(encoded)

    def flush(self) -> None:
        """Make every record written so far durable (flush and ``fsync``)."""
        with self._lock:
            current = self._file
            if current is not None:
                try:
                    os.fsync(current.handle.fileno())
                except OSError:
                    self._cut(current, current.synced_size, current.synced_records)
                    raise
                current.synced_size = current.size
                current.synced_records = current.records

    def roll(self) -> Path | None:
        """Finish the open file now; return where it ended up (None if nothing)."""
        return self._roll(lambda f: True)

    def close(self) -> None:
        """Stop the timer and roll what is open. Closing twice does nothing."""
        with self._wake:
            if self._closed:
                return
            self._closed = True
            self._wake.notify_all()
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.join()
        try:
            self._roll(lambda f: True)
        finally:
            self._release_lock()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def open_path(self) -> Path | None:
        """The working file records currently go to, if one is open."""
        current = self._file
        return None if current is None else current.path

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- rolling

    def _open(self) -> _OpenFile:
        """Open a new working file (called with the lock held)."""
        stamp = self._clock().strftime("%Y%m%dT%H%M%S")
        name = f"{stamp}-{os.getpid()}-{secrets.token_hex(4)}{self.format.suffix}"
        path = self.working / name
        handle = path.open("xb", buffering=0)
        seconds = self.roll_seconds
        deadline = float("inf") if seconds is None else time.monotonic() + seconds
        self._file = _OpenFile(path, handle, deadline)
        self._wake.notify_all()
        return self._file

    def _detach(self, current: _OpenFile) -> Path:
        """Sync and close the open file; later records go to a new one (lock held)."""
        self._file = None
        try:
            os.fsync(current.handle.fileno())
        except OSError as exc:  # finished from the page cache anyway
            LOG.warning("cannot sync %s: %s", current.path, exc)
        finally:
            current.handle.close()
        return current.path

    def _detach_full(self) -> None:
        """``background``: detach the full file for the thread to finish."""
        with self._wake:
            current = self._file
            if current is None or current.size < self.roll_bytes:
                return
            self._unfinished.append(self._detach(current))
            self._finish_due = True
            self._wake.notify_all()

    def _roll(self, due: Callable[[_OpenFile], bool]) -> Path | None:
        """Detach the open file if ``due`` says so, finish it, run the callbacks."""
        with self._roll_lock:
            with self._lock:
                current = self._file
                detached: Path | None = None
                if current is not None and due(current):
                    detached = self._detach(current)
                retry, self._unfinished = self._unfinished, []
            result: Path | None = None
            for path in [*retry, *([detached] if detached else [])]:
                result = self._finish(path)
            return result

    def _finish(self, working: Path) -> Path | None:
        try:
            finished = Finisher(self.format, self.destination, self.template).finish(
                working, self._clock()
            )
        except OSError as exc:
            LOG.error(
                "cannot finish %s (%s); will retry at the next roll",
                working,
                exc,
            )
            with self._lock:
                self.stats.finish_errors += 1
                self._unfinished.append(working)
            return None
        with self._lock:
            self.stats.files_rolled += 1
        LOG.info("rolled %s", finished)
        return self._run_callbacks(finished)

    def _run_callbacks(self, path: Path) -> Path | None:
        current: Path = path
        for callback in self.callbacks:
            try:
                moved = callback.on_roll(current)
            except Exception:
                LOG.exception(
                    "archive callback %r failed on %s; later callbacks skipped",
                    callback,
                    current,
                )
                with self._lock:
                    self.stats.callback_errors += 1
                return current
            if moved is not None:
                current = Path(moved)
            if not current.exists():
                return None
        return current

    def _run_timer(self) -> None:
        """Roll by time; finish the files ``write`` detached (``background``)."""
        while True:
            with self._wake:
                while True:
                    if self._finish_due:
                        self._finish_due = False
                        due: Callable[[_OpenFile], bool] = _none_due
                        break
                    if self._closed:
                        return
                    current = self._file
                    if current is None or self.roll_seconds is None:
                        self._wake.wait()
                        continue
                    remaining = current.deadline - time.monotonic()
                    if remaining <= 0:
                        due = _time_due
                        break
                    self._wake.wait(remaining)
            try:
                self._roll(due)
            except Exception:
                LOG.exception("roll of %s failed", self.working)

    # ---------------------------------------------------------------- recovery

    def _recover(self) -> None:
        def finisher_for(fmt: RecordFormat) -> Finisher:
            template = self.template if fmt is self.format else fmt.default_template
            return Finisher(fmt, self.destination, template)

        for working in leftovers(self.working):
            outcome = recover_file(working, finisher_for)
            self.stats.dropped_bytes += outcome.dropped_bytes
            if outcome.path is None:
                continue
            self.stats.recovered_files += 1
            self.stats.recovered_records += outcome.records
            self.stats.files_rolled += 1
            self._run_callbacks(outcome.path)

    def _cut(self, current: _OpenFile, size: int, records: int) -> None:
        """After a failed write: cut the file back to ``size`` (lock held)."""
        try:
            os.ftruncate(current.handle.fileno(), size)
            current.handle.seek(size)
        except OSError as exc:  # pragma: no cover - truncating frees space
            LOG.error("cannot cut %s back to %d bytes: %s", current.path, size, exc)
            return
        self.stats.records -= current.records - records
        self.stats.bytes_written -= current.size - size
        current.size, current.records = size, records
        current.synced_size = min(current.synced_size, size)
        current.synced_records = min(current.synced_records, records)

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)


def _none_due(current: _OpenFile) -> bool:
    """Roll nothing open: only finish the detached files."""
    return False


def _time_due(current: _OpenFile) -> bool:
    return current.deadline <= time.monotonic()


def _write_all(handle: FileIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = handle.write(view)
        if not written:  # pragma: no cover - a raw file raises instead
            raise OSError(f"cannot write to {handle.name}")
        view = view[written:]


def _as_record(item: RecordLike) -> Record:
    if isinstance(item, Record):
        return item
    body, metadata = item
    if isinstance(body, bytearray | memoryview):  # type: ignore[unreachable]
        body = bytes(body)  # type: ignore[unreachable]
    if not isinstance(body, bytes):
        raise TypeError(f"record body must be bytes, got {type(body).__name__}")
    return Record(body, check_metadata(metadata))
