"""Three-node RabbitMQ and MariaDB Galera clusters on one machine (tests, by hand).

Each node is its own server process with its own ports and data folder under one
base folder (``--base``, default ``$STACKTACH_CLUSTER_DIR`` or
``/tmp/stacktach-cluster``), beside the shared servers and never touching them::

    python -m tests.cluster.nodes start rabbit     # 3 nodes, AMQP 27672-27674
    python -m tests.cluster.nodes start galera     # 3 nodes, SQL 13306-13308
    python -m tests.cluster.nodes status galera
    python -m tests.cluster.nodes kill galera 2    # kill -9 node 2
    python -m tests.cluster.nodes restart galera 2 # rejoin (IST)
    python -m tests.cluster.nodes stop rabbit      # stop and delete its data
    python -m tests.cluster.nodes leftovers        # stop what dead test runs left

RabbitMQ nodes are ``stt1@localhost`` .. ``stt3@localhost`` (guest/guest), with a
private epmd and Erlang cookie; Galera nodes take user ``stacktach`` without a
password over TCP. The facts these follow are in
``/work/shared/reference/clusters.md`` (user ``mysql`` for rsync SST, a private
``HOME`` for the Erlang cookie, ``--wsrep-recover`` before a restart, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["GaleraCluster", "RabbitCluster", "main", "stop_leftovers"]

NODES = (1, 2, 3)
DEFAULT_BASE = Path(os.environ.get("STACKTACH_CLUSTER_DIR", "/tmp/stacktach-cluster"))

# Every port sits below Linux's ephemeral range (32768-60999): there, any client
# socket of the test run may hold a port as its own end, and a node that cannot
# listen on it fails to boot ("rabbit_is_not_running").
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
RABBIT_AMQP = 27671  # + node number
RABBIT_DIST = 27681  # + node number
RABBIT_EPMD = 24369
RABBIT_CTL_DIST = (27690, 27699)

GALERA_SQL = 13305  # + node number
GALERA_GCOMM = 14566
GALERA_IST = 14576
GALERA_SST = 14586
GALERA_PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
GALERA_USER = "stacktach"


class ClusterError(Exception):
    """A cluster node failed to start, join or stop (the message says which)."""


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _check_free(ports: Sequence[int], what: str) -> None:
    """Refuse to start when another socket holds one of ``ports`` (even as a client)."""
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                raise ClusterError(
                    f"{what} needs port {port}, which another socket holds "
                    f"({exc.strerror}): see `ss -tanp | grep :{port}`"
                ) from None


def _tail(path: Path, size: int = 1500) -> str:
    """The end of log file ``path``, or a note that it is missing."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, path.stat().st_size - size))
            return log.read().decode(errors="replace").strip()
    except OSError as exc:
        return f"(no log: {exc.strerror}: {path})"


def _pid_of(pidfile: Path, name: str) -> int | None:
    """The pid in ``pidfile`` if it is alive and is ``name`` (pids get recycled)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if name.encode() in cmdline else None


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return True
    return state == "Z"


def _signal(pid: int | None, sig: int) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


# ------------------------------------------------------------------------- RabbitMQ


class RabbitCluster:
    """Three RabbitMQ nodes ``stt1..3@localhost`` clustered under ``base/rabbit``."""

    def __init__(self, base: Path = DEFAULT_BASE) -> None:
        self.root = base / "rabbit"
        self.home = self.root / "home"

    def name(self, n: int) -> str:
        return f"stt{n}@localhost"

    def port(self, n: int) -> int:
        return RABBIT_AMQP + n

    def url(self, n: int) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port(n)}//"

    def urls(self, order: Sequence[int] = NODES) -> str:
        """A ``;``-separated failover list of the nodes in ``order``."""
        return ";".join(self.url(n) for n in order)

    def _env(self, n: int | None = None) -> dict[str, str]:
        interface = "-kernel inet_dist_use_interface {127,0,0,1}"
        env = {
            **os.environ,
            "HOME": str(self.home),
            "ERL_EPMD_PORT": str(RABBIT_EPMD),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(RABBIT_CTL_DIST[0]),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(RABBIT_CTL_DIST[1]),
            "RABBITMQ_CTL_ERL_ARGS": interface,
        }
        if n is not None:
            folder = self.root / f"n{n}"
            env.update(
                RABBITMQ_NODENAME=self.name(n),
                RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
                RABBITMQ_NODE_PORT=str(self.port(n)),
                RABBITMQ_DIST_PORT=str(RABBIT_DIST + n),
                RABBITMQ_MNESIA_BASE=str(folder / "mnesia"),
                RABBITMQ_LOG_BASE=str(folder / "log"),
                RABBITMQ_PID_FILE=str(folder / "pid"),
                RABBITMQ_CONFIG_FILE=str(folder / "rabbitmq.conf"),
                RABBITMQ_ADVANCED_CONFIG_FILE=str(folder / "advanced.config"),
                RABBITMQ_ENABLED_PLUGINS_FILE=str(folder / "enabled_plugins"),
                RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=interface,
            )
        return env

    def ctl(self, n: int, *args: str, timeout: float = 120) -> str:
        """Run ``rabbitmqctl -n stt<n>@localhost ARGS``; its output."""
        done = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name(n), *args],
            env=self._env(),
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"rabbitmqctl {' '.join(args)} on {self.name(n)} failed: "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )
        return done.stdout

    def pid(self, n: int) -> int | None:
        return _pid_of(self.root / f"n{n}" / "pid", "beam")

    def _prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text("STACKTACHCLUSTERTESTCOOKIE")
            cookie.chmod(0o400)
        (self.root / "rabbitmq-env.conf").write_text("")
        for n in NODES:
            folder = self.root / f"n{n}"
            (folder / "log").mkdir(parents=True, exist_ok=True)
            (folder / "enabled_plugins").write_text("[].\n")
            (folder / "advanced.config").write_text("[].\n")
            (folder / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{self.port(n)}\n"
                "disk_free_limit.absolute = 50MB\n"
                "vm_memory_high_watermark.relative = 0.2\n"
                "cluster_formation.peer_discovery_backend = classic_config\n"
            )

    def _epmd(self) -> None:
        if not _answers(RABBIT_EPMD):
            subprocess.run(
                ["epmd", "-port", str(RABBIT_EPMD), "-address", "127.0.0.1", "-daemon"],
                check=True,
                env=self._env(),
            )
            _wait(lambda: _answers(RABBIT_EPMD), 10, "the cluster's epmd")

    def start_node(self, n: int) -> None:
        """Start node ``n`` (detached) and wait until its application runs."""
        _check_free(self.ports(n), self.name(n))
        self._spawn(n)
        self._wait_node(n)

    def _spawn(self, n: int) -> None:
        self._epmd()
        folder = self.root / f"n{n}"
        (folder / "pid").unlink(missing_ok=True)  # a killed node's is stale
        with (folder / "log" / "console.log").open("ab") as log:
            subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self._env(n),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _wait_node(self, n: int) -> None:
        folder = self.root / f"n{n}"
        try:
            _wait((folder / "pid").exists, 60, f"{self.name(n)}'s pid file")
            self.ctl(n, "wait", str(folder / "pid"), "--timeout", "120", timeout=150)
        except (ClusterError, subprocess.TimeoutExpired) as exc:
            log = folder / "log" / f"{self.name(n)}.log"
            raise ClusterError(f"{exc}\n--- end of {log}:\n{_tail(log)}") from None

    def ports(self, n: int) -> tuple[int, int]:
        """Node ``n``'s AMQP and distribution ports."""
        return self.port(n), RABBIT_DIST + n

    def start(self) -> None:
        """Start the three nodes and join 2 and 3 to 1 (a no-op when running)."""
        if all(self.running(n) for n in NODES):
            return
        self._prepare()
        starting = [n for n in NODES if not self.running(n)]
        for n in starting:
            _check_free(self.ports(n), self.name(n))
        self._epmd()
        for n in starting:
            self._spawn(n)
        for n in starting:
            self._wait_node(n)
        members = self.members()
        for n in (2, 3):
            if self.name(n) not in members:
                self.ctl(n, "stop_app")
                self.ctl(n, "join_cluster", self.name(1))
                self.ctl(n, "start_app")

    def running(self, n: int) -> bool:
        return self.pid(n) is not None and _answers(self.port(n))

    def members(self) -> list[str]:
        """Running members of the cluster, as node 1 sees them."""
        for n in NODES:
            if not self.running(n):
                continue
            data = json.loads(self.ctl(n, "cluster_status", "--formatter", "json"))
            return sorted(data.get("running_nodes", []))
        return []

    def leader(self, queue: str) -> int:
        """The number of the node that leads quorum queue ``queue``."""
        for n in NODES:
            if not self.running(n):
                continue
            rows = json.loads(
                self.ctl(n, "list_queues", "name", "leader", "--formatter", "json")
            )
            for row in rows:
                if row.get("name") == queue and row.get("leader"):
                    return int(str(row["leader"]).split("@")[0].removeprefix("stt"))
        raise ClusterError(f"no leader found for queue {queue!r}")

    def kill(self, n: int) -> None:
        """kill -9 node ``n``'s Erlang VM."""
        pid = self.pid(n)
        _signal(pid, signal.SIGKILL)
        if pid is not None:
            _wait(lambda: _gone(pid), 30, f"{self.name(n)} to die")

    def stop(self, *, purge: bool = True) -> None:
        """Stop every node and the private epmd; delete the data when ``purge``."""
        for n in NODES:
            pid = self.pid(n)
            if pid is None:
                continue
            _signal(pid, signal.SIGTERM)
        for n in NODES:
            pid = self.pid(n)
            if pid is not None:
                try:
                    _wait(lambda p=pid: _gone(p), 60, f"{self.name(n)} to stop")
                except ClusterError:
                    _signal(pid, signal.SIGKILL)
        self._stop_epmd()
        if purge:
            shutil.rmtree(self.root, ignore_errors=True)

    def _stop_epmd(self) -> None:
        """Stop the cluster's own epmd (``-kill`` refuses while a name is left)."""
        mark = f"epmd -port {RABBIT_EPMD} ".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if cmdline.startswith(mark) or b"/epmd -port %d " % RABBIT_EPMD in cmdline:
                _signal(int(proc.name), signal.SIGTERM)

    def status(self) -> dict[str, object]:
        return {
            "nodes": {
                self.name(n): {"url": self.url(n), "running": self.running(n)}
                for n in NODES
            },
            "members": self.members(),
            "failover_url": self.urls(),
        }


# --------------------------------------------------------------------------- Galera


class GaleraCluster:
    """Three MariaDB Galera nodes under ``base/galera``, SQL on 13306-13308."""

    def __init__(self, base: Path = DEFAULT_BASE) -> None:
        self.root = base / "galera"

    def port(self, n: int) -> int:
        return GALERA_SQL + n

    def url(self, n: int, database: str = "") -> str:
        return f"mysql+pymysql://{GALERA_USER}@127.0.0.1:{self.port(n)}/{database}"

    def _folder(self, n: int) -> Path:
        return self.root / f"n{n}"

    def _cnf(self, n: int) -> Path:
        return self._folder(n) / "my.cnf"

    def _log(self, n: int) -> Path:
        return self._folder(n) / "error.log"

    def pid(self, n: int) -> int | None:
        return _pid_of(self._folder(n) / "mariadbd.pid", "mariadbd")

    def ports(self, n: int) -> tuple[int, int, int, int]:
        """Node ``n``'s SQL, group communication, IST and SST ports."""
        return self.port(n), GALERA_GCOMM + n, GALERA_IST + n, GALERA_SST + n

    def _prepare(self) -> None:
        mysql = pwd.getpwnam("mysql")
        gcomm = ",".join(f"127.0.0.1:{GALERA_GCOMM + n}" for n in NODES)
        for n in NODES:
            folder = self._folder(n)
            (folder / "data").mkdir(parents=True, exist_ok=True)
            for path in (self.root, folder, folder / "data"):
                os.chown(path, mysql.pw_uid, mysql.pw_gid)
            options = ";".join(
                (
                    f"gmcast.listen_addr=tcp://127.0.0.1:{GALERA_GCOMM + n}",
                    f"ist.recv_addr=127.0.0.1:{GALERA_IST + n}",
                    "gcache.size=64M",
                    # Notice a dead node in ~2 s rather than 5-6 s (keepalive
                    # must stay below suspect_timeout / 3).
                    "evs.keepalive_period=PT0.5S",
                    "evs.suspect_timeout=PT2S",
                    "evs.inactive_timeout=PT4S",
                    "evs.inactive_check_period=PT0.5S",
                    "evs.install_timeout=PT4S",
                )
            )
            self._cnf(n).write_text(
                "[mysqld]\n"
                f"datadir={folder / 'data'}\n"
                f"socket={folder / 'mysqld.sock'}\n"
                f"pid-file={folder / 'mariadbd.pid'}\n"
                f"log-error={self._log(n)}\n"
                f"port={self.port(n)}\n"
                "bind-address=127.0.0.1\n"
                "user=mysql\n"
                "skip-name-resolve\n"
                "binlog_format=ROW\n"
                "default_storage_engine=InnoDB\n"
                "innodb_autoinc_lock_mode=2\n"
                "innodb_buffer_pool_size=128M\n"
                "innodb_flush_log_at_trx_commit=2\n"
                "max_connections=300\n"
                "wsrep_on=ON\n"
                f"wsrep_provider={GALERA_PROVIDER}\n"
                "wsrep_cluster_name=stacktach_test\n"
                f"wsrep_cluster_address=gcomm://{gcomm}\n"
                f"wsrep_node_name=node{n}\n"
                f"wsrep_node_address=127.0.0.1:{GALERA_GCOMM + n}\n"
                f'wsrep_provider_options="{options}"\n'
                "wsrep_sst_method=rsync\n"
                f"wsrep_sst_receive_address=127.0.0.1:{GALERA_SST + n}\n"
                "wsrep_slave_threads=2\n"
            )

    def _spawn(self, n: int, *extra: str) -> None:
        subprocess.Popen(
            ["mariadbd", f"--defaults-file={self._cnf(n)}", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def query(self, n: int, sql: str) -> list[tuple[object, ...]]:
        """Run ``sql`` on node ``n`` over TCP as the test user; the rows."""
        import pymysql

        conn = pymysql.connect(
            host="127.0.0.1", port=self.port(n), user=GALERA_USER, connect_timeout=3
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def state(self, n: int) -> str:
        """``wsrep_local_state_comment`` of node ``n`` ('Synced', ...), or 'down'."""
        try:
            rows = self.query(n, "SHOW STATUS LIKE 'wsrep_local_state_comment'")
        except Exception:
            return "down"
        return str(rows[0][1]) if rows else "down"

    def size(self, n: int) -> int:
        rows = self.query(n, "SHOW STATUS LIKE 'wsrep_cluster_size'")
        return int(str(rows[0][1]))

    def _wait_synced(self, n: int, timeout: float = 180) -> None:
        def synced() -> bool:
            if self.pid(n) is None and self._log(n).exists():
                tail = self._log(n).read_text(errors="replace")[-1500:]
                if "[ERROR]" in tail and "Aborting" in tail:
                    raise ClusterError(f"galera node {n} failed to start: {tail}")
            return self.state(n) == "Synced"

        _wait(synced, timeout, f"galera node {n} to be Synced")

    def start(self) -> None:
        """Bootstrap node 1, add the test user, join nodes 2 and 3 (SST)."""
        if all(self.state(n) == "Synced" for n in NODES):
            return
        for n in NODES:
            if self.pid(n) is None:
                _check_free(self.ports(n), f"galera node {n}")
        self._prepare()
        first = self._folder(1) / "data"
        if not (first / "mysql").exists():
            subprocess.run(
                [
                    "mariadb-install-db",
                    f"--defaults-file={self._cnf(1)}",
                    "--user=mysql",
                    "--skip-test-db",
                ],
                check=True,
                capture_output=True,
            )
        self._spawn(1, "--wsrep-new-cluster")
        sock = self._folder(1) / "mysqld.sock"
        _wait(sock.exists, 60, "galera node 1's socket")
        grant = (
            f"CREATE USER IF NOT EXISTS '{GALERA_USER}'@'%'; "
            f"GRANT ALL ON *.* TO '{GALERA_USER}'@'%' WITH GRANT OPTION;"
        )
        _wait(
            lambda: (
                subprocess.run(
                    [
                        "mariadb",
                        "--no-defaults",
                        "-S",
                        str(sock),
                        "-uroot",
                        "-e",
                        grant,
                    ],
                    check=False,
                    capture_output=True,
                ).returncode
                == 0
            ),
            60,
            "galera node 1 to accept the test user",
        )
        self._wait_synced(1)
        for n in (2, 3):
            self._spawn(n)
            self._wait_synced(n)
        _wait(lambda: self.size(1) == 3, 60, "a galera cluster of 3")

    def kill(self, n: int) -> None:
        """kill -9 node ``n``."""
        pid = self.pid(n)
        _signal(pid, signal.SIGKILL)
        if pid is not None:
            _wait(lambda: _gone(pid), 30, f"galera node {n} to die")

    def restart(self, n: int) -> None:
        """Bring a killed node back: recover its position, rejoin by IST."""
        done = subprocess.run(
            [
                "mariadbd",
                f"--defaults-file={self._cnf(n)}",
                "--wsrep-recover",
                f"--log-error={self._folder(n) / 'recover.log'}",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        text = (self._folder(n) / "recover.log").read_text(errors="replace")
        found = re.findall(r"Recovered position:\s*(\S+:-?\d+)", text + done.stderr)
        self._spawn(n, *([f"--wsrep_start_position={found[-1]}"] if found else []))
        self._wait_synced(n)

    def stop(self, *, purge: bool = True) -> None:
        """Stop every node; delete the data when ``purge``."""
        pids = [self.pid(n) for n in NODES]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        for n, pid in zip(NODES, pids, strict=True):
            if pid is not None:
                try:
                    _wait(lambda p=pid: _gone(p), 60, f"galera node {n} to stop")
                except ClusterError:
                    _signal(pid, signal.SIGKILL)
        if purge:
            shutil.rmtree(self.root, ignore_errors=True)

    def status(self) -> dict[str, object]:
        return {f"node{n}": {"url": self.url(n), "state": self.state(n)} for n in NODES}


# ------------------------------------------------------------------------------ CLI


#: The folders of test runs: ``/tmp/stacktach-cluster-<pid of pytest>``.
RUN_PREFIX = "/tmp/stacktach-cluster-"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (any process: a reused pid keeps the
    folder, which is only the old "ports are taken" message, never a kill of
    a live run's nodes)."""
    return Path(f"/proc/{pid}").exists()


def _mentions(pid: str, needle: bytes) -> bool:
    for part in ("cmdline", "environ"):
        try:
            if needle in Path(f"/proc/{pid}/{part}").read_bytes():
                return True
        except OSError:
            continue
    return False


def stop_leftovers(prefix: str = RUN_PREFIX) -> list[Path]:
    """Stop the nodes of test runs that died before their teardown (a killed
    pytest): every process that names the folder of a run whose process is
    gone (in its command line or environment) is killed, the private epmd
    too once no node is left, and the folder deleted. Returns the folders
    cleaned."""
    cleaned = []
    parent = Path(prefix).parent
    for folder in sorted(parent.glob(Path(prefix).name + "*")):
        owner = folder.name.removeprefix(Path(prefix).name)
        if not owner.isdigit() or _alive(int(owner)):
            continue
        needle = str(folder).encode() + b"/"
        victims = [
            int(proc.name)
            for proc in Path("/proc").iterdir()
            if proc.name.isdigit()
            and int(proc.name) != os.getpid()
            and _mentions(proc.name, needle)
        ]
        for pid in victims:
            _signal(pid, signal.SIGKILL)
        for pid in victims:
            _wait(lambda p=pid: _gone(p), 30, f"leftover process {pid} to die")
        shutil.rmtree(folder, ignore_errors=True)
        cleaned.append(folder)
    if cleaned and not any(_answers(RABBIT_AMQP + n) for n in NODES):
        RabbitCluster(DEFAULT_BASE)._stop_epmd()
    return cleaned


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.cluster.nodes",
        description="Start, inspect, kill and stop the 3-node test clusters.",
    )
    parser.add_argument(
        "action",
        choices=("start", "stop", "status", "kill", "restart", "leftovers"),
        help="start the cluster, stop it (deleting its data), show its nodes, "
        "kill -9 one node, bring a killed node back, or stop the nodes of "
        "test runs that died before their teardown (no cluster named)",
    )
    parser.add_argument(
        "cluster", nargs="?", choices=("rabbit", "galera"), help="which cluster"
    )
    parser.add_argument(
        "node", nargs="?", type=int, choices=NODES, help="node number (kill, restart)"
    )
    parser.add_argument(
        "--base",
        type=Path,
        default=DEFAULT_BASE,
        help=f"folder for the nodes' data (default {DEFAULT_BASE})",
    )
    parser.add_argument(
        "--keep", action="store_true", help="stop: keep the data folders"
    )
    args = parser.parse_args(argv)
    if args.action == "leftovers":
        try:
            for folder in stop_leftovers():
                print(f"stopped the nodes of {folder}")
        except (ClusterError, OSError) as exc:
            print(f"error: leftovers: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.cluster is None:
        parser.error(f"{args.action} needs a cluster: rabbit or galera")
    cluster: RabbitCluster | GaleraCluster = (
        RabbitCluster(args.base)
        if args.cluster == "rabbit"
        else GaleraCluster(args.base)
    )
    if args.action in ("kill", "restart") and args.node is None:
        parser.error(f"{args.action} needs a node number (1, 2 or 3)")
    try:
        if args.action == "start":
            cluster.start()
            print(json.dumps(cluster.status(), indent=2))
        elif args.action == "stop":
            cluster.stop(purge=not args.keep)
        elif args.action == "status":
            print(json.dumps(cluster.status(), indent=2))
        elif args.action == "kill":
            cluster.kill(args.node)
        elif isinstance(cluster, GaleraCluster):
            cluster.restart(args.node)
        else:
            cluster.start_node(args.node)
    except (ClusterError, OSError, subprocess.SubprocessError) as exc:
        print(f"error: {args.cluster} {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
