"""Fixtures shared by every test: where the shared corpus is, and the CI policy.

The corpus lives beside the repository in ``../shared/corpus`` (override with
``STACKTACH_SHARED``). Under ``CI=true`` a missing corpus or service fails the run
instead of skipping tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STACKTACH_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false - or fail it under CI."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: required)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared notification corpus directory."""
    require(CORPUS.is_dir(), f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_config(corpus: Path) -> Path:
    """The original sample configuration files."""
    return corpus / "config"


def corpus_files(corpus: Path) -> list[Path]:
    """Every notification file of the corpus (not the ``.sources`` sidecars)."""
    return sorted(
        p for p in corpus.glob("*.jsonl") if not p.name.endswith(".sources.jsonl")
    )


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, decoded object)`` for each non-blank line of ``path``."""
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, json.loads(line)


# --------------------------------------------------------------------------- databases

MYSQL_ADMIN = os.environ.get(
    "STACKTACH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"
)
POSTGRES_ADMIN = os.environ.get(
    "STACKTACH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
DATABASES = ["sqlite", "mysql", "postgresql"]


def _answers(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


#: Override with STACKTACH_RABBITMQ_URL (tox passes STACKTACH_* through).
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """URL of a RabbitMQ that answers; skip (fail under CI) when there is none."""
    import notabene

    url = os.environ.get("STACKTACH_RABBITMQ_URL", DEFAULT_RABBITMQ_URL)
    conn: Any = notabene.connect(url, connect_timeout=3)
    try:
        conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)
        reachable, why = True, ""
    except Exception as exc:  # any failure means "no usable RabbitMQ"
        reachable, why = False, f": {exc}"
    finally:
        conn.release()
    require(reachable, f"RabbitMQ not reachable at {notabene.redact_url(url)}{why}")
    return url


@pytest.fixture(scope="session")
def mysql_server() -> str:
    """The MariaDB/MySQL admin URL; skips (fails under CI) when it does not answer."""
    require(_answers("127.0.0.1", 3306), "MariaDB does not answer on 127.0.0.1:3306")
    return MYSQL_ADMIN


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL admin URL; skips (fails under CI) when it does not answer."""
    require(_answers("127.0.0.1", 5432), "PostgreSQL does not answer on 127.0.0.1:5432")
    return POSTGRES_ADMIN


def make_database(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of ``kind``; dropped when the test ends."""
    import uuid

    import sqlalchemy as sa

    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'winchester.db'}"
    name = f"stt_{uuid.uuid4().hex[:12]}"
    admin_url = request.getfixturevalue(
        f"{'mysql' if kind == 'mysql' else 'postgres'}_server"
    )
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()

    request.addfinalizer(drop)
    return f"{admin_url}/{name}"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once per backend (SQLite, MariaDB, PostgreSQL)."""
    return make_database(request.param, request, tmp_path)


@pytest.fixture
def mysql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty MariaDB database URL (for the multi-process tests)."""
    return make_database("mysql", request, tmp_path)
