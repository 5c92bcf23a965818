"""``./build.sh`` runs the sandbox on the embedded default, and ``--stop`` ends it.

A fresh clone, the sandbox started non-interactively (``--detach``) in screen,
and in the foreground with its prefixed output and Ctrl-C; notigen simulates
a whole day (and its two midnights) faster than real time, and klugman - as a
user would run it - shows completed streams and usage ``.verified`` events.
Afterwards no process of the clone is left, nor a pid file, nor the screen
session.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import require
from tests.e2e.sandbox_support import (
    audited,
    build,
    clone,
    free_port,
    pid_files,
    processes_in,
    sandbox_env,
    screen_sessions,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

#: A simulated day in ~30 s, a light cloud: the test is about the plumbing.
FAST = ("--speed", "3000", "--days", "1", "--instances", "10", "--ops-per-hour", "20")
WINDOWS = ("quince", "shell", "yagi1", "yagi2", "pipeline1", "pipeline2", "notigen")


def _stopped(root: Path, env: dict[str, str]) -> None:
    done = build(root, "--stop", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert processes_in(root) == []
    assert pid_files(root) == []


def test_sandbox_in_screen_runs_a_day_and_stops(tmp_path: Path) -> None:
    require(shutil.which("screen") is not None, "screen is not installed")
    root = clone(tmp_path / "stv3")
    port = free_port()
    env = sandbox_env()
    session = env["STACKTACH_SANDBOX_SESSION"]
    url = f"http://127.0.0.1:{port}"
    try:
        done = build(root, "--detach", "--port", str(port), *FAST, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        # what the user is told: where the API is, what to try, how to stop
        assert url in done.stdout
        assert done.stdout.count("klugman ") >= 3
        assert "./build.sh --stop" in done.stdout
        assert f"screen -r {session}" in done.stdout
        assert (root / "var" / "winchester.db").is_file()
        assert (root / "var" / "etc" / "winchester.yaml").is_file()
        windows = subprocess.run(
            ["screen", "-S", session, "-Q", "windows"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for name in WINDOWS:
            assert name in windows, windows

        # running it again is safe: it sees the sandbox and starts nothing
        run = root / "var" / "run"
        before = {f.name: f.read_text() for f in run.glob("*.pid")}
        again = build(root, "--port", str(port), env=env)
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout
        assert {f.name: f.read_text() for f in run.glob("*.pid")} == before

        # notigen runs its simulated day to its end (its window closes) ...
        notigen_pid = int((root / "var" / "run" / "notigen.pid").read_text())
        wait_for(
            lambda: not Path(f"/proc/{notigen_pid}").exists(),
            timeout=600,
            what="notigen to simulate its day",
        )
        # ... and the audit of both midnights shows in klugman
        streams, verified = wait_for(
            lambda: audited(url), timeout=300, what="completed streams and .verified"
        )
        assert {s["state"] for s in streams} == {"completed"}
        assert all(s["name"] == "usage_audit" for s in streams)
        assert all(
            e["event_type"] == "compute.instance.exists.verified" for e in verified
        )
    finally:
        _stopped(root, env)
    assert screen_sessions(session) == ""


def test_sandbox_in_the_foreground_prefixes_lines_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    root = clone(tmp_path / "stv3")
    port = free_port()
    env = sandbox_env()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(root / "build.sh"), "-q", "--no-screen", "--port", str(port), *FAST],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(iter(proc.stdout.readline, ""))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: audited(url), timeout=600, what="completed streams and .verified"
        )
        for name in ("quince", "yagi1", "yagi2", "pipeline1", "pipeline2"):
            wait_for(
                lambda name=name: any(line.startswith(f"{name} ") for line in lines),
                timeout=60,
                what=f"a line prefixed by {name}",
            )
        assert any("Ctrl-C" in line for line in lines)
        # Ctrl-C: build.sh became the runner (exec), SIGINT is what the terminal sends
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
        reader.join(timeout=10)
        assert any("stopped" in line for line in lines[-5:]), lines[-5:]
        assert processes_in(root) == []
        assert pid_files(root) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        _stopped(root, env)


def test_stop_without_a_sandbox_says_so(tmp_path: Path) -> None:
    root = clone(tmp_path / "stv3")
    done = build(root, "--stop", env=sandbox_env())
    assert done.returncode == 0
    assert "not running" in done.stdout
    status = build(root, "--status", env=sandbox_env())
    assert status.returncode == 1
