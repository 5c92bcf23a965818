"""Operator errors through the real commands: one line, the right status, no traceback.

Every case runs the venv's console script as a subprocess and checks the exit
status (2: configuration or usage, 1: runtime), that stderr holds exactly one
``<command>: ...`` line saying what is wrong, and no traceback.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import shoebox
from tests.conftest import make_database, require
from winchester.storage.engine import Timeouts, connect
from winchester.storage.migrate import upgrade

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> tuple[int, str]:
    """Run a console script; return (status, stderr)."""
    process = subprocess.run(  # noqa: PLW1510 - the status is checked
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return process.returncode, process.stderr


def assert_one_line(command: str, status: int, err: str, want: int, *words: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"{command}: ")]
    assert len(lines) == 1, err
    assert status == want, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Files:
    """A winchester.yaml and a yagi.conf in a temporary folder."""

    def __init__(self, tmp: Path, corpus_config: Path) -> None:
        self.tmp = tmp
        self.corpus_config = corpus_config
        self.queue = f"stt_err_{uuid.uuid4().hex[:8]}"

    def migrated_sqlite(self) -> str:
        url = f"sqlite:///{self.tmp / 'db' / 'winchester.db'}"
        engine = connect(url)
        upgrade(engine)
        engine.dispose()
        return url

    def winchester(self, url: str, extra: str = "") -> Path:
        path = self.tmp / "winchester.yaml"
        path.write_text(
            f"database: {{url: '{url}', connect_timeout: 3}}\n"
            f"distiller_config: {self.corpus_config / 'event_definitions.yaml'}\n"
            f"trigger_definitions: {self.corpus_config / 'triggers.yaml'}\n"
            f"pipeline_config: {self.corpus_config / 'pipelines.yaml'}\n"
            f"{extra}"
        )
        return path

    def yagi(
        self,
        database: str,
        broker: str = "memory://",
        *,
        archive: Path | None = None,
        extra: str = "",
        consumer: str = "",
    ) -> Path:
        winchester = self.winchester(database)
        path = self.tmp / "yagi.conf"
        path.write_text(
            f"[rabbit_broker]\nurl = {broker}\n"
            f"[consumers]\nqueues = {self.queue}\n"
            f"[consumer:{self.queue}]\napps = winchester, shoebox\n"
            f"exchange = {self.queue}\n{consumer}"
            f"[winchester]\nconfig_file = {winchester}\n"
            f"[shoebox]\ndestination_folder = {archive or self.tmp / 'archive'}\n"
            f"{extra}"
        )
        return path


@pytest.fixture
def files(tmp_path: Path, corpus_config: Path) -> Files:
    return Files(tmp_path, corpus_config)


# --------------------------------------------------------------------------- database

DatabaseCase = Callable[[Files, str], str]


def _wrong_password(files: Files, mysql: str) -> str:
    return mysql.replace("root@", "root:wrong-password@") + "/mysql"


def _unknown_database(files: Files, mysql: str) -> str:
    return f"{mysql}/stt_no_such_{uuid.uuid4().hex[:8]}"


def _unreachable(files: Files, mysql: str) -> str:
    return f"mysql+pymysql://root@127.0.0.1:{closed_port()}/winchester"


DATABASE_CASES = {
    "wrong password": (_wrong_password, 2, "refused the login"),
    "unknown database": (_unknown_database, 2, "does not exist"),
    "unreachable": (_unreachable, 1, "unreachable"),
}


@pytest.mark.mysql
@pytest.mark.parametrize("case", sorted(DATABASE_CASES))
@pytest.mark.parametrize("command", ["yagi-event", "pipeline-worker", "winchester-db"])
def test_database_refusals(
    files: Files, mysql_server: str, case: str, command: str
) -> None:
    make, want, words = DATABASE_CASES[case]
    url = make(files, mysql_server)
    if command == "yagi-event":
        args = ["-c", str(files.yagi(url)), "--startup-timeout", "0"]
    elif command == "pipeline-worker":
        args = ["-c", str(files.winchester(url)), "--once", "--startup-timeout", "0"]
    else:
        args = ["-c", str(files.winchester(url)), "current"]
    status, err = run(command, *args)
    line = assert_one_line(command, status, err, want, words)
    assert "wrong-password" not in line


@pytest.mark.parametrize("command", ["yagi-event", "pipeline-worker"])
def test_database_never_migrated(files: Files, command: str) -> None:
    url = f"sqlite:///{files.tmp / 'empty.db'}"
    config = files.yagi(url) if command == "yagi-event" else files.winchester(url)
    status, err = run(command, "-c", str(config), "--startup-timeout", "0")
    assert_one_line(
        command, status, err, 2, "never migrated", f"winchester-db -c {files.tmp}"
    )


@pytest.mark.parametrize("command", ["yagi-event", "pipeline-worker"])
def test_schema_newer_than_the_code(files: Files, command: str) -> None:
    url = files.migrated_sqlite()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeed0001'")
    engine.dispose()
    config = files.yagi(url) if command == "yagi-event" else files.winchester(url)
    status, err = run(command, "-c", str(config), "--startup-timeout", "0")
    assert_one_line(command, status, err, 2, "f00dfeed0001", "newer than")


@pytest.mark.mysql
def test_mysql_urls_of_the_original_use_pymysql(
    files: Files, mysql_server: str, request: pytest.FixtureRequest
) -> None:
    url = make_database("mysql", request, files.tmp).replace(
        "mysql+pymysql://", "mysql://"
    )
    config = files.winchester(url)
    process = subprocess.run(  # noqa: PLW1510 - the status is checked
        [str(BIN / "winchester-db"), "-c", str(config), "upgrade"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert process.stderr.count("using PyMySQL") == 1, process.stderr
    status, err = run("pipeline-worker", "-c", str(config), "--once")
    assert status == 0, err


# --------------------------------------------------------------------------- broker


@pytest.mark.rabbitmq
@pytest.mark.parametrize(
    ("case", "want", "words"),
    [
        ("password", 2, "user and password"),
        ("vhost", 2, "check the vhost"),
        ("unreachable", 1, "unavailable"),
    ],
)
def test_broker_refusals(
    files: Files, rabbitmq_url: str, case: str, want: int, words: str
) -> None:
    url = {
        "password": rabbitmq_url.replace("guest:guest@", "guest:wrong-password@"),
        "vhost": rabbitmq_url.rstrip("/") + "/stt-no-such-vhost",
        "unreachable": f"amqp://guest:guest@127.0.0.1:{closed_port()}//",
    }[case]
    config = files.yagi(files.migrated_sqlite(), url)
    status, err = run("yagi-event", "-c", str(config), "--startup-timeout", "1")
    line = assert_one_line("yagi-event", status, err, want, words)
    assert "wrong-password" not in line


@pytest.mark.rabbitmq
def test_notigen_broker_refusal(rabbitmq_url: str) -> None:
    url = rabbitmq_url.replace("guest:guest@", "guest:wrong-password@")
    status, err = run("notigen", "--count", "3", "--to", url, "-q")
    line = assert_one_line("notigen", status, err, 2, "ACCESS_REFUSED")
    assert "wrong-password" not in line


# --------------------------------------------------------------------------- archive


def test_archive_folder_that_cannot_be_created(files: Files) -> None:
    blocker = files.tmp / "a-file"
    blocker.write_text("not a folder")
    config = files.yagi(files.migrated_sqlite(), archive=blocker / "archive")
    status, err = run("yagi-event", "-c", str(config), "--startup-timeout", "0")
    assert_one_line("yagi-event", status, err, 1, str(blocker))
    status, err = run("yagi-event", "-c", str(config), "--check")
    assert_one_line("yagi-event", status, err, 2, "destination_folder")


def test_check_creates_nothing(files: Files) -> None:
    database = f"sqlite:///{files.tmp / 'db' / 'sub' / 'winchester.db'}"
    broker = f"filesystem://{files.tmp / 'broker'}"
    archive = files.tmp / "archive" / "deep"
    config = files.yagi(database, broker, archive=archive)
    before = sorted(files.tmp.rglob("*"))
    process = subprocess.run(  # noqa: PLW1510 - the status is checked
        [str(BIN / "yagi-event"), "-c", str(config), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert "OK" in process.stdout
    assert sorted(files.tmp.rglob("*")) == before


# --------------------------------------------------------------------------- yagi.conf


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("consumer", ("max_messages", "lots")),
        ("port", ("[rabbit_broker] port", "65535")),
        ("roll", ("[shoebox] roll_size_mb", "big")),
    ],
)
def test_yagi_conf_bad_numbers(
    files: Files, setting: str, words: tuple[str, ...]
) -> None:
    url = files.migrated_sqlite()
    if setting == "consumer":
        config = files.yagi(url, consumer="max_messages = lots\n")
    elif setting == "port":
        config = files.yagi(url)
        text = config.read_text().replace("url = memory://\n", "port = 99999\n")
        config.write_text(text)
    else:
        config = files.yagi(url, extra="roll_size_mb = big\n")
    for args in (["--check"], ["--startup-timeout", "0"]):
        status, err = run("yagi-event", "-c", str(config), *args)
        assert_one_line("yagi-event", status, err, 2, str(config), *words)


def test_yagi_conf_not_text(files: Files) -> None:
    config = files.tmp / "yagi.conf"
    config.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe binary \x00\x81")
    status, err = run("yagi-event", "-c", str(config))
    assert_one_line("yagi-event", status, err, 2, str(config), "not a text file")


# --------------------------------------------------------------------------- logging


def test_logging_config_missing_or_broken(files: Files) -> None:
    url = files.migrated_sqlite()
    broken = files.tmp / "logging.conf"
    broken.write_text("[loggers]\nkeys=root\n[handlers]\nkeys=h\n[formatters]\nkeys=\n")
    missing = files.tmp / "no-such-logging.conf"
    for path in (missing, broken):
        config = files.yagi(url, extra=f"[logging]\nconfig_file = {path}\n")
        status, err = run("yagi-event", "-c", str(config), "--startup-timeout", "0")
        assert_one_line("yagi-event", status, err, 2, str(path))
        config = files.winchester(url, extra=f"logging_config: {path}\n")
        status, err = run("pipeline-worker", "-c", str(config), "--once")
        assert_one_line("pipeline-worker", status, err, 2, "logging_config")
    status, err = run("check-config", "-c", str(config))
    assert status == 1, err
    assert "logging_config" in err and "Traceback" not in err


# ------------------------------------------------------------------ check-config


@pytest.mark.parametrize(
    ("url", "package"),
    [
        ("mysql+mysqldb://user:secret@db.example/winchester", "mysqlclient"),
        ("postgresql+psycopg2://user:secret@db.example/winchester", "psycopg2"),
    ],
)
def test_check_config_catches_missing_drivers(
    files: Files, url: str, package: str
) -> None:
    driver = url.split("+")[1].split(":", maxsplit=1)[0]
    module = {"mysqldb": "MySQLdb", "psycopg2": "psycopg2"}[driver]
    require(importlib.util.find_spec(module) is None, f"{module} is installed")
    config = files.winchester(url)
    process = subprocess.run(  # noqa: PLW1510 - the status is checked
        [str(BIN / "check-config"), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 1, process.stderr
    assert f"pip install {package}" in process.stderr
    assert "database.url" in process.stderr
    assert "secret" not in process.stderr + process.stdout


# --------------------------------------------------------------------------- files


def test_notigen_bad_output_paths(files: Files) -> None:
    bad = str(files.tmp / "no-such-folder" / "out.jsonl")
    status, err = run("notigen", "--count", "3", "--out", bad, "-q")
    assert_one_line("notigen", status, err, 2, "--out", bad)
    status, err = run("notigen", "--count", "3", "--fault-log", bad, "-q")
    assert_one_line("notigen", status, err, 2, "--fault-log", bad)


def test_missing_input_files(files: Files, corpus_config: Path) -> None:
    missing = str(files.tmp / "missing.jsonl")
    definitions = str(corpus_config / "event_definitions.yaml")
    status, err = run("distiller", "-d", definitions, missing)
    assert_one_line("distiller", status, err, 2, missing)
    status, err = run("distiller", "-d", missing)
    assert_one_line("distiller", status, err, 2, missing)
    for sub in ("cat", "verify", "ls"):
        status, err = run("shoebox", sub, missing)
        assert_one_line("shoebox", status, err, 1, missing)


def _head_one(args: list[str], stdin: bytes | None = None) -> tuple[int, str]:
    """Run a command, read one line of its output, close the pipe: (status, stderr)."""
    process = subprocess.Popen(
        [str(BIN / args[0]), *args[1:]],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    return process.wait(timeout=120), err


def test_stdout_closed_early(files: Files, corpus_config: Path) -> None:
    traffic = files.tmp / "traffic.jsonl"
    status, err = run("notigen", "--count", "3000", "--out", str(traffic), "-q")
    assert status == 0, err
    cases = [
        ["notigen", "--count", "200000", "-q"],
        [
            "distiller",
            "-q",
            "-d",
            str(corpus_config / "event_definitions.yaml"),
            str(traffic),
        ],
    ]
    for args in cases:
        status, err = _head_one(args)
        assert "Traceback" not in err and "BrokenPipe" not in err, err
        assert status == 0, err
    folder = files.tmp / "archive"
    archive = shoebox.Archive(folder, files.tmp / "work")
    lines = traffic.read_bytes().splitlines()
    archive.write([(line, {}) for line in lines])
    archive.close()
    status, err = _head_one(["shoebox", "cat", str(folder)])
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert status == 0, err


def test_debug_shows_the_traceback(files: Files) -> None:
    config = files.tmp / "yagi.conf"
    config.write_bytes(b"\x00\x81 binary")
    status, err = run("yagi-event", "--debug", "-c", str(config))
    assert status == 2
    assert "Traceback" in err


def test_usage_errors_are_one_line(files: Files) -> None:
    status, err = run("pipeline-worker", "--no-such-option")
    assert_one_line("pipeline-worker", status, err, 2, "--no-such-option", "--help")
    status, err = run("yagi-event")
    assert_one_line("yagi-event", status, err, 2, "--config")


# ------------------------------------------------------------------ session bounds


@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_statement_and_lock_bounds_reach_the_server(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = make_database(kind, request, tmp_path)
    engine = connect(url, timeouts=Timeouts(statement=12, lock=7))
    with engine.connect() as conn:
        if kind == "mysql":
            row = conn.exec_driver_sql(
                "SELECT @@session.innodb_lock_wait_timeout, "
                "@@session.max_statement_time"
            ).one()
            assert (int(row[0]), float(row[1])) == (7, 12.0)
        else:
            statement = conn.exec_driver_sql("SHOW statement_timeout").scalar_one()
            lock = conn.exec_driver_sql("SHOW lock_timeout").scalar_one()
            assert (statement, lock) == ("12s", "7s")
    engine.dispose()
