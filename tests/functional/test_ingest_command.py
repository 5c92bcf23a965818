"""``winchester-db ingest``: the file-ingest command, run as a real process (SQLite)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.settings import notification, write_settings
from tests.support.waiting import wait_for
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade
from winchester.storage.values import decode_traits

ROOT = Path(__file__).resolve().parents[2]


def command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "winchester.storage.cli", "-c", str(config), *args]


def run(config: Path, *args: str, stdin: bytes | None = None) -> Any:
    return subprocess.run(
        command(config, *args),
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def jsonl(*notifications: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(n).encode() + b"\n" for n in notifications)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, sa.Engine]:
    """(winchester.yaml with every setting under test, the migrated engine)."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    config = write_settings(
        tmp_path / "etc", url, distiller_ceilometer=True, catch_all_notifications=True
    )
    engine = connect(url)
    upgrade(engine)
    yield config, engine
    engine.dispose()


def events(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.event.c.message_id, schema.event.c.traits))
        return {message_id: decode_traits(traits) for message_id, traits in rows}


def test_files_are_ingested_with_the_settings_and_rejects_are_named(
    setup: tuple[Path, sa.Engine], tmp_path: Path
) -> None:
    config, engine = setup
    good = tmp_path / "good.jsonl"
    good.write_bytes(jsonl(*(notification(n) for n in range(5))))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        jsonl(notification(10, "image.upload"))
        + b"{not json\n"
        + b"\n"  # blank: skipped, but still counted as a line number
        + jsonl({"message_id": "no-type", "payload": {}}, notification(11))
    )
    result = run(config, "ingest", str(good), str(bad))
    assert result.returncode == 1, result.stderr
    err = result.stderr.decode().splitlines()
    assert [line.split(": ")[0] for line in err if line.startswith(str(bad))] == [
        f"{bad}:2",
        f"{bad}:4",
    ]
    assert "Traceback" not in result.stderr.decode()
    summary = result.stdout.decode().strip()
    assert summary.startswith("ingest: 9 lines, 7 saved, 0 duplicates")
    assert "2 rejected" in summary
    stored = events(engine)
    assert len(stored) == 7
    assert stored["msg-000001"]["host_part"] == "host-1"  # trait plugin alias
    assert stored["msg-000001"]["ctx_user"] == "user-ctx"  # Ceilometer mode
    assert stored["msg-000010"]["service"] == "compute.host-1"  # catch-all
    again = run(config, "ingest", str(good))
    assert again.returncode == 0, again.stderr
    assert "5 duplicates" in again.stdout.decode()


def test_stdin_is_a_stream_stored_batch_by_batch(
    setup: tuple[Path, sa.Engine],
) -> None:
    """Batches are stored while stdin is still open: nothing waits for EOF.

    A full batch is stored at once; a partial one once the pipe is quiet.
    """
    config, engine = setup
    process = subprocess.Popen(
        command(config, "ingest", "--batch", "10", "--max-wait", "0.2", "-"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdin is not None
        process.stdin.write(jsonl(*(notification(n) for n in range(10))))
        process.stdin.flush()
        wait_for(lambda: len(events(engine)) == 10, 60, "the first batch's rows")
        process.stdin.write(jsonl(*(notification(n) for n in range(10, 13))))
        process.stdin.flush()
        wait_for(lambda: len(events(engine)) == 13, 60, "the partial batch's rows")
        assert process.poll() is None  # still reading the open pipe
        process.stdin.write(jsonl(*(notification(n) for n in range(13, 15))))
        process.stdin.write(b'{"no": "newline at the end"}')
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, err  # the last line has no event_type
    # (after the wall clock's one warning about old traffic, when it is logged)
    assert err.decode().splitlines()[-1].startswith("<stdin>:16: ")
    assert out.decode().startswith("ingest: 16 lines, 15 saved")
    assert len(events(engine)) == 15


def test_progress_only_on_a_terminal(
    setup: tuple[Path, sa.Engine], tmp_path: Path
) -> None:
    config, _engine = setup
    source = tmp_path / "n.jsonl"
    source.write_bytes(jsonl(*(notification(n) for n in range(30))))
    piped = run(config, "ingest", "--batch", "5", str(source))
    assert piped.returncode == 0
    assert piped.stderr.count(b"lines/s") == 0  # stderr is a pipe: no progress
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run(
            command(config, "ingest", "--batch", "5", str(source)),
            stderr=terminal,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal side is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert process.returncode == 0
    assert b"lines/s" in shown  # count and rate, redrawn with \r
    assert b"\r" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "missing.jsonl"], "missing.jsonl: no such file"),
        (["ingest"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    setup: tuple[Path, sa.Engine], args: list[str], message: str
) -> None:
    config, _engine = setup
    result = run(config, *args)
    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_a_config_without_distiller_is_exit_2(tmp_path: Path) -> None:
    config = write_settings(tmp_path, "sqlite://", distiller_config=None)
    result = run(config, "ingest", "-", stdin=b"")
    assert result.returncode == 2
    assert "distiller_config: required to ingest" in result.stderr.decode()
