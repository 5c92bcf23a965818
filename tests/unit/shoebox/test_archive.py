"""The archive writer: rolling by size and time, names, callbacks, stats."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import shoebox
from shoebox.finish import Finisher
from shoebox.formats import Record

from .conftest import BODIES, NOTIFICATION, finished, wait_for

MakeArchive = Callable[..., shoebox.Archive]
WHEN = datetime(2024, 3, 10, 12, 30, 5, 123456, tzinfo=UTC)


def test_json_roll_gzips_with_sha256_and_timestamp_in_the_name(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    archive = make_archive(clock=lambda: WHEN)
    records = [(body, {"n": str(i)}) for i, body in enumerate(BODIES)]
    assert archive.write(records) == len(BODIES)
    rolled = archive.roll()
    assert rolled is not None
    [path] = finished(folders[0])
    assert path == rolled
    match = re.fullmatch(
        r"20240310-(\d+\.\d{6})-stv3-([0-9a-f]{64})\.json\.gz", path.name
    )
    assert match is not None, path.name
    assert float(match[1]) == WHEN.timestamp()
    content = gzip.decompress(path.read_bytes())
    assert hashlib.sha256(content).hexdigest() == match[2]
    assert [(r.body, r.metadata) for r in shoebox.read(path)] == records
    assert list(folders[1].iterdir()) == [folders[1] / ".lock"]  # working emptied
    assert archive.stats.records == len(BODIES)
    assert archive.stats.files_rolled == 1


def test_binary_archive_uses_its_own_template(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    archive = make_archive(fmt="binary", clock=lambda: WHEN)
    archive.write([Record(b"payload", {"k": "v"})])
    archive.close()
    [path] = finished(folders[0])
    assert path.name == "events_2024_03_10_12_30_05_123456.dat"
    assert list(shoebox.read(path)) == [Record(b"payload", {"k": "v"})]


def test_rolls_when_the_file_reaches_the_size(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    archive = make_archive(roll_size_mb=0.01)  # 10 KiB
    body = b'{"pad": "' + b"x" * 1000 + b'"}'
    for _ in range(25):
        archive.write([(body, {})])
    files = finished(folders[0])
    assert len(files) == 2  # 10 records of ~1 KiB make a full file
    archive.close()
    files = finished(folders[0])
    assert len(files) == 3
    counts = [sum(1 for _ in shoebox.read(f)) for f in files]
    assert sum(counts) == 25
    assert archive.stats.files_rolled == 3


def test_background_finishing_leaves_write_only_the_sync(
    make_archive: MakeArchive,
    folders: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    finishing: list[str] = []
    real_finish = Finisher.finish

    def slow_finish(self: Finisher, working: Path, when: datetime) -> Path:
        finishing.append(threading.current_thread().name)
        assert release.wait(10)
        return real_finish(self, working, when)

    monkeypatch.setattr(Finisher, "finish", slow_finish)
    archive = make_archive(roll_size_mb=0.01, background=True)  # 10 KiB
    body = b'{"pad": "' + b"x" * 1000 + b'"}'
    for _ in range(25):  # two files fill up; write never waits for their finish
        archive.write([(body, {})])
    wait_for(lambda: len(finishing) == 1)
    assert finishing[0].startswith("shoebox-roll")
    assert finished(folders[0]) == []
    # the full files are synced and closed in the working folder meanwhile
    assert len(list(folders[1].glob("*.json"))) == 3
    release.set()
    wait_for(lambda: archive.stats.files_rolled == 2)
    archive.close()
    files = finished(folders[0])
    counts = [sum(1 for _ in shoebox.read(f)) for f in files]
    assert len(counts) == 3 and counts[0] == counts[1] and sum(counts) == 25
    assert list(folders[1].glob("*.json")) == []


def test_close_waits_for_the_background_finishing(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    archive = make_archive(roll_size_mb=0.01, background=True)
    body = b'{"pad": "' + b"x" * 1000 + b'"}'
    for _ in range(45):
        archive.write([(body, {})])
    archive.close()
    files = finished(folders[0])
    assert sum(sum(1 for _ in shoebox.read(f)) for f in files) == 45
    assert archive.stats.files_rolled == len(files) == 5


def test_rolls_by_time_while_idle(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    archive = make_archive(roll_minutes=0.005)  # 0.3 s
    archive.write([(NOTIFICATION, {})])
    wait_for(lambda: archive.stats.files_rolled == 1)
    assert archive.open_path is None
    assert len(finished(folders[0])) == 1
    # An idle archive with nothing open never rolls an empty file.
    threading.Event().wait(0.5)
    assert len(finished(folders[0])) == 1
    archive.write([(NOTIFICATION, {})])
    wait_for(lambda: archive.stats.files_rolled == 2)
    assert len(finished(folders[0])) == 2


def test_roll_and_close_of_an_empty_archive_do_nothing(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    archive = make_archive()
    assert archive.roll() is None
    archive.close()
    archive.close()
    assert finished(folders[0]) == []
    with pytest.raises(shoebox.ArchiveClosed):
        archive.write([(b"{}", {})])


def test_flush_puts_the_records_in_the_working_file(make_archive: MakeArchive) -> None:
    archive = make_archive()
    archive.write([(NOTIFICATION, {"a": "b"})])
    archive.flush()
    assert archive.open_path is not None
    assert list(shoebox.read(archive.open_path)) == [Record(NOTIFICATION, {"a": "b"})]


def test_bad_records_are_refused_before_anything_is_written(
    make_archive: MakeArchive,
) -> None:
    archive = make_archive()
    with pytest.raises(TypeError, match="body must be bytes"):
        archive.write([(b"{}", {}), ("text", {})])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="metadata must map str to str"):
        archive.write([(b"{}", {"n": 1})])  # type: ignore[dict-item]
    assert archive.open_path is None and archive.stats.records == 0


def test_bad_options_are_config_errors(folders: tuple[Path, Path]) -> None:
    with pytest.raises(shoebox.ShoeboxConfigError, match="unknown archive format"):
        shoebox.Archive(*folders, fmt="xml")
    with pytest.raises(shoebox.ShoeboxConfigError, match="roll_size_mb"):
        shoebox.Archive(*folders, roll_size_mb=0)
    with pytest.raises(shoebox.ShoeboxConfigError, match="roll_minutes"):
        shoebox.Archive(*folders, roll_minutes=-1)
    with pytest.raises(shoebox.ShoeboxConfigError, match="unknown archive callback"):
        shoebox.Archive(*folders, callbacks=["delte"])
    with pytest.raises(shoebox.ShoeboxConfigError, match="must differ"):
        shoebox.Archive(folders[0], folders[0])


def test_a_second_process_cannot_use_the_same_working_folder(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    make_archive()
    code = (
        "import sys, shoebox\n"
        "try:\n"
        "    shoebox.Archive(sys.argv[1], sys.argv[2])\n"
        "except shoebox.ShoeboxError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(folders[0]), str(folders[1])],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "in use by another process" in result.stdout


def test_concurrent_writers_and_timer_lose_nothing(
    make_archive: MakeArchive, folders: tuple[Path, Path]
) -> None:
    archive = make_archive(roll_minutes=0.001, roll_size_mb=0.005)

    def writer(n: int) -> None:
        for i in range(200):
            archive.write([(b'{"w": %d, "i": %d}' % (n, i), {})])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    archive.close()
    bodies = [r.body for f in finished(folders[0]) for r in shoebox.read(f)]
    assert len(bodies) == 800 == len(set(bodies))


def test_a_file_that_cannot_be_finished_is_retried_at_the_next_roll(
    make_archive: MakeArchive,
    folders: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = make_archive()
    archive.write([(b'{"n": 1}', {})])
    real_finish = Finisher.finish
    calls: list[Path] = []

    def failing_once(self: Finisher, working: Path, when: datetime) -> Path:
        calls.append(working)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real_finish(self, working, when)

    monkeypatch.setattr(Finisher, "finish", failing_once)
    assert archive.roll() is None
    assert archive.stats.finish_errors == 1 and finished(folders[0]) == []
    archive.write([(b'{"n": 2}', {})])
    archive.roll()
    files = finished(folders[0])
    assert len(files) == 2
    assert sorted(r.body for f in files for r in shoebox.read(f)) == [
        b'{"n": 1}',
        b'{"n": 2}',
    ]


def test_a_failed_write_is_undone_so_the_batch_can_be_written_again(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from shoebox import archive as archive_module

    real = archive_module._write_all

    def half_then_enospc(handle: Any, data: bytes) -> None:
        real(handle, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    first = [(b'{"n": %d}' % i, {}) for i in range(3)]
    second = [(b'{"n": %d}' % i, {}) for i in range(3, 6)]
    with shoebox.Archive(*folders, roll_minutes=None) as archive:
        archive.write(first)
        archive.flush()
        monkeypatch.setattr(archive_module, "_write_all", half_then_enospc)
        with pytest.raises(OSError, match="No space"):
            archive.write(second)
        assert archive.stats.records == 3
        monkeypatch.setattr(archive_module, "_write_all", real)
        archive.write(second)  # the held batch, again
        archive.flush()
    [path] = finished(folders[0])
    assert [r.body for r in shoebox.read(path)] == [b for b, _ in first + second]


def test_a_failed_sync_cuts_back_to_the_last_synced_record(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from shoebox import archive as archive_module

    first = [(b'{"n": 1}', {})]
    second = [(b'{"n": 2}', {})]
    with shoebox.Archive(*folders, roll_minutes=None) as archive:
        archive.write(first)
        archive.flush()
        archive.write(second)
        real_fsync = os.fsync
        monkeypatch.setattr(
            archive_module.os,
            "fsync",
            lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")),
        )
        with pytest.raises(OSError, match="I/O error"):
            archive.flush()
        monkeypatch.setattr(archive_module.os, "fsync", real_fsync)
        archive.write(second)
        archive.flush()
    [path] = finished(folders[0])
    assert [r.body for r in shoebox.read(path)] == [b'{"n": 1}', b'{"n": 2}']


def test_a_finish_that_fails_gives_its_space_back_and_keeps_the_working_file(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from shoebox import finish as finish_module

    real = finish_module._copy

    def copy_then_enospc(*args: Any) -> None:
        real(*args)
        raise OSError(errno.ENOSPC, "No space left on device")

    with shoebox.Archive(*folders, roll_minutes=None) as archive:
        archive.write([(b'{"n": 1}', {})])
        monkeypatch.setattr(finish_module, "_copy", copy_then_enospc)
        assert archive.roll() is None
        assert finished(folders[0]) == []
        assert not any(folders[0].glob(".*.partial"))
        assert archive.stats.finish_errors == 1
        monkeypatch.setattr(finish_module, "_copy", real)
    [path] = finished(folders[0])  # finished at the next roll (on close)
    assert [r.body for r in shoebox.read(path)] == [b'{"n": 1}']
