"""``shoebox`` handler: archive every notification raw before anything else.

Settings from ``[shoebox]`` (``[shoebox:<queue>]`` overrides):
``destination_folder`` (finished files), ``working_directory`` (files being
written; default ``<destination_folder>/.working``), ``format`` (``json``, the
default, or ``binary``; the original's ``roll_manager`` names map to these),
``filename_template``, ``roll_size_mb`` (20), ``roll_minutes`` (60),
``callbacks`` (comma-separated ``module:Class``), ``reject_folder`` (where
rejected messages are archived with their reason; default
``<destination_folder>/rejects``).

Every record's metadata holds ``queue``, ``deployment``, ``received_at`` and,
when the broker gave one, ``message_id``. The archive is flushed to disk before
the batch is acked, so a crash loses nothing that was acked.

**Working folders.** Each process writes into a folder of its own under
``working_directory``: ``<working_directory>/<host>-<pid>`` (and
``<host>-<pid>-rejects``), locked while it runs, so any number of ``yagi-event``
processes can share one yagi.conf. At start a process finishes what dead
processes of its host left: every ``<host>-<pid>`` folder whose lock nobody
holds, and files left directly in ``working_directory`` by older versions. A
``<pid>`` placeholder in ``working_directory`` keeps the older layout (the
placeholder is replaced by the process id; sibling folders of dead processes
are recovered the same way).

**Redelivery** after a crash (killed between archiving and acking) archives a
notification twice: the price of archive-before-ack. ``shoebox verify`` reports
duplicate message ids, ``shoebox cat --unique`` skips them.

**A full disk** (or any error writing the archive: ``ENOSPC``, ``EDQUOT``,
``EIO``, ...) is an outage, not the notification's fault: the write is undone,
:class:`ArchiveUnavailable` (a ``RecoverableError``) holds the batch unacked
and the consumer retries it with backoff; one ERROR names the folder and its
free space, and an INFO line says when writing works again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shoebox
from stacktach.exceptions import ConfigError, RecoverableError
from stacktach.processes import pid_exists
from stacktach.timeutils import format_timestamp
from yagi.config import ConsumerConfig, YagiConfig, shoebox_number
from yagi.handlers.base import ARCHIVE, Batch, Item, YagiHandler

__all__ = ["ArchiveHandler", "ArchiveUnavailable", "process_folder_name"]

LOG = logging.getLogger(__name__)


class ArchiveUnavailable(RecoverableError):
    """The archive cannot be written now (full disk, I/O error): hold the batch."""


def process_folder_name() -> str:
    """``<host>-<pid>``: this process's working folder under the configured one."""
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def _free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown free space"
    return f"{free / 1024 / 1024:.1f} MiB free"


_FORMATS = {
    "shoebox.roll_manager:WritingJSONRollManager": "json",
    "shoebox.roll_manager:WritingRollManager": "binary",
}


class ArchiveHandler(YagiHandler):
    """Writes each batch's raw messages to a rolling shoebox archive."""

    stage = ARCHIVE
    name = "shoebox"

    def __init__(self, config: YagiConfig, consumer: ConsumerConfig) -> None:
        super().__init__(config, consumer)
        settings = config.section("shoebox", consumer.queue)
        destination = Path(settings.get("destination_folder", "."))
        template = settings.get("working_directory", str(destination / ".working"))
        if "<pid>" in template:
            working = Path(template.replace("<pid>", str(os.getpid())))
            siblings = Path(template.replace("<pid>", "*"))
            sibling_re = re.escape(siblings.name).replace(r"\*", r"(\d+)")
        else:
            base = Path(template)
            working = base / process_folder_name()
            host = working.name.rsplit("-", 1)[0]
            siblings = base / f"{host}-*"
            sibling_re = re.escape(host) + r"-(\d+)"
        fmt = settings.get("format") or _FORMATS.get(
            settings.get("roll_manager", ""), "json"
        )
        if fmt not in ("json", "binary"):
            raise ConfigError(
                f"expected json or binary, got {fmt!r}", key="[shoebox] format"
            )
        callbacks = [
            c.strip()
            for c in settings.get("callbacks", settings.get("callback", "")).split(",")
            if c.strip()
        ]
        options: dict[str, Any] = {
            "fmt": fmt,
            "roll_size_mb": shoebox_number(settings, "roll_size_mb", 20),
            "roll_minutes": shoebox_number(settings, "roll_minutes", 60),
            "callbacks": callbacks,
        }
        if settings.get("filename_template"):
            options["filename_template"] = settings["filename_template"]
        rejects = Path(settings.get("reject_folder", str(destination / "rejects")))
        if "<pid>" not in template and Path(template).is_dir():
            self._recover_folder(Path(template), destination, options)
        # a full file is compressed on the archive's thread, not in the batch loop
        self.archive = shoebox.Archive(destination, working, background=True, **options)
        self._recover_abandoned(
            siblings, sibling_re, working, destination, rejects, options
        )
        self.rejects = shoebox.Archive(
            rejects,
            working.with_name(working.name + "-rejects"),
            fmt="json",
            roll_size_mb=options["roll_size_mb"],
            roll_minutes=options["roll_minutes"],
        )
        # The deliveries of the last batch, archived already: a batch held after
        # a database outage comes back with the same ones (strong references, so
        # their ids cannot be reused by newer objects).
        self._done: dict[int, object] = {}
        self._failing: set[str] = set()
        self._reported = 0

    @staticmethod
    def _recover_folder(
        folder: Path, destination: Path, options: dict[str, Any]
    ) -> bool:
        """Finish the files left in ``folder``; False if a live process holds it."""
        try:
            shoebox.Archive(
                destination, folder, **{**options, "roll_minutes": None}
            ).close()
        except shoebox.ShoeboxError:
            return False
        return True

    @classmethod
    def _recover_abandoned(
        cls,
        pattern: Path,
        name_re: str,
        ours: Path,
        destination: Path,
        rejects: Path,
        options: dict[str, Any],
    ) -> None:
        """Finish the files of working folders whose process died.

        Folders are per process, so a restarted consumer gets a new one; the
        dead process's folder would keep its unfinished file. A folder of the
        pattern is recovered now when the process its name ends in is gone and
        nobody holds its lock. The process check comes first: a sibling started
        a moment ago has made its folder but may not hold the lock yet, and
        taking (then deleting) the folder under it would kill it. A folder whose
        pid another process has since taken waits for a later start.
        """
        matches = re.compile(name_re + r"(-rejects)?\Z").match
        for folder in sorted(pattern.parent.glob(pattern.name)):
            rejects_folder = folder.name.endswith("-rejects")
            named = matches(folder.name)
            if (
                not folder.is_dir()
                or named is None
                or folder in (ours, ours.with_name(ours.name + "-rejects"))
                or pid_exists(int(named.group(1)))
            ):
                continue
            if not cls._recover_folder(
                folder,
                rejects if rejects_folder else destination,
                {"fmt": "json"} if rejects_folder else options,
            ):
                continue  # in use by a live process
            with contextlib.suppress(OSError):
                (folder / ".lock").unlink()
                folder.rmdir()

    def _write(
        self, archive: shoebox.Archive, records: list[Any], *, parsed: bool = False
    ) -> None:
        """Write and sync ``records``; an OSError becomes ArchiveUnavailable."""
        key = str(archive.working)
        try:
            archive.write(records, parsed=parsed)
            archive.flush()
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, "OSError")
            message = (
                f"cannot write the archive in {archive.working} "
                f"({code}: {exc.strerror or exc}; {_free_space(archive.working)}); "
                "holding the batch unacked until it can"
            )
            if key not in self._failing:
                self._failing.add(key)
                LOG.error("%s", message)
            raise ArchiveUnavailable(message) from exc
        if key in self._failing:
            self._failing.discard(key)
            LOG.info("archive in %s is writable again", archive.working)

    def _metadata(self, batch: Batch, item: Item, now: str) -> dict[str, str]:
        metadata = {
            "queue": batch.queue,
            "deployment": batch.deployment,
            "received_at": now,
        }
        if item.delivery.message_id:
            metadata["message_id"] = str(item.delivery.message_id)
        return metadata

    def handle(self, batch: Batch) -> None:
        now = format_timestamp(datetime.now(UTC))
        items = [
            item
            for item in batch.items
            if item.rejected is None
            and self._done.get(id(item.delivery)) is not item.delivery
        ]
        if items:
            self._write(
                self.archive,
                [
                    (item.delivery.body, self._metadata(batch, item, now))
                    for item in items
                ],
                # decoded by orjson already: the archive need not parse them again
                parsed=all(item.notification is not None for item in items),
            )
        self._done.update((id(item.delivery), item.delivery) for item in batch.items)

    def batch_done(self) -> None:
        self._done.clear()

    def archive_rejects(self, batch: Batch) -> None:
        """Archive the batch's rejected messages with their reasons."""
        now = format_timestamp(datetime.now(UTC))
        records = [
            (
                item.delivery.body,
                {**self._metadata(batch, item, now), "reason": item.rejected or ""},
            )
            for item in batch.items
            if item.rejected is not None
        ]
        if records:
            self._write(self.rejects, records)

    def statistics(self) -> dict[str, float]:
        total = self.archive.stats.records
        archived, self._reported = total - self._reported, total
        return {"archived": float(archived)}

    def close(self) -> None:
        self.archive.close()
        self.rejects.close()
