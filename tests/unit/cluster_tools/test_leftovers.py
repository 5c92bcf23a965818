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


def test_a_daemon_dies_with_the_test_run_that_started_it(tmp_path: Path) -> None:
    """World's yagi-event and pipeline-worker get SIGKILL when pytest dies."""
    pidfile = tmp_path / "daemon.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "from tests.cluster.world import DIE_WITH_PARENT\n"
            "child = subprocess.Popen([*DIE_WITH_PARENT, sys.executable, '-c', "
            "'import time; time.sleep(600)'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(600)\n",
        ],
        cwd=Path(__file__).parents[3],
    )
    try:
        nodes._wait(lambda: pidfile.exists() and pidfile.read_text() != "", 30, "pid")
        daemon = int(pidfile.read_text())
        assert not nodes._gone(daemon)
        parent.kill()
        parent.wait()
        nodes._wait(lambda: nodes._gone(daemon), 30, "the daemon to die")
    finally:
        parent.kill()
        parent.wait()
