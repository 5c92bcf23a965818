"""``shoebox`` handler: archive every notification raw before anything else.

Settings from ``[shoebox]`` (``[shoebox:<queue>]`` overrides):
``destination_folder`` (finished files), ``working_directory`` (this process's
files being written: give each process its own; a ``<pid>`` placeholder is
replaced by the process id), ``format`` (``json``, the default, or ``binary``;
the original's ``roll_manager`` names map to these), ``filename_template``,
``roll_size_mb`` (20), ``roll_minutes`` (60), ``callbacks`` (comma-separated
``module:Class``), ``reject_folder`` (where rejected messages are archived with
their reason; default ``<destination_folder>/rejects``).

Every record's metadata holds ``queue``, ``deployment``, ``received_at`` and,
when the broker gave one, ``message_id``. The archive is flushed to disk before
the batch is acked, so a crash loses nothing that was acked.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shoebox
from stacktach.exceptions import ConfigError
from stacktach.timeutils import format_timestamp
from yagi.config import ConsumerConfig, YagiConfig, shoebox_number
from yagi.handlers.base import ARCHIVE, Batch, Item, YagiHandler

__all__ = ["ArchiveHandler"]

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
        template = settings.get(
            "working_directory", str(destination / ".working-<pid>")
        )
        working = Path(template.replace("<pid>", str(os.getpid())))
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
        self.archive = shoebox.Archive(destination, working, **options)
        rejects = Path(settings.get("reject_folder", str(destination / "rejects")))
        if "<pid>" in template:
            self._recover_abandoned(template, working, destination, rejects, fmt)
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

    @staticmethod
    def _recover_abandoned(
        template: str, ours: Path, destination: Path, rejects: Path, fmt: str
    ) -> None:
        """Finish the files of working folders whose process died.

        Folders are per process (``<pid>``), so a restarted consumer gets a new
        one; the dead process's folder would keep its unfinished file. Any folder
        of the template whose lock nobody holds is recovered now; one held by a
        live process is left alone.
        """
        pattern = Path(template.replace("<pid>", "*"))
        for folder in sorted(pattern.parent.glob(pattern.name)):
            rejects_folder = folder.name.endswith("-rejects")
            if not folder.is_dir() or folder in (
                ours,
                ours.with_name(ours.name + "-rejects"),
            ):
                continue
            try:
                shoebox.Archive(
                    rejects if rejects_folder else destination,
                    folder,
                    fmt="json" if rejects_folder else fmt,
                    roll_minutes=None,
                ).close()
            except shoebox.ShoeboxError:
                continue  # in use by a live process
            with contextlib.suppress(OSError):
                (folder / ".lock").unlink()
                folder.rmdir()

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
        records = [
            (item.delivery.body, self._metadata(batch, item, now))
            for item in batch.items
            if item.rejected is None
            and self._done.get(id(item.delivery)) is not item.delivery
        ]
        if records:
            self.archive.write(records)
            self.archive.flush()
        self._done = {id(item.delivery): item.delivery for item in batch.items}

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
            self.rejects.write(records)
            self.rejects.flush()

    def statistics(self) -> dict[str, float]:
        return {"archived": float(self.archive.stats.records)}

    def close(self) -> None:
        self.archive.close()
        self.rejects.close()
