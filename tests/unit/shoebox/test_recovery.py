"""Crash recovery: leftovers of a dead process are finished at the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import shoebox
from shoebox.formats import BinaryFormat, JsonFormat, Record

from .conftest import NOTIFICATION, finished

ROOT = Path(__file__).resolve().parents[3]

CHILD = """
import sys, shoebox
archive = shoebox.Archive(sys.argv[1], sys.argv[2], fmt=sys.argv[3], roll_minutes=None)
for i in range(100):
    archive.write([(b'{"n": %d}' % i, {"i": str(i)})])
archive.flush()
print("written", flush=True)
sys.stdin.readline()  # killed while waiting here
"""


def test_leftover_of_an_unclosed_archive_is_finished(
    folders: tuple[Path, Path],
) -> None:
    first = shoebox.Archive(*folders, roll_minutes=None)
    first.write([(NOTIFICATION, {"k": "v"})])
    first.flush()
    leftover = first.open_path
    assert leftover is not None
    # No close: the process "dies". The next start finishes the file.
    second = shoebox.Archive(*folders, roll_minutes=None)
    assert not leftover.exists()
    [path] = finished(folders[0])
    assert path.name.endswith(".json.gz")
    assert list(shoebox.read(path)) == [Record(NOTIFICATION, {"k": "v"})]
    assert second.stats.recovered_files == 1
    assert second.stats.recovered_records == 1
    second.close()


@pytest.mark.parametrize("fmt", ["json", "binary"])
def test_sigkilled_process_loses_nothing_it_wrote(
    folders: tuple[Path, Path], fmt: str
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folders[0]), str(folders[1]), fmt],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"written\n"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert finished(folders[0]) == []
    archive = shoebox.Archive(*folders, fmt=fmt, roll_minutes=None)
    archive.close()
    [path] = finished(folders[0])
    records = list(shoebox.read(path))
    assert [r.metadata["i"] for r in records] == [str(i) for i in range(100)]
    assert records[7].body == b'{"n": 7}'


@pytest.mark.parametrize("fmt", [JsonFormat(), BinaryFormat()], ids=["json", "bin"])
def test_a_torn_last_record_is_cut_off(
    folders: tuple[Path, Path], fmt: JsonFormat | BinaryFormat
) -> None:
    folders[1].mkdir(parents=True)
    folders[0].mkdir()
    good = fmt.encode(Record(b'{"a": 1}', {"x": "y"}))
    torn = fmt.encode(Record(b'{"b": 2}'))[:-4]
    (folders[1] / f"20240310T000000-1-abcd{fmt.suffix}").write_bytes(good + torn)
    (folders[1] / f"20240310T000001-1-empty{fmt.suffix}").write_bytes(b"")
    stale = folders[0] / f".20240310T000000-1-abcd{fmt.suffix}.partial"
    stale.write_bytes(b"half a file from the crash")
    archive = shoebox.Archive(*folders, fmt=fmt.name, roll_minutes=None)
    [path] = finished(folders[0])
    assert list(shoebox.read(path)) == [Record(b'{"a": 1}', {"x": "y"})]
    assert archive.stats.dropped_bytes == len(torn)
    assert [p.name for p in folders[1].iterdir()] == [".lock"]
    assert not stale.exists()
    archive.close()


def test_recovered_files_go_through_the_callbacks(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    first = shoebox.Archive(*folders, roll_minutes=None)
    first.write([(NOTIFICATION, {})])
    second = shoebox.Archive(
        *folders, roll_minutes=None, callbacks=[shoebox.MoveTo(tmp_path / "up")]
    )
    assert finished(folders[0]) == []
    assert len(finished(tmp_path / "up")) == 1
    second.close()
