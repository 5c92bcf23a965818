"""``./build.sh -p``: a deployable tarball, installed offline on the target.

``dist/stacktach-<version>-<commit>.tar.gz`` holds one folder::

    stacktach-<version>-<commit>/
        wheels/      StackTach's wheel and a wheel of every dependency
        etc/         the sample configurations (sandbox/, production/, gunicorn)
        install.sh   install.sh [TARGET]: a virtualenv in TARGET (default
                     /opt/stv3) with everything installed from wheels/, no
                     network needed; the samples go to TARGET/etc/ (never over
                     files already there)
        VERSION      version and commit

The venv is created in its final place, so its scripts' paths are right (a
virtualenv cannot be moved after creation; this is how the tarball is
"relocatable": install it wherever you want). The target needs the same Python
minor version and platform as the build machine for the binary wheels
(orjson, psycopg-binary, ...); building on the oldest supported target is the
safe choice.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

__all__ = ["PackageError", "build"]

INSTALL_SH = """\
#!/bin/sh
# Install StackTach {version} ({commit}) from the wheels beside this script.
#
#   ./install.sh [TARGET]      TARGET defaults to /opt/stv3
#
# Creates (or upgrades) a virtualenv in TARGET, with no network access: every
# wheel is in wheels/. Needs python{python} (PYTHON=... to choose another
# interpreter of that version) with its venv module. The commands end up in
# TARGET/bin (yagi-event, pipeline-worker, quince-api, winchester-db, klugman,
# check-config, ...); the sample configs in TARGET/etc (existing files kept).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET=${{1:-/opt/stv3}}
PYTHON=${{PYTHON:-python{python}}}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "install.sh: $PYTHON not found; install Python {python} or set PYTHON" >&2
    exit 1
fi
if [ ! -x "$TARGET/bin/python" ]; then
    "$PYTHON" -m venv "$TARGET" || {{
        echo "install.sh: cannot create a virtualenv in $TARGET" \\
            "(is python{python}-venv installed, is $TARGET writable?)" >&2
        exit 1
    }}
fi
"$TARGET/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheels" \\
    --upgrade "stacktach=={version}"
mkdir -p "$TARGET/etc"
cp -R -n "$HERE/etc/." "$TARGET/etc/"
echo "StackTach {version} installed in $TARGET" \\
    "(commands in $TARGET/bin, samples in $TARGET/etc)"
"""


class PackageError(Exception):
    """The tarball could not be built (the message says why)."""


def _commit(root: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else "nogit"


def build(root: Path, output: Path) -> Path:
    """Build the tarball of the project at ``root`` into ``output``; return it."""
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    commit = _commit(root)
    name = f"stacktach-{version}-{commit}"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(prefix="stacktach-package-") as tmp:
        stage = Path(tmp) / name
        wheels = stage / "wheels"
        wheels.mkdir(parents=True)
        # A copy of the tracked files only: no var/, .venv or build leftovers.
        source = Path(tmp) / "source"
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", "--format=tar", "HEAD"],
            capture_output=True,
            check=False,
        )
        if archive.returncode == 0:
            source.mkdir()
            subprocess.run(
                ["tar", "-x", "-C", str(source)], input=archive.stdout, check=True
            )
        else:
            source = root
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir",
             str(wheels), str(source)],
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise PackageError(
                f"pip wheel failed (status {done.returncode}, see above): the "
                "package index must be reachable to fetch the dependencies"
            )
        shutil.copytree(root / "etc", stage / "etc")
        install = stage / "install.sh"
        install.write_text(
            INSTALL_SH.format(version=version, commit=commit, python=python)
        )
        install.chmod(0o755)
        (stage / "VERSION").write_text(f"{version} {commit}\n")
        output.mkdir(parents=True, exist_ok=True)
        tarball = output / f"{name}.tar.gz"
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(stage, arcname=name)
    return tarball
