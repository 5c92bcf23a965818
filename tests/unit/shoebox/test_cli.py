"""The ``shoebox`` command: ls, cat and verify."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import shoebox
from shoebox.cli import main

from .conftest import BODIES, finished

STAMPS = ["2024-03-10 12:00:00.000000", "2024-03-10 14:30:00.500000"]


def notification(n: int, stamp: str) -> str:
    return json.dumps({"event_type": "x.y", "message_id": f"m-{n}", "timestamp": stamp})


@pytest.fixture
def archive_dir(folders: tuple[Path, Path]) -> Path:
    """Two finished JSON files and one binary file in one folder."""
    with shoebox.Archive(*folders, roll_minutes=None) as archive:
        archive.write([(notification(i, s).encode(), {}) for i, s in enumerate(STAMPS)])
        archive.roll()
        archive.write([(body, {"n": str(i)}) for i, body in enumerate(BODIES)])
    binary_dest = folders[0]
    with shoebox.Archive(
        binary_dest, folders[1].with_name("bin"), fmt="binary", roll_minutes=None
    ) as archive:
        archive.write([(b'{"timestamp": "2024-03-11T00:00:00Z"}', {"k": "v"})])
    return folders[0]


def test_ls_lists_sizes_records_and_time_spans(archive_dir: Path) -> None:
    result = CliRunner().invoke(main, ["ls", str(archive_dir)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "FILE",
        "SIZE",
        "RECORDS",
        "FIRST",
        "EVENT",
        "LAST",
        "EVENT",
    ]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert len(rows) == 3
    spans = [row for row in rows.values() if "2024-03-10 14:30:00" in row]
    assert len(spans) == 1
    assert spans[0].split()[3:] == [
        "2",
        "2024-03-10",
        "12:00:00",
        "2024-03-10",
        "14:30:00",
    ]
    assert lines[-1].endswith(f"{2 + len(BODIES) + 1} records")
    as_json = CliRunner().invoke(main, ["ls", "--json", str(archive_dir)])
    reports = [json.loads(line) for line in as_json.output.splitlines()]
    assert sorted(r["records"] for r in reports) == [1, 2, len(BODIES)]


def test_cat_prints_bodies_as_received(archive_dir: Path) -> None:
    files = [str(p) for p in finished(archive_dir) if p.name.endswith(".gz")]
    result = CliRunner().invoke(main, ["cat", *files])
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.splitlines()
    assert lines[:2] == [notification(i, s).encode() for i, s in enumerate(STAMPS)]
    assert all(isinstance(json.loads(line), dict) for line in lines[2:])
    assert len(lines) == 2 + len(BODIES)


def test_cat_with_metadata_prints_whole_records(archive_dir: Path) -> None:
    [binary] = [p for p in finished(archive_dir) if p.suffix == ".dat"]
    result = CliRunner().invoke(main, ["cat", "--metadata", str(binary)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "metadata": {"k": "v"},
        "notification": {"timestamp": "2024-03-11T00:00:00Z"},
    }


def test_verify_accepts_good_files(archive_dir: Path) -> None:
    result = CliRunner().invoke(main, ["verify", str(archive_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.count("sha256 ok") == 2
    assert "3 files" in result.output and "0 with problems" in result.output


def test_verify_fails_on_a_tampered_file(archive_dir: Path) -> None:
    path = finished(archive_dir)[0]
    assert path.name.endswith(".json.gz")
    content = gzip.decompress(path.read_bytes()).replace(b"m-0", b"m-9")
    path.write_bytes(gzip.compress(content))  # still valid gzip and records
    result = CliRunner().invoke(main, ["verify", str(archive_dir)])
    assert result.exit_code == 1
    assert f"FAIL  {path}: SHA-256 of the content is" in result.output


def test_verify_fails_on_a_truncated_gzip(archive_dir: Path) -> None:
    path = finished(archive_dir)[1]
    path.write_bytes(path.read_bytes()[:-12])
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert result.exit_code == 1
    assert "gzip" in result.output


def test_cat_stops_with_an_error_at_corruption(tmp_path: Path) -> None:
    path = tmp_path / "x.dat"
    path.write_bytes(b"EVNT\x02\x00\x00\x00" + b"\x00" * 5)
    result = CliRunner().invoke(main, ["cat", str(path)])
    assert result.exit_code == 1
    assert "byte offset 0: truncated record" in result.output


def test_missing_target_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ls", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


@pytest.fixture
def redelivered(folders: tuple[Path, Path]) -> Path:
    """Two files; the second repeats two notifications of the first (a redelivery)."""
    bodies = [notification(i, STAMPS[0]).encode() for i in range(4)]
    with shoebox.Archive(*folders, roll_minutes=None) as archive:
        archive.write([(body, {}) for body in bodies[:3]])
        archive.roll()
        archive.write([(body, {}) for body in bodies[1:]])
        archive.write([(b"not json", {"message_id": "amqp-1"})] * 2)
        archive.write([(b"no id at all", {})] * 2)
    return folders[0]


def test_verify_reports_duplicate_message_ids(redelivered: Path) -> None:
    result = CliRunner().invoke(main, ["verify", str(redelivered)])
    assert result.exit_code == 0, result.output  # duplicates are not corruption
    [dup] = [line for line in result.output.splitlines() if line.startswith("DUP")]
    assert "3 message ids appear more than once (3 extra records" in dup
    assert "m-1 (2 times: " in dup and "m-2 (2 times: " in dup
    assert result.output.splitlines()[-1].endswith("3 duplicates")


def test_cat_unique_skips_records_seen_already(redelivered: Path) -> None:
    plain = CliRunner().invoke(main, ["cat", str(redelivered)])
    unique = CliRunner().invoke(main, ["cat", "--unique", str(redelivered)])
    assert unique.exit_code == 0, unique.output
    assert len(plain.output.splitlines()) == 10
    lines = unique.output.splitlines()
    ids = [json.loads(line)["message_id"] for line in lines if "m-" in line]
    assert ids == ["m-0", "m-1", "m-2", "m-3"]
    assert lines.count('{"body":"not json"}') == 1
    assert lines.count('{"body":"no id at all"}') == 2  # no id: never skipped
