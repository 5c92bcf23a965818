"""Crash recovery: the working folder's lock, and finishing what a dead process left.

Each archive process must have a working folder of its own: at start it takes
an exclusive lock on ``<working>/.lock`` (a POSIX record lock, released by the
kernel when the process dies, however it dies), so a second *process* on the
same folder fails at once instead of stealing the first one's open file. Then
every working file there (``*.json``, ``*.dat``) is a leftover of a process
that died: its torn last record, if any, is cut off, and the file is finished
like a roll (compressed, named, moved, callbacks run). An empty leftover is
removed.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shoebox.exceptions import ShoeboxError
from shoebox.finish import Finisher, remove_quietly
from shoebox.formats import RecordFormat, by_suffix

__all__ = ["Recovered", "leftovers", "lock_working_folder", "recover_file"]

LOG = logging.getLogger(__name__)
LOCK_NAME = ".lock"


@dataclass(frozen=True, slots=True)
class Recovered:
    """One leftover working file, finished (``path`` None if it was empty)."""

    working: Path
    path: Path | None
    records: int
    dropped_bytes: int


def lock_working_folder(folder: Path) -> int:
    """Lock ``folder`` for this process; return the lock's file descriptor.

    Raises ``ShoeboxError`` when another process holds it.
    """
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            raise ShoeboxError(
                f"working folder {folder} is in use by another process; "
                "give each process a working folder of its own"
            ) from None
        raise
    return fd


def leftovers(folder: Path) -> list[Path]:
    """Working files in ``folder``, oldest first."""
    found = [
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and by_suffix(path.name) is not None
    ]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def recover_file(
    working: Path, finisher_for: Callable[[RecordFormat], Finisher]
) -> Recovered:
    """Cut a torn tail off ``working`` and finish it (or remove it if empty)."""
    fmt = by_suffix(working.name)
    if fmt is None:
        raise ValueError(f"{working} is not a working file")
    finisher = finisher_for(fmt)
    remove_quietly(finisher.partial_path(working))
    mtime = working.stat().st_mtime  # the last write, before any truncation
    with working.open("r+b") as handle:
        records, good = fmt.valid_length(handle)
        total = handle.seek(0, os.SEEK_END)
        if good < total:
            LOG.warning(
                "%s: cutting a torn record off the end (%d bytes after %d records)",
                working,
                total - good,
                records,
            )
            handle.truncate(good)
            handle.flush()
            os.fsync(handle.fileno())
    if records == 0:
        working.unlink()
        return Recovered(working, None, 0, total - good)
    when = datetime.fromtimestamp(mtime, UTC)
    finished = finisher.finish(working, when)
    LOG.info("recovered %s (%d records) as %s", working, records, finished)
    return Recovered(working, finished, records, total - good)
