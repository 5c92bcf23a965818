"""notigen -> RabbitMQ -> yagi-event processes -> MariaDB, with nothing lost.

Real processes, the real broker and database: two consumers at once, one killed
with SIGKILL and restarted, the database link cut and restored, and poison
messages among good ones. Expected results are computed in this process by
distilling the same notifications.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import notabene
import shoebox
from distiller import Distiller, NotificationRejected
from tests.support.proxy import Proxy
from tests.support.waiting import wait_for
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

pytestmark = [pytest.mark.mysql, pytest.mark.rabbitmq, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class Setup:
    """A unique exchange/queue, a database, configs and the notifications."""

    def __init__(
        self, tmp: Path, rabbitmq_url: str, mysql_url: str, corpus_config: Path
    ) -> None:
        self.tmp = tmp
        self.broker = rabbitmq_url
        self.db = mysql_url
        self.name = f"stt_yagi_{uuid.uuid4().hex[:8]}"
        self.archive = tmp / "archive"
        engine = connect(mysql_url)
        upgrade(engine)
        engine.dispose()
        self.corpus_config = corpus_config
        self.spec = notabene.QueueSpec(
            name=self.name, exchange=self.name, routing_key=self.name
        )

    def write_config(
        self, database_url: str | None = None, roll_minutes: float = 0.05
    ) -> Path:
        winchester = self.tmp / "winchester.yaml"
        winchester.write_text(
            f"database: {{url: '{database_url or self.db}'}}\n"
            f"distiller_config: {self.corpus_config / 'event_definitions.yaml'}\n"
            f"trigger_definitions: {self.corpus_config / 'triggers.yaml'}\n"
            "clock: event\n"
        )
        config = self.tmp / f"yagi-{uuid.uuid4().hex[:6]}.conf"
        config.write_text(
            f"[global]\nupdate_timer = 2\ndeployment = cell-a\n"
            f"[rabbit_broker]\nurl = {self.broker}\n"
            f"[consumers]\nqueues = {self.name}\n"
            f"[consumer:{self.name}]\napps = winchester, shoebox\n"
            f"exchange = {self.name}\nrouting_key = {self.name}\n"
            "max_messages = 200\nmax_wait = 0.2\n"
            f"[winchester]\nconfig_file = {winchester}\n"
            f"[shoebox]\ndestination_folder = {self.archive}\n"
            f"working_directory = {self.tmp / 'work-<pid>'}\n"
            f"roll_minutes = {roll_minutes}\nroll_size_mb = 50\n"
            "[logging]\ndefault_level = INFO\n"
        )
        return config

    def notifications(self, count: int, *faults: str) -> list[bytes]:
        out = self.tmp / f"traffic-{uuid.uuid4().hex[:6]}.jsonl"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "notigen.cli",
                "--seed",
                "3",
                "--count",
                str(count),
                "--instances",
                "30",
                "--out",
                str(out),
                *faults,
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        return [line for line in out.read_bytes().splitlines() if line.strip()]

    def publish(self, lines: list[bytes]) -> None:
        with notabene.Publisher(
            self.broker, exchange=self.name, queues=[self.spec]
        ) as pub:
            for start in range(0, len(lines), 500):
                pub.publish_batch(lines[start : start + 500], routing_key=self.name)

    def expected(self, lines: list[bytes]) -> set[str]:
        distiller = Distiller.from_file(self.corpus_config / "event_definitions.yaml")
        ids = set()
        for line in lines:
            try:
                event = distiller.distill_json(line)
            except NotificationRejected:
                continue
            if event is not None:
                ids.add(event.message_id)
        return ids

    def stored(self) -> list[str]:
        engine = connect(self.db)
        with engine.connect() as conn:
            ids = conn.execute(sa.select(schema.event.c.message_id)).scalars().all()
        engine.dispose()
        return list(ids)

    def archived(self) -> list[bytes]:
        """Bodies of every record in the finished archive files (not the rejects).

        Hidden names are skipped: ``.<name>.partial`` is a copy the archive is
        still writing (pathlib's ``*`` matches it), and reading it mid-write
        failed a test as a truncated gzip file.
        """
        bodies: list[bytes] = []
        for path in sorted(self.archive.glob("*")):
            if path.is_file() and not path.name.startswith("."):
                bodies.extend(record.body for record in shoebox.read(path))
        return bodies

    def start(self, config: Path, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "yagi.cli", "-c", str(config), *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_for(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(self.stored()) < count and time.monotonic() < deadline:
            time.sleep(0.5)

    def cleanup(self) -> None:
        with notabene.connect(self.broker) as conn:
            channel = conn.channel()
            for queue in (self.name, f"{self.name}.failed"):
                channel.queue_delete(queue)
            channel.exchange_delete(self.name)

    def drain_failed(self) -> list[tuple[bytes, dict[str, Any]]]:
        with notabene.connect(self.broker) as conn:
            channel = conn.channel()
            found = []
            while (
                message := channel.basic_get(f"{self.name}.failed", no_ack=True)
            ) is not None:
                body = message.body
                found.append(
                    (
                        body if isinstance(body, bytes) else body.encode(),
                        dict(message.headers or {}),
                    )
                )
        return found


@pytest.fixture
def setup(
    tmp_path: Path, rabbitmq_url: str, mysql_url: str, corpus_config: Path
) -> Iterator[Setup]:
    world = Setup(tmp_path, rabbitmq_url, mysql_url, corpus_config)
    yield world
    world.cleanup()


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    return err


def test_two_consumers_store_everything_once_and_archive_it(setup: Setup) -> None:
    lines = setup.notifications(4000)
    setup.publish(lines)
    want = setup.expected(lines)
    config = setup.write_config()
    consumers = [setup.start(config), setup.start(config)]
    setup.wait_for(len(want))
    for process in consumers:
        stop(process)
    stored = setup.stored()
    assert len(stored) == len(set(stored)) and set(stored) == want
    archived = setup.archived()
    assert len(archived) == len(lines)  # every published notification, once
    assert set(archived) == set(lines)


def test_sigkill_and_restart_loses_nothing(setup: Setup) -> None:
    lines = setup.notifications(4000)
    want = setup.expected(lines)
    # a long roll interval: the victim dies with an unfinished archive file, which
    # the restarted consumer (another pid, another working folder) must recover
    config = setup.write_config(roll_minutes=10)
    survivor, victim = setup.start(config), setup.start(config)
    quarter = len(lines) // 4
    setup.publish(lines[:quarter])
    setup.wait_for(len(setup.expected(lines[:quarter])))
    setup.publish(lines[quarter:])  # the victim dies with these in flight
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    restarted = setup.start(config)
    # Ingest can be done before the new process is up: wait for its recovery
    # of the dead one's folder, not for the events alone.
    abandoned = setup.tmp / f"work-{victim.pid}"
    wait_for(
        lambda: not abandoned.exists(), 120, "the dead consumer's folder recovered"
    )
    setup.wait_for(len(want))
    stop(survivor)
    stop(restarted)
    stored = setup.stored()
    assert len(stored) == len(set(stored)) and set(stored) == want
    archived = set(setup.archived())
    assert archived == set(lines)  # nothing missing (redelivery may archive twice)


def test_database_outage_mid_run_loses_nothing(setup: Setup) -> None:
    lines = setup.notifications(3000)
    want = setup.expected(lines)
    proxy = Proxy(3306)
    try:
        via_proxy = setup.db.replace("127.0.0.1:3306", f"127.0.0.1:{proxy.port}")
        consumer = setup.start(setup.write_config(via_proxy))
        fifth = len(lines) // 5
        setup.publish(lines[:fifth])
        setup.wait_for(len(setup.expected(lines[:fifth])))
        proxy.cut()  # before the rest arrives: ingest is faster than any poll
        setup.publish(lines[fifth:])
        time.sleep(4)  # the outage: batches fail, are held unacked and retried
        proxy.restore()
        setup.wait_for(len(want))
        err = stop(consumer)
    finally:
        proxy.close()
    stored = setup.stored()
    assert len(stored) == len(set(stored)) and set(stored) == want
    assert "unavailable" in err or "Lost connection" in err or "conflict" in err.lower()


def test_poison_messages_are_dead_lettered_with_their_reason(setup: Setup) -> None:
    lines = setup.notifications(2000, "--malformed", "0.01")
    want = setup.expected(lines)
    poison = [line for line in lines if _is_poison(line)]
    assert poison
    setup.publish(lines)
    consumer = setup.start(setup.write_config())
    setup.wait_for(len(want))
    wait_for(lambda: _queued(setup, ".failed") >= len(poison), 60, "the dead letters")
    stop(consumer)
    assert set(setup.stored()) == want
    failed = setup.drain_failed()
    assert sorted(body for body, _ in failed) == sorted(poison)
    for _, headers in failed:
        reason = headers["x-reject-reason"]
        assert reason.startswith(("not JSON", "distiller:")), reason


def _queued(setup: Setup, suffix: str) -> int:
    """Messages ready in ``setup``'s queue with ``suffix``."""
    with notabene.connect(setup.broker) as conn:
        declared = conn.channel().queue_declare(
            queue=f"{setup.name}{suffix}", passive=True
        )
        return int(declared.message_count)


def _is_poison(line: bytes) -> bool:
    try:
        body = json.loads(line)
    except ValueError:
        return True
    return not isinstance(body, dict) or "event_type" not in body
