"""yagi-event keeps consuming whatever one notification or the archive disk does.

Real processes, the real broker and MariaDB (see test_yagi_processes): bad
notifications of every kind mixed with good ones, a full archive filesystem (a
size-limited tmpfs, mounted for the test), two processes on one yagi.conf.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import shoebox
from tests.conftest import require
from tests.functional.test_yagi_processes import Setup, stop

pytestmark = [pytest.mark.mysql, pytest.mark.rabbitmq, pytest.mark.slow]


@pytest.fixture
def setup(
    tmp_path: Path, rabbitmq_url: str, mysql_url: str, corpus_config: Path
) -> Iterator[Setup]:
    world = Setup(tmp_path, rabbitmq_url, mysql_url, corpus_config)
    yield world
    world.cleanup()


def wait_until(condition: Callable[[], bool], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def config_with(path: Path, **changes: str) -> Path:
    """Rewrite ``key = value`` lines of a generated yagi.conf."""
    lines = []
    for line in path.read_text().splitlines():
        key = line.partition("=")[0].strip()
        lines.append(f"{key} = {changes.pop(key)}" if key in changes else line)
    path.write_text("\n".join(lines) + "\n")
    return path


def _deep(depth: int) -> str:
    return "[" * depth + '"x"' + "]" * depth


def bad_notifications(template: dict[str, object]) -> dict[bytes, str]:
    """Every kind of poison -> the start of the reason it must be dead-lettered with."""

    def variant(**changes: object) -> dict[str, object]:
        body = json.loads(json.dumps(template))
        body["message_id"] = f"bad-{uuid.uuid4()}"
        body.update(changes)
        return body

    no_id = variant()
    del no_id["message_id"]
    deep_no_id = json.dumps(no_id)[:-1] + ', "deep": ' + _deep(1000) + "}"
    explode = variant()
    explode["payload"] = {**explode["payload"], "explode": 7}  # type: ignore[dict-item]
    return {
        b"{broken": "not JSON",
        b"[1, 2]": "not a JSON object",
        json.dumps(
            variant(timestamp="9999-12-31T23:00:00-05:00", _context_timestamp=None)
        ).encode(): ("distiller: no usable time"),
        json.dumps(
            variant(timestamp="0001-01-01T01:00:00+05:00", _context_timestamp=None)
        ).encode(): "distiller: no usable time",
        deep_no_id.encode(): "distiller: nested too deep",
        (json.dumps(variant())[:-1] + ', "deep": ' + _deep(2000) + "}").encode(): (
            "nested too deep"
        ),
        json.dumps(variant(event_type=None)).encode(): "distiller: no event_type",
        json.dumps(explode).encode(): "fussy: ValueError: cannot take explode=7",
    }


def test_each_kind_of_bad_notification_is_dead_lettered_and_the_rest_stored(
    setup: Setup,
) -> None:
    good = setup.notifications(600)
    template = json.loads(good[0])
    bad = bad_notifications(template)
    lines = list(good)
    for index, body in enumerate(bad):  # spread among the good ones
        lines.insert(37 * (index + 1), body)
    want = setup.expected(good)
    config = config_with(
        setup.write_config(),
        apps="tests.support.yagi_handlers:Fussy, winchester, shoebox",
        max_messages="50",
    )
    setup.publish(lines)
    consumer = setup.start(config)
    setup.wait_for(len(want))
    failed: list[tuple[bytes, dict[str, object]]] = []
    wait_until(
        lambda: bool(failed.extend(setup.drain_failed())) or len(failed) >= len(bad),
        timeout=30,
    )
    running = consumer.poll() is None
    err = stop(consumer) if running else consumer.communicate()[1]
    assert running, "yagi-event must keep running: " + err[-3000:]
    assert len(failed) == len(bad), (
        [h["x-reject-reason"] for _, h in failed],
        err[-3000:],
    )
    assert set(setup.stored()) == want
    assert sorted(body for body, _ in failed) == sorted(bad)
    for body, headers in failed:
        reason = str(headers["x-reject-reason"])
        assert reason.startswith(bad[body]), (bad[body], reason)
    exploded = json.loads(next(b for b in bad if b"explode" in b))
    assert f"message {exploded['message_id']} dead-lettered: fussy:" in err
    undecodable = next(b for b, why in bad.items() if why == "nested too deep")
    raw_id = undecodable.split(b'"message_id": "')[1].split(b'"')[0].decode()
    assert f"message {raw_id} dead-lettered: nested too deep" in err
    rejects = [
        record
        for path in sorted((setup.archive / "rejects").glob("*.gz"))
        for record in shoebox.read(path)
    ]
    assert sorted(r.body for r in rejects) == sorted(bad)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (needs root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    require(done.returncode == 0, f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_archive_disk_holds_the_batch_and_resumes_when_space_returns(
    setup: Setup, small_disk: Path
) -> None:
    lines = setup.notifications(3000)  # several MiB: far more than the disk
    want = setup.expected(lines)
    setup.archive = small_disk / "archive"
    log = setup.tmp / "yagi.log"
    config = config_with(
        setup.write_config(roll_minutes=0.05),
        destination_folder=str(setup.archive),
        working_directory=str(small_disk / "work"),
        default_level=f"INFO\nlogfile = {log}",
    )
    consumer = setup.start(config)
    setup.publish(lines)
    assert wait_until(
        lambda: log.exists() and "cannot write the archive" in log.read_text()
    )
    text = log.read_text()
    assert "ERROR" in text and "ENOSPC" in text and "MiB free" in text
    time.sleep(2)  # held batches are retried meanwhile
    assert consumer.poll() is None, "yagi-event must keep running on a full disk"
    assert len(setup.stored()) < len(want)
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    setup.wait_for(len(want))
    assert wait_until(lambda: set(setup.archived()) == set(lines))
    err = stop(consumer)
    assert "Traceback" not in err
    assert "writable again" in log.read_text()
    stored = setup.stored()
    assert len(stored) == len(set(stored)) and set(stored) == want


def test_two_consumers_on_one_config_each_take_a_folder_and_recover_the_dead(
    setup: Setup,
) -> None:
    lines = setup.notifications(3000)
    want = setup.expected(lines)
    work = setup.tmp / "work"
    config = config_with(
        setup.write_config(roll_minutes=10), working_directory=str(work)
    )
    first, victim = setup.start(config), setup.start(config)
    setup.publish(lines)
    setup.wait_for(len(want) // 4)
    assert first.poll() is None and victim.poll() is None
    host = socket.gethostname()
    assert {f"{host}-{first.pid}", f"{host}-{victim.pid}"} <= {
        p.name for p in work.iterdir()
    }
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    restarted = setup.start(config)
    setup.wait_for(len(want))
    # The first consumer may have stored everything already: wait until the
    # restarted one has recovered the victim's folder (its start-up) to stop it.
    assert wait_until(lambda: not (work / f"{host}-{victim.pid}").exists())
    stop(first)
    stop(restarted)
    stored = setup.stored()
    assert len(stored) == len(set(stored)) and set(stored) == want
    assert set(setup.archived()) == set(lines)
