"""Helpers of the sandbox tests: a fresh clone, ``./build.sh`` in it, klugman.

Every test works on a ``git clone`` of this repository's HEAD in a temporary
folder, so its ``var/`` and processes are its own. It reuses the installed
virtualenv (``STACKTACH_VENV``, with ``-q``) instead of installing one per
test; ``PYTHONPATH`` (set by build.sh) makes the processes import the clone's
code. A test stops its sandbox whatever happens, and checks that no process is
left whose working directory is the clone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
KLUGMAN = VENV / "bin" / "klugman"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clone(dest: Path) -> Path:
    """A fresh clone of this repository's HEAD at ``dest``."""
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def sandbox_env(**extra: str) -> dict[str, str]:
    """The environment of ./build.sh: this venv, a screen session of the test's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STACKTACH_", "PYTEST_")) and key != "PYTHONPATH"
    }
    env["STACKTACH_VENV"] = str(VENV)
    env["STACKTACH_SANDBOX_SESSION"] = f"stt-{uuid.uuid4().hex[:8]}"
    env.update(extra)
    return env


def build(
    root: Path, *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``./build.sh -q ARGS`` in ``root``."""
    return subprocess.run(
        [str(root / "build.sh"), "-q", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def klugman(url: str, *args: str) -> Any:
    """``klugman --url URL --json ARGS``, parsed (None when it fails)."""
    done = subprocess.run(
        [str(KLUGMAN), "--url", url, "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return None
    return json.loads(done.stdout)


def audited(url: str) -> tuple[list[Any], list[Any]] | None:
    """(completed streams, .verified events) once both exist, else None."""
    streams = klugman(url, "streams", "--state", "completed")
    verified = klugman(
        url, "events", "--event-type", "compute.instance.exists.verified"
    )
    if streams and verified:
        return streams, verified
    return None


def processes_in(root: Path) -> list[str]:
    """Live processes (pid and command) whose working directory is ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") != str(root):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if state != "Z":
            found.append(f"{entry.name} {command.decode(errors='replace')}")
    return found


def pid_files(root: Path) -> list[str]:
    """The sandbox's pid files left under ``root/var/run``."""
    return sorted(p.name for p in (root / "var" / "run").glob("*.pid"))


def screen_sessions(name: str) -> str:
    """``screen -ls NAME`` output (empty when screen has no such session)."""
    done = subprocess.run(
        ["screen", "-ls", name], capture_output=True, text=True, check=False
    )
    return "\n".join(line for line in done.stdout.splitlines() if line.startswith("\t"))
