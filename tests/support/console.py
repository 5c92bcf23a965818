"""Helpers of the console's tests: an archive written as yagi-event would, and
a stream put in ``expire_error`` as a worker does after its last attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shoebox.archive import Archive
from winchester.storage import lifecycle
from winchester.storage.engine import connect


def archive_lines(folder: Path, lines: list[bytes]) -> None:
    """The day's notifications as two shoebox files (as yagi-event would)."""
    archive = Archive(folder, folder.parent / "archive-work", roll_minutes=None)
    half = len(lines) // 2
    archive.write((line, {"queue": "monitor.info"}) for line in lines[:half])
    archive.roll()
    archive.write((line, {"queue": "monitor.info"}) for line in lines[half:])
    archive.close()


def fail_one_stream(url: str, reason: str) -> int:
    """Put one stream in ``expire_error`` the way a worker does after its
    last attempt (claim, then fail with the reason)."""
    engine = connect(url)
    wall = datetime.now(UTC)
    with engine.begin() as conn:
        claimed = lifecycle.claim(
            conn,
            lifecycle.EXPIRE,
            now=wall + timedelta(days=36500),
            wall=wall,
            owner="console-test",
            lease=timedelta(minutes=5),
            limit=1,
        )
        assert claimed, "no stream to expire"
        lifecycle.fail(
            conn,
            claimed,
            reason,
            owner="console-test",
            wall=wall,
            max_attempts=1,
            backoff=lifecycle.Backoff(),
        )
    engine.dispose()
    return claimed[0].id
