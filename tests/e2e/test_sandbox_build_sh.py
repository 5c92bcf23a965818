"""``./build.sh``'s command line: its help, and ``-d`` wired to ansible-playbook.

These run build.sh with ``-q`` (no install) on a copy of it, without starting
anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(
    root: Path, *args: str, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STACKTACH_VENV": sys.prefix}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        ["/bin/bash", str(root / "build.sh"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _tools(folder: Path, *names: str) -> str:
    """A PATH of ``folder`` holding only the named commands (from this PATH)."""
    folder.mkdir(exist_ok=True)
    for name in names:
        found = shutil.which(name)
        assert found, name
        (folder / name).symlink_to(found)
    return str(folder)


def test_help_lists_every_option() -> None:
    done = _run(ROOT, "-h")
    assert done.returncode == 0
    for option in (
        "-t", "-q", "-p", "-d INVENTORY", "-h", "--stop", "--status",
        "--production", "--db-url", "--broker-url", "--exchange", "--queue",
        "--port", "--detach", "--no-screen", "--speed", "--days",
        "STACKTACH_PRODUCTION", "STACKTACH_NONINTERACTIVE", "STACKTACH_VENV",
    ):  # fmt: skip
        assert option in done.stdout, option


def test_unknown_option_is_one_line(tmp_path: Path) -> None:
    done = _run(ROOT, "--frobnicate")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "build.sh: unknown option '--frobnicate' (try ./build.sh -h)"
    )


def test_deploy_runs_the_site_playbook(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "ansible").mkdir(parents=True)
    shutil.copy(ROOT / "build.sh", repo / "build.sh")
    (repo / "ansible" / "site.yml").write_text("---\n")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[api]\napi1\n")
    bin_dir = tmp_path / "bin"
    path = _tools(bin_dir, "dirname", "cat", "sed", "ls", "head")
    # no ansible-playbook on the PATH: one line saying what to install
    missing = _run(repo, "-q", "-d", str(inventory), path=path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "build.sh: -d: ansible-playbook is not installed "
        "(pip install ansible-core, or apt-get install ansible)"
    ]
    # a stand-in ansible-playbook records how it was called
    record = tmp_path / "called"
    fake = bin_dir / "ansible-playbook"
    fake.write_text(f'#!/bin/sh\necho "$PWD $*" > {record}\n')
    fake.chmod(0o755)
    # no tarball to install yet: one line saying how to build one
    untarred = _run(repo, "-q", "-d", str(inventory), path=path)
    assert untarred.returncode == 2
    assert untarred.stderr.strip() == (
        f"build.sh: -d: no tarball in {repo}/dist: build one first "
        f"(./build.sh -p -d {inventory})"
    )
    (repo / "dist").mkdir()
    tarball = repo / "dist" / "stacktach-1.0-abc.tar.gz"
    tarball.write_bytes(b"")
    done = _run(repo, "-q", "-d", str(inventory), path=path)
    assert done.returncode == 0, done.stderr
    assert record.read_text().split() == [
        str(repo),
        "-i",
        str(inventory),
        "ansible/site.yml",
        "-e",
        f"stv3_tarball={tarball}",
    ]
    # a missing inventory is named
    gone = _run(repo, "-q", "-d", str(tmp_path / "nope.ini"), path=path)
    assert gone.returncode == 2
    assert "nope.ini' not found" in gone.stderr
