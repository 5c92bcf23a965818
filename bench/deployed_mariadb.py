"""A private MariaDB configured as the ansible ``db`` role configures one.

The machine's shared MariaDB runs its package defaults: a 128 MiB buffer pool
and ``O_DIRECT``, so a benchmark over a million events (about 2.3 GB of tables)
measures the disk as much as StackTach. The ``db`` role deploys with the
buffer pool, packet size, character set and isolation of
``ansible/roles/db/defaults/main.yml`` and ``templates/60-stv3.cnf.j2``;
:func:`deployed_mariadb` runs a ``mariadbd`` of its own with those settings, on
a free port and a data folder of its own (made by ``mariadb-install-db`` when
empty, kept for a later ``--reuse``), and stops it afterwards. The shared
server is not touched.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = ROOT / "ansible" / "roles" / "db" / "defaults" / "main.yml"


def role_settings() -> dict[str, str]:
    """The ``[mysqld]`` settings the role's template writes (its defaults)."""
    defaults = yaml.safe_load(DEFAULTS.read_text())
    return {
        "character-set-server": "utf8mb4",
        "collation-server": "utf8mb4_unicode_ci",
        "max-allowed-packet": str(defaults["stv3_db_max_allowed_packet"]),
        "innodb-buffer-pool-size": str(defaults["stv3_db_innodb_buffer_pool_size"]),
        "transaction-isolation": "READ-COMMITTED",
        "innodb-autoinc-lock-mode": "2",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    sys.exit(f"deployed MariaDB: {what} within {seconds:.0f}s")


@contextmanager
def deployed_mariadb(folder: Path) -> Iterator[str]:
    """Run a private ``mariadbd`` on ``folder``; yield its admin URL (``root``
    over TCP, no password, no database)."""
    try:
        mysql = pwd.getpwnam("mysql")
        data = folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        for path in (folder, data):
            os.chown(path, mysql.pw_uid, mysql.pw_gid)
    except KeyError:
        sys.exit("--deployed-mariadb: no 'mysql' user here; install mariadb-server")
    except OSError as exc:
        sys.exit(f"--deployed-mariadb {folder}: {exc} (run as root, or another DIR)")
    port = _free_port()
    sock = folder / "mysqld.sock"
    options = [
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={sock}",
        f"--pid-file={folder / 'mariadbd.pid'}",
        f"--log-error={folder / 'error.log'}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--user=mysql",
        "--skip-name-resolve",
        *(f"--{name}={value}" for name, value in role_settings().items()),
    ]
    if not (data / "mysql").exists():
        print(f"deployed MariaDB: installing into {data}", file=sys.stderr)
        try:
            done = subprocess.run(
                ["mariadb-install-db", *options[:2], "--user=mysql", "--skip-test-db"],
                check=False,
                capture_output=True,
                text=True,
            )
        except OSError as exc:
            sys.exit(f"--deployed-mariadb: {exc} (install mariadb-server)")
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            sys.exit(
                f"--deployed-mariadb: mariadb-install-db failed: "
                f"{said[-1] if said else done.returncode}"
            )
    try:
        server = subprocess.Popen(
            ["mariadbd", *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        sys.exit(f"--deployed-mariadb: {exc} (install mariadb-server)")
    try:
        grant = (
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; "
            "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
        )

        def granted() -> bool:
            if server.poll() is not None:
                sys.exit(f"deployed MariaDB exited; see {folder / 'error.log'}")
            done = subprocess.run(
                ["mariadb", "--no-defaults", "-S", str(sock), "-uroot", "-e", grant],
                check=False,
                capture_output=True,
            )
            return done.returncode == 0

        _wait(granted, 120, "did not accept connections")
        settings = ", ".join(f"{k}={v}" for k, v in role_settings().items())
        print(f"deployed MariaDB on port {port}: {settings}", file=sys.stderr)
        yield f"mysql+pymysql://root@127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
