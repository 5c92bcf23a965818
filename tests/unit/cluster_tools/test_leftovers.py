"""The cluster fixtures stop what a killed test run left running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cluster import nodes


def _dead_pid() -> int:
    """A pid no process has now (a finished child's)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_nodes_of_a_dead_run_are_stopped_and_its_folder_deleted(
    tmp_path: Path,
) -> None:
    prefix = str(tmp_path / "stacktach-cluster-")
    dead = Path(f"{prefix}{_dead_pid()}")
    mine = Path(f"{prefix}{os.getpid()}")  # this pytest's: alive, left alone
    for folder in (dead, mine):
        (folder / "n1").mkdir(parents=True)
    sleeper = "import time; time.sleep(600)"
    by_argument = subprocess.Popen(
        [sys.executable, "-c", sleeper, f"--datadir={dead}/n1/data"]
    )
    by_environment = subprocess.Popen(
        [sys.executable, "-c", sleeper], env={**os.environ, "HOME": f"{dead}/n1"}
    )
    bystander = subprocess.Popen(
        [sys.executable, "-c", sleeper, f"--datadir={mine}/n1/data"]
    )
    try:
        assert nodes.stop_leftovers(prefix) == [dead]
        assert by_argument.wait(timeout=30) == -9
        assert by_environment.wait(timeout=30) == -9
        assert bystander.poll() is None
        assert not dead.exists()
        assert mine.exists()
    finally:
        for process in (by_argument, by_environment, bystander):
            process.kill()
            process.wait()
