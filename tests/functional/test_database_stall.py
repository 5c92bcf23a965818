"""A database that accepts connections but never answers, under the real yagi-event.

Through a TCP proxy that stops forwarding (:meth:`Proxy.stall`): the held batch is
logged at WARNING once the read timeout passes, and SIGTERM ends the process with
status 0 - by itself when the timeout is short, through the stop grace period
when the database would keep it waiting far longer.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import notabene
from tests.conftest import corpus_files
from tests.support.proxy import Proxy
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

pytestmark = [pytest.mark.mysql, pytest.mark.rabbitmq, pytest.mark.slow]

BIN = Path(sys.executable).parent


class Daemon:
    """A yagi-event process whose stderr is collected line by line."""

    def __init__(self, args: list[str], command: str = "yagi-event") -> None:
        self.process = subprocess.Popen(
            [str(BIN / command), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(
        self, found: Callable[[], bool], what: str, timeout: float = 90
    ) -> None:
        deadline = time.monotonic() + timeout
        while not found():
            if self.process.poll() is not None:
                self.reader.join(timeout=10)
                pytest.fail(
                    f"yagi-event ended ({self.process.returncode}) "
                    f"before {what}:\n{self.stderr}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout}s:\n{self.stderr[-4000:]}")
            time.sleep(0.1)

    def logged(self, *words: str) -> bool:
        return any(all(w in line for w in words) for line in list(self.lines))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


class World:
    def __init__(
        self,
        tmp: Path,
        rabbitmq_url: str,
        mysql_url: str,
        corpus_config: Path,
        corpus: Path,
    ) -> None:
        self.tmp = tmp
        self.broker = rabbitmq_url
        self.db = mysql_url
        engine = connect(mysql_url)
        upgrade(engine)
        engine.dispose()
        url = sa.make_url(mysql_url)
        self.proxy = Proxy(url.port or 3306)
        self.proxied = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
            hide_password=False
        )
        self.queue = f"stt_stall_{uuid.uuid4().hex[:8]}"
        self.spec = notabene.QueueSpec(
            name=self.queue, exchange=self.queue, routing_key=self.queue
        )
        self.corpus_config = corpus_config
        self.notifications = [
            line
            for path in corpus_files(corpus)[:1]
            for line in path.read_bytes().splitlines()[:50]
            if line.strip()
        ]
        self.daemons: list[Daemon] = []

    def config(self, read_timeout: float) -> Path:
        winchester = self.tmp / "winchester.yaml"
        winchester.write_text(
            f"database: {{url: '{self.proxied}', connect_timeout: 2, "
            f"read_timeout: {read_timeout}, write_timeout: {read_timeout}}}\n"
            f"distiller_config: {self.corpus_config / 'event_definitions.yaml'}\n"
            f"trigger_definitions: {self.corpus_config / 'triggers.yaml'}\n"
            "catch_all_notifications: true\n"
            f"pipeline_config: {self.corpus_config / 'pipelines.yaml'}\n"
            "pipeline_worker_delay: 0.2\n"
        )
        path = self.tmp / "yagi.conf"
        path.write_text(
            f"[rabbit_broker]\nurl = {self.broker}\n"
            f"[consumers]\nqueues = {self.queue}\n"
            f"[consumer:{self.queue}]\napps = winchester\n"
            f"exchange = {self.queue}\nrouting_key = {self.queue}\nmax_wait = 0.1\n"
            f"[winchester]\nconfig_file = {winchester}\n"
            "[logging]\ndefault_level = INFO\n"
        )
        return path

    def start(self, read_timeout: float, grace: float) -> Daemon:
        daemon = Daemon(
            ["-c", str(self.config(read_timeout)), "--stop-grace", str(grace)]
        )
        self.daemons.append(daemon)
        daemon.wait_for(lambda: daemon.logged("consuming", self.queue), "consuming")
        return daemon

    def publish(self, lines: list[bytes]) -> None:
        with notabene.Publisher(
            self.broker, exchange=self.queue, queues=[self.spec]
        ) as pub:
            pub.publish_batch(lines, routing_key=self.queue)

    def stored(self) -> int:
        engine = connect(self.db)
        with engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(schema.event)
            ).scalar_one()
        engine.dispose()
        return int(count)

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.kill()
        self.proxy.close()
        with notabene.connect(self.broker) as conn:
            channel = conn.channel()
            for queue in (self.queue, f"{self.queue}.failed"):
                channel.queue_delete(queue)
            channel.exchange_delete(self.queue)


@pytest.fixture
def world(
    tmp_path: Path, rabbitmq_url: str, mysql_url: str, corpus_config: Path, corpus: Path
) -> Iterator[World]:
    made = World(tmp_path, rabbitmq_url, mysql_url, corpus_config, corpus)
    yield made
    made.close()


def _stall_with_work(world: World, daemon: Daemon) -> None:
    world.publish(world.notifications[:10])
    deadline = time.monotonic() + 90
    while world.stored() < 1:
        assert time.monotonic() < deadline, daemon.stderr
        time.sleep(0.2)
    world.proxy.stall()
    world.publish(world.notifications[10:20])


def test_a_hanging_database_is_logged_and_sigterm_still_stops(world: World) -> None:
    daemon = world.start(read_timeout=2, grace=60)
    _stall_with_work(world, daemon)
    daemon.wait_for(
        lambda: daemon.logged("WARNING", "held"), "WARNING about the held batch"
    )
    assert sum("WARNING" in line and "held" in line for line in daemon.lines) == 1
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=60) == 0, daemon.stderr
    assert "Traceback" not in daemon.stderr


def test_sigterm_ends_yagi_event_within_the_grace_period(world: World) -> None:
    # The database would keep the process waiting ten minutes: only the grace
    # period can end it in time.
    daemon = world.start(read_timeout=600, grace=2)
    _stall_with_work(world, daemon)
    deadline = time.monotonic() + 60
    while world.proxy.held == 0:  # the batch's statements reached the stalled link
        assert time.monotonic() < deadline, daemon.stderr
        time.sleep(0.1)
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=60) == 0, daemon.stderr
    daemon.reader.join(timeout=10)
    assert daemon.logged("did not stop within"), daemon.stderr


def test_sigterm_ends_pipeline_worker_within_the_grace_period(world: World) -> None:
    world.config(read_timeout=600)
    daemon = Daemon(
        ["-c", str(world.tmp / "winchester.yaml"), "--stop-grace", "2"],
        command="pipeline-worker",
    )
    world.daemons.append(daemon)
    daemon.wait_for(lambda: daemon.logged("starting"), "the worker starting")
    world.proxy.stall()
    deadline = time.monotonic() + 60
    while world.proxy.held == 0:  # its next claim reached the stalled link
        assert time.monotonic() < deadline, daemon.stderr
        time.sleep(0.1)
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=60) == 0, daemon.stderr
    daemon.reader.join(timeout=10)
    assert daemon.logged("did not stop within"), daemon.stderr
