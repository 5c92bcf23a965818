"""``./build.sh --production``: the sandbox on MariaDB and RabbitMQ.

The database (a name of this test's), the exchange and the queues (names of
this test's, on the shared RabbitMQ) are created by build.sh itself; the main
queue is a quorum queue with its dead-letter queue. A simulated day later
klugman shows the audit; --stop leaves nothing running. Everything the test
made is dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import amqp.exceptions
import pytest
import sqlalchemy as sa

import notabene
from tests.e2e.sandbox_support import (
    audited,
    build,
    clone,
    free_port,
    pid_files,
    processes_in,
    sandbox_env,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.mysql, pytest.mark.rabbitmq]


@pytest.fixture
def names(mysql_server: str, rabbitmq_url: str) -> Iterator[dict[str, str]]:
    """A database, an exchange and a queue of this test, dropped afterwards."""
    tag = uuid.uuid4().hex[:10]
    made = {"db": f"stt_sandbox_{tag}", "exchange": f"stt_sb_{tag}"}
    made["queue"] = f"{made['exchange']}.info"
    yield made
    admin = sa.create_engine(mysql_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {made['db']}")
    admin.dispose()
    with notabene.connect(rabbitmq_url) as conn:
        channel: Any = conn.channel()
        for queue in (made["queue"], f"{made['queue']}.usage"):
            for name in (queue, f"{queue}.failed"):
                channel.queue_delete(name)
        for exchange in (made["exchange"], f"{made['exchange']}.usage"):
            channel.exchange_delete(exchange)


def _is_quorum(rabbitmq_url: str, queue: str) -> bool:
    """True when ``queue`` exists as a quorum queue (a classic redeclare fails)."""
    with notabene.connect(rabbitmq_url) as conn:
        channel: Any = conn.channel()
        channel.queue_declare(queue, passive=True)  # raises if it does not exist
        try:
            channel.queue_declare(
                queue, durable=True, arguments={"x-queue-type": "classic"}
            )
        except amqp.exceptions.PreconditionFailed:
            return True
        return False


def test_production_sandbox_on_mariadb_and_rabbitmq(
    tmp_path: Path, mysql_server: str, rabbitmq_url: str, names: dict[str, str]
) -> None:
    root = clone(tmp_path / "stv3")
    port = free_port()
    env = sandbox_env()
    url = f"http://127.0.0.1:{port}"
    db_url = f"{mysql_server}/{names['db']}"
    try:
        done = build(
            root,
            "--production",
            "--db-url", db_url,
            "--broker-url", rabbitmq_url,
            "--exchange", names["exchange"],
            "--queue", names["queue"],
            "--detach",
            "--no-screen",
            "--port", str(port),
            "--speed", "3000", "--days", "1", "--instances", "10",
            "--ops-per-hour", "20",
            env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "production engines" in done.stdout
        assert _is_quorum(rabbitmq_url, names["queue"])
        with notabene.connect(rabbitmq_url) as conn:
            conn.channel().queue_declare(f"{names['queue']}.failed", passive=True)
        config = (root / "var" / "etc" / "winchester.yaml").read_text()
        assert names["db"] in config
        streams, verified = wait_for(
            lambda: audited(url), timeout=600, what="completed streams and .verified"
        )
        assert {s["state"] for s in streams} == {"completed"}
        engine = sa.create_engine(db_url)
        with engine.connect() as conn:
            events = conn.exec_driver_sql("SELECT COUNT(*) FROM event").scalar_one()
        engine.dispose()
        assert events > len(verified)
    finally:
        stopped = build(root, "--stop", env=env, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert processes_in(root) == []
    assert pid_files(root) == []


def test_production_sandbox_names_an_unreachable_database(tmp_path: Path) -> None:
    root = clone(tmp_path / "stv3")
    done = build(
        root,
        "--production",
        "--db-url", f"mysql+pymysql://root@127.0.0.1:{free_port()}/nothing",
        "--detach",
        "--port", str(free_port()),
        env=sandbox_env(),
    )  # fmt: skip
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "--db-url" in last and "cannot reach the database server" in last
    assert "Traceback" not in done.stderr
    assert processes_in(root) == []
