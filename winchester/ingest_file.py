"""File ingest: JSON-lines notifications from files or stdin into winchester.

The supported command is ``winchester-db ingest`` (see
:mod:`winchester.storage.cli`)::

    winchester-db -c winchester.yaml ingest [--batch 500] [--max-wait 1] FILE...

(``-`` reads stdin.)

Rules:

* Everything in ``winchester.yaml`` applies - distiller definitions, trait
  plugins, catch-all, Ceilometer mode, triggers, database and clock: the trigger
  manager comes from :func:`winchester.build.build_trigger_manager`, as in
  ``yagi-event``.
* Input is a **stream**: read line by line and stored in batches of ``--batch``
  notifications (one transaction each), never the whole file, so memory stays
  flat whatever the file's size; a pipe is ingested batch by batch as it
  arrives, and a partial batch is stored once the pipe has been quiet for
  ``--max-wait`` seconds (default 1). Blank lines are skipped.
* Each rejected line is named on stderr as ``FILE:LINE: reason`` (``<stdin>``
  for ``-``); the other lines of its batch are stored. Ingest is idempotent
  (unique ``message_id``): a file ingested twice stores each event once and
  counts the second copies as duplicates.
* On a terminal (stderr is a TTY) a progress line shows the count and rate.
  At the end one summary line goes to stdout.
* Exit status: 0, or 1 when any line was rejected or the database stayed
  unavailable, or 2 for a bad configuration or a missing input file. Ctrl-C
  stops (the batch being read is dropped; the one being stored, on a second
  thread while the next is distilled, commits first), prints the summary so
  far and exits 130.

``python -m winchester.ingest_file`` runs the older test tool of
:mod:`winchester.ingest_tool` (options instead of a ``winchester.yaml``), kept
for the multi-process tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from stacktach.batchtuning import batch_tuning
from stacktach.exceptions import ConfigError
from winchester.build import build_trigger_manager
from winchester.config.settings import WinchesterSettings
from winchester.ingest import IngestResult, TriggerManager
from winchester.storage.engine import DatabaseUnavailable

__all__ = [
    "STDIN",
    "FileIngestSummary",
    "Progress",
    "ingest_lines",
    "read_lines",
    "run_ingest",
]

STDIN = "-"
STDIN_NAME = "<stdin>"
_CHUNK = 1 << 16

#: ``(file name, line number, line)``
Line = tuple[str, int, bytes]
RejectFn = Callable[[str, int, str], None]


@dataclass(slots=True)
class FileIngestSummary:
    """What an ingest did (totals over every file)."""

    lines: int = 0
    saved: int = 0
    duplicates: int = 0
    unmatched: int = 0
    rejected: int = 0
    statements: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Lines per second so far."""
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The one-line summary the command prints."""
        return (
            f"ingest: {self.lines} lines, {self.saved} saved, "
            f"{self.duplicates} duplicates, {self.unmatched} unmatched, "
            f"{self.rejected} rejected in {self.seconds:.2f} s "
            f"({self.rate:.0f} lines/s)"
        )


def read_lines(
    names: Sequence[str], stdin: BinaryIO, *, idle: float | None = None
) -> Iterator[Line | None]:
    """Every non-blank line of each file in turn, one at a time (``-``: stdin).

    With ``idle``, a ``None`` comes out of a pipe or terminal that has given
    nothing for ``idle`` seconds (so the caller can store what it holds).
    """
    for name in names:
        if name == STDIN:
            if idle is not None and _waits(stdin):
                yield from _numbered_fd(STDIN_NAME, stdin.fileno(), idle)
            else:
                yield from _numbered(STDIN_NAME, stdin)
        else:
            with open(name, "rb") as stream:
                yield from _numbered(name, stream)


def _numbered(name: str, stream: Iterable[bytes]) -> Iterator[Line]:
    for number, line in enumerate(stream, 1):
        if line.strip():
            yield name, number, line


def _waits(stream: BinaryIO) -> bool:
    """Whether reading ``stream`` can block (a pipe, socket or terminal)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return not stat.S_ISREG(os.fstat(fd).st_mode)


def _numbered_fd(name: str, fd: int, idle: float) -> Iterator[Line | None]:
    """The lines of ``fd``, read as they arrive; ``None`` after ``idle`` s of quiet."""
    buffer = bytearray()
    number = 0
    while True:
        ready, _, _ = select.select([fd], [], [], idle)
        if not ready:
            yield None
            continue
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            break
        scan = len(buffer)
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", scan)) >= 0:
            number += 1
            line = bytes(buffer[start : end + 1])
            if line.strip():
                yield name, number, line
            start = scan = end + 1
        del buffer[:start]
    if buffer.strip():
        yield name, number + 1, bytes(buffer)


class Progress:
    """A ``count, rate`` line on a terminal, redrawn at most every ``every`` s.

    Does nothing unless ``stream`` is a TTY. :meth:`clear` before printing
    anything else on the stream.
    """

    def __init__(self, stream: IO[str], *, every: float = 0.5) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.every = every
        self._drawn = 0.0
        self._shown = False

    def update(self, summary: FileIngestSummary) -> None:
        """Redraw if enough time has passed since the last time."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn < self.every:
            return
        self._drawn = now
        self.stream.write(
            f"\r\033[K{summary.lines} lines, {summary.rejected} rejected "
            f"({summary.rate:.0f} lines/s)"
        )
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the progress line (if one is shown)."""
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


def ingest_lines(
    manager: TriggerManager,
    lines: Iterable[Line | None],
    *,
    batch_size: int = 500,
    on_reject: RejectFn,
    on_batch: Callable[[FileIngestSummary], None] = lambda summary: None,
    summary: FileIngestSummary | None = None,
) -> FileIngestSummary:
    """Distil and store ``lines`` in batches of ``batch_size``; the totals.

    A batch is distilled and prepared while the one before it is stored (its
    transaction runs on a second thread), so reading and distilling overlap
    the database's work; batches still commit one at a time, in order (on
    SQLite, which has no server to wait for, both run in this thread). A
    ``None`` among the lines (idle input) stores the partial batch at once.
    ``on_reject(file, line, reason)`` is called for each rejected line and
    ``on_batch(summary)`` after each batch; the totals accumulate in
    ``summary`` when given (so an interrupted caller still has them). Raises
    ``DatabaseUnavailable`` when the database stays unavailable (the batches
    before it are stored). On an interruption (Ctrl-C) the batch being stored
    is let finish and counted before the exception goes on. The cyclic
    garbage collector runs less often, and threads switch sooner, meanwhile
    (:func:`stacktach.batchtuning.batch_tuning`).
    """
    summary = summary if summary is not None else FileIngestSummary()
    started = time.monotonic()
    where: list[tuple[str, int]] = []
    bodies: list[bytes] = []
    storing: list[tuple[Future[IngestResult], list[tuple[str, int]]]] = []
    # SQLite runs in this process: there is no server to wait for, and a second
    # thread only made the two take turns (8% slower in bench/ingest.py).
    overlap = manager.engine.dialect.name != "sqlite"

    def account(result: IngestResult, lines_of: list[tuple[str, int]]) -> None:
        summary.lines += result.received
        summary.saved += result.saved
        summary.duplicates += result.duplicates
        summary.unmatched += result.unmatched
        summary.rejected += len(result.rejected)
        summary.statements += result.statements
        for index, reason in result.rejected:
            name, number = lines_of[index]
            on_reject(name, number, reason)
        summary.seconds = time.monotonic() - started
        on_batch(summary)

    def wait() -> None:
        """Let the batch being stored commit, and count it."""
        while storing:
            future, lines_of = storing.pop()
            try:
                result = future.result()
            except KeyboardInterrupt:
                with contextlib.suppress(Exception):  # let its transaction end
                    account(future.result(), lines_of)
                raise
            account(result, lines_of)

    def flush(executor: ThreadPoolExecutor) -> None:
        pending = manager.start_notifications(list(bodies))
        lines_of = list(where)
        where.clear()
        bodies.clear()
        wait()
        if overlap:
            storing.append((executor.submit(pending.store), lines_of))
        else:
            account(pending.store(), lines_of)

    with (
        batch_tuning(),
        ThreadPoolExecutor(1, thread_name_prefix="ingest-store") as executor,
    ):
        try:
            for item in lines:
                if item is None:
                    if bodies:
                        flush(executor)
                    wait()  # idle input: what was read is stored now
                    continue
                name, number, body = item
                where.append((name, number))
                bodies.append(body)
                if len(bodies) >= batch_size:
                    flush(executor)
            if bodies:
                flush(executor)
        finally:
            wait()
    summary.seconds = time.monotonic() - started
    return summary


def run_ingest(
    config: str | Path,
    names: Sequence[str],
    *,
    batch_size: int = 500,
    max_wait: float = 1.0,
    stdin: BinaryIO | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """``winchester-db ingest``: ingest ``names`` with ``config``; the exit status.

    A partial batch from a pipe is stored after ``max_wait`` seconds without
    input. Ctrl-C stops with the summary so far (exit status 130).
    """
    stdin = stdin if stdin is not None else sys.stdin.buffer
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    prog = "winchester-db ingest"
    for name in names:
        if name != STDIN and not Path(name).is_file():
            err.write(f"{prog}: {name}: no such file; name a JSON-lines file or -\n")
            return 2
    try:
        manager = build_trigger_manager(WinchesterSettings.load(config))
    except ConfigError as exc:
        err.write(f"{prog}: {exc}\n")
        return 2
    progress = Progress(err)

    def on_reject(name: str, number: int, reason: str) -> None:
        progress.clear()
        err.write(f"{name}:{number}: {reason}\n")

    summary = FileIngestSummary()
    status: int | None = None
    try:
        ingest_lines(
            manager,
            read_lines(names, stdin, idle=max_wait),
            batch_size=batch_size,
            on_reject=on_reject,
            on_batch=progress.update,
            summary=summary,
        )
    except DatabaseUnavailable as exc:
        progress.clear()
        err.write(f"{prog}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        status = 130
    finally:
        manager.engine.dispose()
    progress.clear()
    out.write(summary.line() + (" (interrupted)" if status else "") + "\n")
    out.flush()
    if status is not None:
        return status
    return 1 if summary.rejected else 0


if __name__ == "__main__":
    # ``python -m winchester.ingest_file``: the test tool (winchester.ingest_tool).
    from winchester.ingest_tool import main

    sys.exit(main())
