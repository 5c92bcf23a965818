"""``./build.sh -p``: a tarball that installs offline into an empty folder.

The tarball is built from a fresh clone, unpacked in a temporary folder, and
its install.sh puts StackTach into another, empty one (standing in for
/opt/stv3) from the bundled wheels alone (``--no-index``). The installed
commands then run from there, outside the repository, with no PYTHONPATH:
their help, check-config on the shipped samples, and the migrations on a new
SQLite database (so the migration scripts are in the wheel).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.e2e.sandbox_support import build, clone, sandbox_env

pytestmark = pytest.mark.slow

COMMANDS = (
    "yagi-event",
    "pipeline-worker",
    "winchester-db",
    "quince-api",
    "klugman",
    "notigen",
    "shoebox",
    "distiller",
    "check-config",
)


def test_tarball_installs_into_an_empty_folder_and_runs(tmp_path: Path) -> None:
    root = clone(tmp_path / "stv3")
    done = build(root, "-p", env=sandbox_env(), timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tarball = Path(done.stdout.strip().splitlines()[-1])
    assert tarball.parent == root / "dist" and tarball.name.endswith(".tar.gz")

    unpacked = tmp_path / "unpacked"
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")
    (folder,) = unpacked.iterdir()
    assert any(p.name.startswith("stacktach-") for p in (folder / "wheels").iterdir())

    target = tmp_path / "opt" / "stv3"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("PIP_")
    }
    env["PIP_NO_INDEX"] = "1"  # nothing from the network: the wheels only
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    installed = subprocess.run(
        [str(folder / "install.sh"), str(target)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert str(target) in installed.stdout

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(target / "bin" / argv[0]), *argv[1:]],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    for command in COMMANDS:
        helped = run(command, "--help")
        assert helped.returncode == 0, f"{command}: {helped.stderr}"
        assert "Usage:" in helped.stdout
    # the code runs from the target, not from the repository
    where = run("python", "-c", "import winchester; print(winchester.__file__)")
    assert where.stdout.startswith(str(target)), where.stdout

    samples = target / "etc" / "sandbox" / "winchester.yaml"
    checked = run("check-config", "-c", str(samples))
    assert checked.returncode == 0, checked.stderr
    config = tmp_path / "winchester.yaml"
    config.write_text(
        samples.read_text().replace(
            "sqlite:///var/winchester.db", f"sqlite:///{tmp_path / 'w.db'}"
        )
    )
    for name in ("event_definitions.yaml", "triggers.yaml", "pipelines.yaml"):
        (tmp_path / name).write_text((samples.parent / name).read_text())
    (tmp_path / "logging.conf").write_text(
        (samples.parent / "logging.conf").read_text()
    )
    upgraded = run("winchester-db", "-c", str(config), "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "w.db").is_file()
