"""``GET /v1/stream`` and ``klugman watch`` against a live ``quince-api``.

Real gunicorn (gthread workers) on a free port over SQLite, MariaDB and
PostgreSQL; events written by other processes (the trigger manager run as a
script, raw inserts held open in a transaction), stream changes made by the
pipeline worker's lifecycle calls and by the API's reset. Each test waits for
conditions, never for a fixed time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stacktach import jsonutil
from tests.conftest import make_database
from tests.support.quince import ingest, notigen_day, write_config
from tests.support.waiting import wait_for
from winchester.storage import lifecycle, schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "live-stream-s3cret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A quince-api process."""

    config: Path
    port: int
    log: Path
    workers: int = 2
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("quince-api")),
                    "-c", str(self.config), "--bind", f"127.0.0.1:{self.port}",
                    "--workers", str(self.workers), "--threads", "16",
                ],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                env={k: v for k, v in os.environ.items() if k != "STACKTACH_API_TOKEN"},
            )  # fmt: skip
        wait_for(
            lambda: self._answers() or self.process.poll() is not None,  # type: ignore[union-attr]
            120,
            "quince-api to serve",
        )
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthcheck", timeout=5) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False


@dataclass
class Watch:
    """One SSE connection read by a thread: raw lines and parsed messages."""

    server: Server
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None
    done: bool = False

    def __post_init__(self) -> None:
        self._conn = http.client.HTTPConnection(
            "127.0.0.1", self.server.port, timeout=60
        )
        self._conn.request("GET", "/v1/stream" + self.query, headers=self.headers)
        response = self._conn.getresponse()
        self.status = response.status
        self._thread = threading.Thread(
            target=self._read, args=(response,), daemon=True
        )
        self._thread.start()

    def _read(self, response: http.client.HTTPResponse) -> None:
        current: dict[str, Any] = {}
        try:
            while True:
                raw = response.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if not line:
                    if "data" in current:
                        current["data"] = json.loads(current["data"])
                        self.messages.append(current)
                    current = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    current[name] = value
        except (OSError, ValueError, AttributeError):  # closed by close()
            pass
        self.done = True

    def close(self) -> None:
        sock = self._conn.sock
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        self._thread.join(30)

    def events(self) -> list[dict[str, Any]]:
        return [m["data"] for m in self.messages if m.get("event") == "event"]

    def changes(self) -> list[dict[str, Any]]:
        return [m["data"] for m in self.messages if m.get("event") == "stream"]

    def last_id(self) -> str:
        ids = [line[4:] for line in self.lines if line.startswith("id: ")]
        return ids[-1]


@dataclass
class Site:
    url: str
    folder: Path
    config: Path
    server: Server


@contextlib.contextmanager
def open_site(
    kind: str,
    request: pytest.FixtureRequest,
    folder: Path,
    corpus_config: Path,
    **api: Any,
) -> Iterator[Site]:
    url = make_database(kind, request, folder)
    engine = connect(url)
    upgrade(engine)
    engine.dispose()
    config = write_config(folder / "cfg", corpus_config, url, **api)
    server = Server(config, free_port(), folder / "quince.log").start()
    try:
        yield Site(url, folder, config, server)
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "mysql", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path: Path, corpus_config: Path
) -> Iterator[Site]:
    with open_site(request.param, request, tmp_path, corpus_config,
                   sse_heartbeat_seconds=0.5) as site:  # fmt: skip
        yield site


def db_events(url: str, event_name: str | None = None) -> list[str]:
    engine = connect(url)
    event, types = schema.event, schema.event_type
    query = sa.select(event.c.message_id).join(
        types, types.c.id == event.c.event_type_id
    )
    if event_name:
        query = query.where(types.c.name.like(event_name.replace("*", "%")))
    with engine.connect() as conn:
        found = list(conn.execute(query.order_by(event.c.id)).scalars())
    engine.dispose()
    return found


def ingest_day(site: Site, seed: int, count: int = 150) -> None:
    """A notigen day ingested by another process (the support script)."""
    day = notigen_day(site.folder / f"day-{seed}.jsonl", seed, count=count)
    subprocess.run(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from tests.support.quince import *; "
         "ingest(sys.argv[1], Path(sys.argv[2]), "
         "[l for l in Path(sys.argv[3]).read_bytes().splitlines() if l.strip()], "
         "batch=25)",
         site.url, str(site.config.parent), str(site.folder / f"day-{seed}.jsonl")],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    assert day


def test_events_arrive_filtered_and_resume_misses_nothing(site: Site) -> None:
    everything = Watch(site.server, "?kind=events")
    creates = Watch(site.server, "?event_name=compute.instance.create.*")
    assert everything.status == creates.status == 200
    wait_for(lambda: any(line.startswith("retry: 2000") for line in everything.lines))
    ingest_day(site, 11)
    stored = db_events(site.url)
    wait_for(
        lambda: len(everything.events()) >= len(stored), 120, "every event to arrive"
    )
    assert [e["message_id"] for e in everything.events()] == stored
    wanted = db_events(site.url, "compute.instance.create.*")
    wait_for(lambda: len(creates.events()) >= len(wanted), 60, "the create events")
    assert [e["message_id"] for e in creates.events()] == wanted
    creates.close()

    # Starting from an earlier cursor (catch-up from the database), with a
    # typed trait filter: that instance's events, oldest first, as /v1/events.
    first_id = next(line[4:] for line in everything.lines if line.startswith("id: "))
    instance = everything.events()[0]["instance_id"]
    query = urllib.parse.urlencode(
        {"traits": f"instance_id:{instance}", "since": first_id}
    )
    one = Watch(site.server, f"?{query}")
    with urllib.request.urlopen(
        f"{site.server.url}/v1/events?traits=instance_id:{instance}&limit=1000"
    ) as answer:
        expected = [e["message_id"] for e in reversed(json.loads(answer.read()))]
    wait_for(lambda: len(one.events()) >= len(expected), 60, "the instance's events")
    assert [e["message_id"] for e in one.events()] == expected
    one.close()

    # The same shape as /v1/events.
    with urllib.request.urlopen(f"{site.server.url}/v1/events?limit=1") as answer:
        newest = json.loads(answer.read())[0]
    assert everything.events()[-1] == newest

    # Disconnect, store more, come back with Last-Event-ID: exactly the rest.
    resume_from = everything.last_id()
    everything.close()
    ingest_day(site, 12)
    again = Watch(site.server, "?kind=events", {"Last-Event-ID": resume_from})
    total = db_events(site.url)
    wait_for(lambda: len(again.events()) >= len(total) - len(stored), 120, "the rest")
    assert [e["message_id"] for e in again.events()] == total[len(stored) :]
    # A heartbeat keeps the connection open (with the current id).
    wait_for(lambda: ": heartbeat" in again.lines, 30, "a heartbeat")
    again.close()


def _raw_event(conn: sa.Connection, type_id: int, message_id: str) -> None:
    conn.execute(
        schema.event.insert().values(
            message_id=message_id,
            event_type_id=type_id,
            generated=datetime.now(UTC),
            traits='{"deployment": "late-cell"}',
        )
    )


@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_a_row_that_commits_late_with_a_lower_id_arrives(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, corpus_config: Path
) -> None:
    with open_site(kind, request, tmp_path, corpus_config) as site:
        engine = connect(site.url)
        with engine.begin() as conn:
            conn.execute(schema.event_type.insert().values(name="test.late"))
            type_id = conn.execute(sa.select(schema.event_type.c.id)).scalar_one()
        watcher = Watch(site.server, "?deployment=late-cell")
        wait_for(lambda: watcher.lines, 30, "the stream to start")
        held = engine.connect()
        slow = held.begin()
        _raw_event(held, type_id, "late-low-id")  # gets the lower id, not committed
        with engine.begin() as conn:
            _raw_event(conn, type_id, "early-high-id")
        wait_for(watcher.events, 60, "the committed event")
        cursor_before = watcher.last_id()
        slow.commit()
        held.close()
        wait_for(lambda: len(watcher.events()) == 2, 60, "the late event")
        assert [e["message_id"] for e in watcher.events()] == [
            "early-high-id",
            "late-low-id",
        ]
        # A client that left before the late commit gets it when it resumes.
        resumed = Watch(
            site.server, "?deployment=late-cell", {"Last-Event-ID": cursor_before}
        )
        wait_for(resumed.events, 60, "the late event on resume")
        assert [e["message_id"] for e in resumed.events()] == ["late-low-id"]
        watcher.close()
        resumed.close()
        engine.dispose()


def test_stream_changes_arrive_from_the_worker_and_the_api(
    request: pytest.FixtureRequest, tmp_path: Path, corpus_config: Path
) -> None:
    with open_site("sqlite", request, tmp_path, corpus_config, token=TOKEN) as site:
        watcher = Watch(site.server, "?kind=streams")
        wait_for(lambda: watcher.lines, 30, "the stream to start")
        ingest(site.url, site.config.parent,
               notigen_day(tmp_path / "d.jsonl", 7, count=300))  # fmt: skip
        wait_for(lambda: any(c["change"] == "created" for c in watcher.changes()), 60)
        engine = connect(site.url)
        later = datetime(2100, 1, 1, tzinfo=UTC)
        with engine.begin() as conn:
            claimed = lifecycle.claim(
                conn, lifecycle.EXPIRE, now=later, wall=later, owner="live-test",
                lease=timedelta(minutes=5), limit=1,
            )  # fmt: skip
            assert claimed
            lifecycle.fail(
                conn, claimed, "the pipeline broke (test)", owner="live-test",
                wall=later, max_attempts=1, backoff=lifecycle.Backoff(),
            )  # fmt: skip
            done = lifecycle.claim(
                conn, lifecycle.EXPIRE, now=later, wall=later, owner="live-test",
                lease=timedelta(minutes=5), limit=1,
            )  # fmt: skip
            assert lifecycle.complete(
                conn, [done[0].id], owner="live-test", purge=True
            ) == [done[0].id]
        engine.dispose()
        stream_id = claimed[0].id
        put = urllib.request.Request(
            f"{site.server.url}/v1/streams/{stream_id}",
            method="PUT",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(put) as answer:
            assert answer.status == 200

        def mine() -> list[tuple[str, str]]:
            return [(c["change"], c["state"]) for c in watcher.changes()
                    if c["id"] == stream_id]  # fmt: skip

        wait_for(lambda: ("reset", "retry_expire") in mine(), 60, "the reset")
        assert mine()[-3:] == [
            ("expiring", "expiring"),
            ("error", "expire_error"),
            ("reset", "retry_expire"),
        ]
        expired = [c["state"] for c in watcher.changes() if c["id"] == done[0].id]
        assert expired == ["active", "expiring", "completed"]  # created, claimed, done
        assert [c["change"] for c in watcher.changes() if c["id"] == done[0].id] == [
            "created",
            "expiring",
            "expired",
        ]
        error = next(c for c in watcher.changes() if c["change"] == "error")
        assert error["reason"] == "the pipeline broke (test)"
        assert error["name"] == error["trigger_name"] == claimed[0].trigger_name
        assert error["distinguishing_traits"] == json.loads(
            jsonutil.dumps(claimed[0].distinguishing_traits)
        )
        assert error["at"]["__type__"] == "datetime"
        watcher.close()


def test_bad_parameters_auth_and_the_token_kept_out_of_the_log(
    request: pytest.FixtureRequest, tmp_path: Path, corpus_config: Path
) -> None:
    with open_site("sqlite", request, tmp_path, corpus_config,
                   token=TOKEN, auth_reads=True) as site:  # fmt: skip
        base = f"{site.server.url}/v1/stream"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for query, named in [
            ("kind=bogus", "kind"),
            ("traits=nocolon", "traits"),
            ("since=garbage", "since"),
            ("event_name=%00", "event_name"),
        ]:
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(
                    urllib.request.Request(f"{base}?{query}", headers=auth)
                )
            assert refused.value.code == 400
            assert named in json.loads(refused.value.read())["description"] + named
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(
                urllib.request.Request(base, headers={**auth, "Last-Event-ID": "x"})
            )
        assert refused.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base)
        assert refused.value.code == 401
        # The token in the query (EventSource cannot send headers) works...
        watcher = Watch(site.server, f"?token={TOKEN}&kind=all")
        assert watcher.status == 200
        wait_for(lambda: watcher.lines, 30, "the stream to start")
        watcher.close()
        site.server.stop()
        # ... and is not in the access log.
        log = site.server.log.read_text()
        assert "/v1/stream?token=***&kind=all" in log and TOKEN not in log


def test_klugman_watch_follows_and_resumes_across_a_restart(
    request: pytest.FixtureRequest, tmp_path: Path, corpus_config: Path
) -> None:
    with open_site("sqlite", request, tmp_path, corpus_config) as site:
        out, err = tmp_path / "watch.out", tmp_path / "watch.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            watch = subprocess.Popen(
                [str(Path(sys.executable).with_name("klugman")), "--url",
                 site.server.url, "watch", "--json", "--streams"],
                stdout=stdout, stderr=stderr, cwd=ROOT,
            )  # fmt: skip
        try:

            def lines() -> list[dict[str, Any]]:
                return [json.loads(x) for x in out.read_text().splitlines() if x]

            def events() -> list[str]:
                return [x["event"]["message_id"] for x in lines() if "event" in x]

            wait_for(lambda: "watching" in err.read_text(), 60, "klugman to connect")
            ingest_day(site, 21, count=60)
            first = db_events(site.url)
            wait_for(lambda: len(events()) >= len(first), 90, "klugman to print them")
            site.server.stop()
            wait_for(lambda: "reconnecting" in err.read_text(), 60, "the notice")
            ingest_day(site, 22, count=60)
            site.server.start()
            wait_for(lambda: "resuming" in err.read_text(), 90, "the reconnection")
            total = db_events(site.url)
            wait_for(
                lambda: len(events()) >= len(total), 90, "the events stored meanwhile"
            )
            assert events() == total
            assert any(
                x["stream"]["change"] == "created" for x in lines() if "stream" in x
            )
            watch.send_signal(signal.SIGINT)
            assert watch.wait(30) == 0
        finally:
            if watch.poll() is None:
                watch.kill()
        assert "Traceback" not in err.read_text()


def test_klugman_watch_lines_for_people(
    request: pytest.FixtureRequest, tmp_path: Path, corpus_config: Path
) -> None:
    with open_site("sqlite", request, tmp_path, corpus_config) as site:
        out, err = tmp_path / "people.out", tmp_path / "people.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            watch = subprocess.Popen(
                [str(Path(sys.executable).with_name("klugman")), "--url",
                 site.server.url, "watch", "--event-type", "compute.instance.update"],
                stdout=stdout, stderr=stderr, cwd=ROOT,
            )  # fmt: skip
        try:
            wait_for(lambda: "watching" in err.read_text(), 60, "klugman to connect")
            ingest_day(site, 23, count=40)
            wanted = db_events(site.url, "compute.instance.update")
            wait_for(lambda: len(out.read_text().splitlines()) >= len(wanted), 90)
            first = out.read_text().splitlines()[0].split("  ")
            assert first[2] == "compute.instance.update"
            assert first[4].startswith("req-") and "state=" in first[5]
            watch.send_signal(signal.SIGINT)
            assert watch.wait(30) == 0
        finally:
            if watch.poll() is None:
                watch.kill()
