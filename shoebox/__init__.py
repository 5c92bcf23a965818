"""shoebox: raw-notification archives.

Writers that roll by size and by time in two formats (newline-delimited JSON
gzipped on roll, and a portable binary format), crash recovery of working
files, callbacks after each roll, a reader for both formats and the
``shoebox`` command (``ls``, ``cat``, ``verify``; replay is ``yagi-replay``)::

    import shoebox

    archive = shoebox.Archive("/var/archive", "/var/archive/work/yagi-1")
    archive.write([(body, {"queue": "monitor.info"})])
    archive.flush()
    archive.close()

    for record in shoebox.read(path):
        record.body, record.metadata

Archives are written before the batch is acked, so a consumer killed in
between archives the redelivered notifications a second time: an archive may
hold a notification twice (``shoebox verify`` reports duplicate message ids,
``shoebox cat --unique`` skips them; see :mod:`shoebox.summary`).

Importing this package opens nothing and starts no thread. shoebox imports
only ``stacktach`` (DESIGN §2): never ``notabene``, ``winchester`` or
``distiller``.
"""

from __future__ import annotations

from shoebox.archive import Archive, ArchiveStats
from shoebox.callbacks import ChangeExtension, Delete, MoveTo, RollCallback
from shoebox.exceptions import (
    ArchiveClosed,
    CorruptArchive,
    ShoeboxConfigError,
    ShoeboxError,
)
from shoebox.formats import Record
from shoebox.reader import read

__all__ = [
    "Archive",
    "ArchiveClosed",
    "ArchiveStats",
    "ChangeExtension",
    "CorruptArchive",
    "Delete",
    "MoveTo",
    "Record",
    "RollCallback",
    "ShoeboxConfigError",
    "ShoeboxError",
    "read",
]
