"""What ``shoebox ls`` and ``shoebox verify`` report about archive files.

A file's time span is that of its notifications' ``timestamp`` fields (the
oslo.messaging v2 envelope is looked into); records without one are counted
but give no time.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shoebox.exceptions import CorruptArchive
from shoebox.naming import digest_in_name
from shoebox.reader import HashingReader, content, decode_stream
from stacktach.exceptions import TimestampError
from stacktach.timeutils import parse_timestamp

__all__ = ["FileReport", "archive_files", "event_time", "examine"]


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


def event_time(body: bytes) -> datetime | None:
    """The notification's ``timestamp``, if the body is JSON and has a valid one."""
    try:
        notification: Any = json.loads(body)
        if isinstance(notification, dict) and isinstance(
            notification.get("oslo.message"), str
        ):
            notification = json.loads(notification["oslo.message"])
    except (ValueError, RecursionError):
        return None
    if not isinstance(notification, dict):
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
                when = event_time(record.body)
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
