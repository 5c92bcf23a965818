"""Session-wide 3-node clusters: started once, shared, torn down at the end.

The nodes live under a fresh ``/tmp/stacktach-cluster-<pid>`` (world-readable:
the Galera nodes run as user ``mysql``); the nodes of a run whose pytest died
before its teardown are stopped first (``nodes.stop_leftovers``).
``STACKTACH_CLUSTER_REUSE=1`` uses the clusters a person started with
``python -m tests.cluster.nodes start ...`` (in ``$STACKTACH_CLUSTER_DIR``)
and leaves them running. Without the servers' packages the tests skip - or
fail under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.cluster import nodes
from tests.conftest import require

REUSE = os.environ.get("STACKTACH_CLUSTER_REUSE", "") == "1"


def _base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if REUSE:
        return nodes.DEFAULT_BASE
    nodes.stop_leftovers()  # the nodes of a run killed before its teardown
    base = Path(f"{nodes.RUN_PREFIX}{os.getpid()}")
    base.mkdir(mode=0o755, exist_ok=True)
    base.chmod(0o755)
    return base


@pytest.fixture(scope="session")
def rabbit_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[nodes.RabbitCluster]:
    """A running 3-node RabbitMQ cluster (stt1..3@localhost, AMQP 27672-27674)."""
    require(
        (nodes.RABBIT_BIN / "rabbitmq-server").exists()
        and shutil.which("epmd") is not None,
        "RabbitMQ server is not installed (rabbitmq-server, epmd)",
    )
    cluster = nodes.RabbitCluster(_base(tmp_path_factory))
    if not REUSE:
        require(
            not any(nodes._answers(cluster.port(n)) for n in nodes.NODES),
            "the RabbitMQ cluster's ports are taken: stop it "
            "(python -m tests.cluster.nodes stop rabbit, or ... leftovers) "
            "or set STACKTACH_CLUSTER_REUSE=1",
        )
    try:
        cluster.start()
        yield cluster
    finally:
        if not REUSE:
            cluster.stop()
            with contextlib.suppress(OSError):  # the other cluster may still use it
                cluster.root.parent.rmdir()


@pytest.fixture(scope="session")
def galera_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[nodes.GaleraCluster]:
    """A running 3-node MariaDB Galera cluster (SQL 13306-13308)."""
    require(
        nodes.GALERA_PROVIDER.exists()
        and shutil.which("mariadbd") is not None
        and shutil.which("rsync") is not None,
        "Galera is not installed (galera-4, mariadb-server, rsync)",
    )
    cluster = nodes.GaleraCluster(_base(tmp_path_factory))
    if not REUSE:
        require(
            not any(nodes._answers(cluster.port(n)) for n in nodes.NODES),
            "the Galera cluster's ports are taken: stop it "
            "(python -m tests.cluster.nodes stop galera, or ... leftovers) "
            "or set STACKTACH_CLUSTER_REUSE=1",
        )
    try:
        cluster.start()
        yield cluster
    finally:
        if not REUSE:
            cluster.stop()
            with contextlib.suppress(OSError):  # the other cluster may still use it
                cluster.root.parent.rmdir()


@pytest.fixture
def galera_database(
    galera_cluster: nodes.GaleraCluster,
) -> Iterator[str]:
    """A fresh database on the Galera cluster; its name (dropped afterwards)."""
    name = f"stt_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(galera_cluster.url(1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield name
    admin.dispose()
    for n in nodes.NODES:  # any node that is up drops it for all
        if galera_cluster.state(n) == "Synced":
            galera_cluster.query(n, f"DROP DATABASE IF EXISTS {name}")
            break
