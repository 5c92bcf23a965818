"""Fixtures for the shoebox tests: folders, sample records and archives to read."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import shoebox

NOTIFICATION = (
    b'{"event_type": "compute.instance.create.end", "message_id": "m-1", '
    b'"timestamp": "2024-03-10 12:00:00.000000", "payload": {"instance_id": "i-1"}}'
)

# Every kind of body the archive must give back byte for byte.
BODIES = [
    NOTIFICATION,
    b'{"compact":true,"n":[1,2.50,3e2]}',  # JSON whose re-encoding would differ
    b'  {"padded": "yes"}  ',
    b'{\n  "pretty": "printed"\n}',  # JSON over several lines
    b"not json at all",
    b'{"nan": NaN}',  # Python's json accepts NaN; JSON does not
    "unicode \u00e9\u2028 text".encode(),
    b"\xff\xfe\x00binary",
    b"",
    b'{"huge": 1e400}',  # out of a double's range: not strict JSON
    b'{"lone": "\\ud800"}',  # a lone surrogate escape
    b"[" * 1100 + b"]" * 1100,  # deeper than a parser will go
]


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(destination, working) folders, not created yet."""
    return tmp_path / "archive", tmp_path / "work" / "p1"


def finished(folder: Path) -> list[Path]:
    """The finished (non-hidden) files of ``folder``, sorted by name."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    event = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        event.wait(0.02)
    pytest.fail("condition not reached in time")


@pytest.fixture
def make_archive(
    folders: tuple[Path, Path],
) -> Iterator[Callable[..., shoebox.Archive]]:
    """Build archives on ``folders`` (keyword overrides); closed at teardown."""
    made: list[shoebox.Archive] = []

    def make(**kwargs: object) -> shoebox.Archive:
        options: dict[str, object] = {"roll_minutes": None}
        options.update(kwargs)
        archive = shoebox.Archive(folders[0], folders[1], **options)  # type: ignore[arg-type]
        made.append(archive)
        return archive

    yield make
    for archive in made:
        archive.close()
