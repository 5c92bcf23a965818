"""Callbacks after a roll: the built-ins, loading by name, failure isolation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import shoebox
from shoebox.callbacks import (
    ChangeExtension,
    ChangeExtensionCallback,
    Delete,
    MoveTo,
    load_callbacks,
)

from .conftest import NOTIFICATION, finished

MakeArchive = Callable[..., shoebox.Archive]


class Recorder:
    """Remembers the paths it saw."""

    seen: list[Path]

    def __init__(self) -> None:
        self.seen = []

    def on_roll(self, path: Path) -> None:
        self.seen.append(path)


class Exploding:
    """Always fails."""

    def on_roll(self, path: Path) -> Path:
        raise RuntimeError("upload failed")


def test_callbacks_run_in_order_with_the_new_path(
    make_archive: MakeArchive, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    recorder = Recorder()
    archive = make_archive(
        callbacks=[ChangeExtension(".done"), MoveTo(tmp_path / "out"), recorder]
    )
    archive.write([(NOTIFICATION, {})])
    final = archive.roll()
    assert final is not None
    assert final.parent == tmp_path / "out" and final.name.endswith(".json.done")
    assert recorder.seen == [final]
    assert finished(folders[0]) == []


def test_callbacks_by_name_with_options(
    make_archive: MakeArchive, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    archive = make_archive(
        callbacks=[
            "shoebox.callbacks:ChangeExtension",
            "move",
            "tests.unit.shoebox.test_callbacks:Recorder",
        ],
        callback_options={"new_ext": "ready", "folder": str(tmp_path / "moved")},
    )
    archive.write([(NOTIFICATION, {})])
    final = archive.roll()
    assert final is not None and final.parent == tmp_path / "moved"
    assert final.suffix == ".ready"


def test_original_names_and_keywords_are_accepted(tmp_path: Path) -> None:
    built = load_callbacks(
        "shoebox.handlers:ChangeExtensionCallback, shoebox.handlers:MoveFileCallback,"
        "shoebox.handlers:DeleteFileCallback",
        {"new_extension": ".gz2", "destination_folder": str(tmp_path / "d")},
    )
    assert [type(c) for c in built] == [ChangeExtensionCallback, MoveTo, Delete]
    path = tmp_path / "a.json.gz"
    path.write_bytes(b"x")
    result = built[0].on_roll(path)
    assert result == tmp_path / "a.json.gz.gz2"  # the original appended


def test_delete_stops_the_chain(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    recorder = Recorder()
    archive = make_archive(callbacks=["delete", recorder])
    archive.write([(NOTIFICATION, {})])
    assert archive.roll() is None
    assert finished(folders[0]) == [] and recorder.seen == []


def test_a_failing_callback_is_counted_and_archiving_goes_on(
    make_archive: MakeArchive,
    folders: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    after = Recorder()
    archive = make_archive(callbacks=[Exploding(), Delete(), after])
    for _ in range(2):
        archive.write([(NOTIFICATION, {})])
        archive.roll()
    assert archive.stats.callback_errors == 2
    assert archive.stats.files_rolled == 2
    # The delete after the failed upload did not run: both files are kept.
    assert len(finished(folders[0])) == 2
    assert after.seen == []
    assert "upload failed" in caplog.text


def test_move_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.json.gz").write_bytes(b"old")
    source = tmp_path / "a.json.gz"
    source.write_bytes(b"new")
    moved = MoveTo(tmp_path / "out").on_roll(source)
    assert moved == tmp_path / "out" / "a-1.json.gz"
    assert (tmp_path / "out" / "a.json.gz").read_bytes() == b"old"


def test_not_a_callback_is_refused() -> None:
    with pytest.raises(shoebox.ShoeboxConfigError, match="no on_roll"):
        load_callbacks(["pathlib:PurePath"])
    with pytest.raises(shoebox.ShoeboxConfigError, match="needs a folder"):
        load_callbacks(["move"])
