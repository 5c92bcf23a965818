"""What ``shoebox ls`` and ``shoebox verify`` report about archive files.

A file's time span is that of its notifications' ``timestamp`` fields (the
oslo.messaging v2 envelope is looked into); records without one are counted
but give no time.

**Duplicates.** A consumer killed between archiving a batch and acking it gets
the batch again and archives it again (the price of archive-before-ack), so an
archive may hold a notification twice. A record's id is its notification's
``message_id`` (else the ``message_id`` of its metadata, the broker's);
:class:`Duplicates` finds the ids seen more than once across a set of files
(``shoebox verify`` reports them, ``shoebox cat --unique`` skips them). It keeps
every id of the set in memory (some 100 bytes each).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shoebox.exceptions import CorruptArchive
from shoebox.naming import digest_in_name
from shoebox.reader import HashingReader, content, decode_stream
from stacktach.exceptions import TimestampError
from stacktach.timeutils import parse_timestamp

__all__ = [
    "Duplicates",
    "FileReport",
    "archive_files",
    "event_time",
    "examine",
    "record_id",
]


@dataclass(slots=True)
class FileReport:
    """One file: size, records, time span, checksums, and what is wrong with it."""

    path: Path
    size: int
    records: int = 0
    first: datetime | None = None
    last: datetime | None = None
    expected_digest: str | None = None
    digest: str | None = None
    problems: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def archive_files(targets: Iterable[str | Path]) -> list[Path]:
    """Files named, and the archive files of folders named (sorted by name).

    Hidden files (``.lock``, ``.*.partial``) and sub-folders are skipped.
    ``FileNotFoundError`` for a target that does not exist.
    """
    found: list[Path] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file() and not p.name.startswith(".")
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def _notification(body: bytes) -> dict[str, Any] | None:
    try:
        notification: Any = json.loads(body)
        if isinstance(notification, dict) and isinstance(
            notification.get("oslo.message"), str
        ):
            notification = json.loads(notification["oslo.message"])
    except (ValueError, RecursionError):
        return None
    return notification if isinstance(notification, dict) else None


def record_id(
    body: bytes,
    metadata: Mapping[str, str],
    notification: dict[str, Any] | None = None,
) -> str | None:
    """The record's id: the notification's ``message_id``, else the metadata's."""
    found = (notification or _notification(body) or {}).get("message_id")
    if isinstance(found, str) and found:
        return found
    return metadata.get("message_id") or None


@dataclass(slots=True)
class Duplicates:
    """Ids seen more than once across a set of files (see the module docstring)."""

    #: id -> the file it was first seen in.
    seen: dict[str, str] = field(default_factory=dict)
    #: id -> the files of its repeats.
    repeats: dict[str, list[str]] = field(default_factory=dict)

    def add(self, record_id: str | None, path: Path) -> bool:
        """Count one record; True when its id was seen before (a duplicate)."""
        if record_id is None:
            return False
        if record_id not in self.seen:
            self.seen[record_id] = path.name
            return False
        self.repeats.setdefault(record_id, []).append(path.name)
        return True

    @property
    def ids(self) -> int:
        """How many ids appear more than once."""
        return len(self.repeats)

    @property
    def records(self) -> int:
        """How many records repeat an id seen before."""
        return sum(len(names) for names in self.repeats.values())

    def examples(self, limit: int = 3) -> list[str]:
        """``id (n times: file, file)`` for the first few duplicated ids."""
        out = []
        for record_id, names in list(self.repeats.items())[:limit]:
            files = sorted({self.seen[record_id], *names})
            out.append(f"{record_id} ({len(names) + 1} times: {', '.join(files)})")
        return out


def event_time(body: bytes) -> datetime | None:
    """The notification's ``timestamp``, if the body is JSON and has a valid one."""
    return _event_time(_notification(body))


def _event_time(notification: dict[str, Any] | None) -> datetime | None:
    if notification is None:
        return None
    stamp = notification.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return parse_timestamp(stamp)
    except TimestampError:
        return None


def examine(path: Path) -> FileReport:
    """Read the whole file: records, time span, SHA-256 against the name."""
    report = FileReport(path, path.stat().st_size)
    report.expected_digest = digest_in_name(path.name)
    try:
        with content(path) as stream:
            hashing = HashingReader(stream)
            buffered = io.BufferedReader(hashing)
            for record in decode_stream(path, buffered):
                report.records += 1
                notification = _notification(record.body)
                found = record_id(record.body, record.metadata, notification)
                if found is not None:
                    report.ids.append(found)
                when = _event_time(notification)
                if when is not None:
                    if report.first is None or when < report.first:
                        report.first = when
                    if report.last is None or when > report.last:
                        report.last = when
            report.digest = hashing.digest.hexdigest()
    except CorruptArchive as exc:
        report.problems.append(str(exc))
        return report
    except OSError as exc:
        report.problems.append(f"{path}: {exc}")
        return report
    if report.expected_digest and report.digest != report.expected_digest:
        report.problems.append(
            f"{path}: SHA-256 of the content is {report.digest}, "
            f"the name says {report.expected_digest}"
        )
    return report
