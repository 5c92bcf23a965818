"""klugman against a live ``quince-api``: real gunicorn on a free port, over a SQLite
database filled by the trigger manager from a notigen day.

Each command with its table and its ``--json`` output (which must be the server's
own JSON document), the exit statuses (not found 1, bad usage 2, server down 3,
unauthorized 4) as the real ``klugman`` console script reports them, and one test
that drives every option and checks the server applied it as documented.

Two streams are put in ``error`` / ``expire_error`` through the worker's own
lifecycle calls (claim, then fail with ``max_attempts=1``), so ``reset`` has
something to reset. The server has ``api.token`` set, so writes need it.

quince is helper F's package: without it (not merged yet) these tests skip -
and fail under ``CI=true``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from klugman.cli import main
from stacktach import jsonutil
from tests.conftest import require
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "live-s3cret"


@dataclass
class Live:
    url: str
    db_url: str
    server: subprocess.Popen[bytes]

    def raw(self, path: str, **params: Any) -> Any:
        """The server's own JSON for ``path`` (read without klugman)."""
        query = urllib.parse.urlencode(params)
        target = f"{self.url}{path}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(target, timeout=30) as response:
            return json.loads(response.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthcheck", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def notigen_day(out: Path) -> list[bytes]:
    """A whole notigen day (its midnight .exists make streams ready to fire)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "notigen.cli",
            "--seed",
            "7",
            "--duration",
            "1d",
            "--instances",
            "6",
            "--ops-per-hour",
            "8",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return [line for line in out.read_bytes().splitlines() if line.strip()]


def _fail_two_streams(db_url: str) -> None:
    """One stream to ``error``, one to ``expire_error``, as failed pipelines do."""
    from winchester.storage import lifecycle
    from winchester.storage.engine import connect

    engine = connect(db_url)
    later = datetime(2100, 1, 1, tzinfo=UTC)
    try:
        for kind in (lifecycle.FIRE, lifecycle.EXPIRE):
            with engine.begin() as conn:
                claimed = lifecycle.claim(
                    conn, kind, now=later, wall=later, owner="klugman-test",
                    lease=timedelta(minutes=5), limit=1,
                )  # fmt: skip
                assert claimed, f"no stream ready to {kind}"
                lifecycle.fail(
                    conn, claimed, "the pipeline failed (test)", owner="klugman-test",
                    wall=later, max_attempts=1, backoff=lifecycle.Backoff(),
                )  # fmt: skip
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, corpus_config: Path
) -> Iterator[Live]:
    require(
        importlib.util.find_spec("quince") is not None,
        "quince (the REST API) is not installed: klugman's live tests need it",
    )
    import shoebox
    from tests.support.quince import ingest, write_config
    from winchester.storage.engine import connect
    from winchester.storage.migrate import upgrade

    folder = tmp_path_factory.mktemp("klugman-live")
    db_url = f"sqlite:///{folder / 'winchester.db'}"
    engine = connect(db_url)
    upgrade(engine)
    engine.dispose()
    config_dir = folder / "cfg"
    config = write_config(
        config_dir, corpus_config, db_url, token=TOKEN,
        archive_folder=str(folder / "archive"),
    )  # fmt: skip
    day = notigen_day(folder / "day.jsonl")
    ingest(db_url, config_dir, day)
    with shoebox.Archive(folder / "archive", folder / "work", roll_minutes=None) as box:
        box.write((line, {}) for line in day)
    _fail_two_streams(db_url)

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "STACKTACH_API_TOKEN"}
    log = (folder / "quince.log").open("wb")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("quince-api")),
            "-c",
            str(config),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: _answers(url) or server.poll() is not None,
            90,
            "quince-api to serve",
        )
        assert server.poll() is None, (folder / "quince.log").read_text()[-3000:]
        yield Live(url, db_url, server)
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def kl(live: Live, *args: str, columns: str = "", token: str = "") -> Result:
    """klugman in-process (CliRunner), talking HTTP to the live server."""
    env = {"STACKTACH_URL": live.url, "STACKTACH_API_TOKEN": token, "COLUMNS": columns}
    result = CliRunner().invoke(main, list(args), env=env, prog_name="klugman")
    assert "Traceback" not in result.output + result.stderr
    return result


def ok(live: Live, *args: str, **kw: str) -> Result:
    result = kl(live, *args, **kw)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def as_json(live: Live, *args: str, **kw: str) -> Any:
    return json.loads(ok(live, "--json", *args, **kw).stdout)


def json_lines(live: Live, *args: str) -> list[Any]:
    out = ok(live, "--json", *args, "--all").stdout
    return [json.loads(line) for line in out.splitlines()]


def process(
    live_url: str, *args: str, token: str = ""
) -> subprocess.CompletedProcess[str]:
    """The ``klugman`` console script as a real process (exit status, stderr)."""
    env = {**os.environ, "STACKTACH_URL": live_url, "STACKTACH_API_TOKEN": token}
    return subprocess.run(
        [str(Path(sys.executable).with_name("klugman")), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("klugman: "), done.stderr
    return lines[0]


def table_rows(result: Result) -> list[str]:
    return result.stdout.splitlines()[1:]


# ----------------------------------------------------------------------- commands


def test_streams_table_and_json(live: Live) -> None:
    expected = live.raw("/v1/streams")
    assert expected, "the notigen day made no streams"
    assert as_json(live, "streams") == expected  # the server's own document
    table = ok(live, "streams")
    head, *rows = table.stdout.splitlines()
    assert head.split()[:3] == ["ID", "TRIGGER", "STATE"]
    assert len(rows) == len(expected)
    first = expected[0]
    assert rows[0].split()[:3] == [str(first["id"]), first["name"], first["state"]]
    instance = first["distinguishing_traits"]["instance_id"]
    assert f"instance_id={instance}" in rows[0]
    when = jsonutil.loads(json.dumps(first["first_event"]))
    assert when.strftime("%Y-%m-%d %H:%M:%S") in rows[0]
    assert "__type__" not in table.stdout


def test_stream_detail_table_and_json(live: Live) -> None:
    stream_id = live.raw("/v1/streams", limit=1)[0]["id"]
    expected = live.raw(f"/v1/streams/{stream_id}", details="true")[0]
    detailed = as_json(live, "stream", str(stream_id), "--details")
    assert detailed == expected
    assert (
        as_json(live, "stream", str(stream_id))
        == live.raw(f"/v1/streams/{stream_id}")[0]
    )
    assert "events" not in as_json(live, "stream", str(stream_id))
    table = ok(live, "stream", str(stream_id), "--details").stdout
    assert table.splitlines()[1].split() == ["id", str(stream_id)]
    for name, value in expected["distinguishing_traits"].items():
        if isinstance(value, str):
            assert f"trait.{name}" in table and value in table
    assert f"Events ({len(expected['events'])}):" in table
    for event in expected["events"]:
        assert event["message_id"] in table
    assert "Events" not in ok(live, "stream", str(stream_id)).stdout


def test_events_table_and_json(live: Live) -> None:
    expected = live.raw("/v1/events", limit=20)
    assert as_json(live, "events", "--limit", "20") == expected
    table = ok(live, "events", "--limit", "20")
    rows = table_rows(table)
    assert len(rows) == 20
    assert rows[0].split()[2:4] == [
        expected[0]["event_type"],
        expected[0]["message_id"],
    ]
    assert "--mark" in table.stderr  # a full page says how to get the next


def test_event_table_and_json(live: Live) -> None:
    event = live.raw("/v1/events", limit=1, event_name="compute.instance.create.end")[0]
    message_id = event["message_id"]
    assert as_json(live, "event", message_id) == live.raw(f"/v1/events/{message_id}")
    table = ok(live, "event", message_id).stdout
    lines = table.splitlines()
    assert lines[0].split() == ["Property", "Value"]
    assert lines[1].split() == ["message_id", message_id]
    assert lines[2].split() == ["event_type", "compute.instance.create.end"]
    assert "memory_mb" in table and "instance_id  " in table
    assert "__type__" not in table


def test_counts_equal_the_lists(live: Live) -> None:
    assert ok(live, "count", "streams").stdout.strip() == str(
        len(json_lines(live, "streams"))
    )
    events = json_lines(live, "events", "--limit", "250")  # several pages
    assert as_json(live, "count", "events") == {"count": len(events)}
    assert len({e["message_id"] for e in events}) == len(events)  # no duplicate
    creates = live.raw("/v1/events/count", event_name="compute.instance.create.*")
    number = ok(live, "count", "events", "--event-type", "compute.instance.create.*")
    assert number.stdout.strip() == str(creates[0]["count"])


def test_event_types_traits_triggers_archives_health(live: Live) -> None:
    types = live.raw("/v1/event_types")
    assert as_json(live, "event-types") == types
    table = ok(live, "event-types").stdout
    assert len(table.splitlines()) == len(types) + 1
    exists = next(t for t in types if t["name"] == "compute.instance.exists")
    row = next(
        r for r in table.splitlines() if r.startswith("compute.instance.exists ")
    )
    assert row.split()[1] == str(exists["count"])

    traits = live.raw("/v1/event_types/compute.instance.create.end/traits")
    assert as_json(live, "traits", "compute.instance.create.end") == traits
    table = ok(live, "traits", "compute.instance.create.end").stdout
    assert any(line.split() == ["memory_mb", "int"] for line in table.splitlines())

    triggers = live.raw("/v1/triggers")
    assert as_json(live, "triggers") == triggers
    table = ok(live, "triggers").stdout
    assert table.splitlines()[1].startswith("test_trigger")
    assert "instance_id, timestamp=day" in table

    archives = live.raw("/v2/archives")
    assert as_json(live, "archives") == archives
    assert len(archives) == 1
    row = ok(live, "archives").stdout.splitlines()[1]
    assert row.startswith(archives[0]["name"]) and str(archives[0]["records"]) in row

    assert as_json(live, "health") == live.raw("/healthcheck")
    assert ok(live, "health").stdout.splitlines()[1].split() == ["status", "ok"]


def test_reset_and_delete(live: Live) -> None:
    error = live.raw("/v1/streams", state="error")[0]["id"]
    expire_error = live.raw("/v1/streams", state="expire_error")[0]["id"]
    # without the token: refused, exit 4, nothing changed
    refused = kl(live, "reset", str(error))
    assert refused.exit_code == 4, refused.stderr
    assert "give the API token with --token" in refused.stderr
    assert live.raw(f"/v1/streams/{error}")[0]["state"] == "error"

    done = ok(live, "reset", str(error), token=TOKEN)
    assert done.stdout == f"stream {error} reset: now retry_fire\n"
    after = as_json(live, "--token", TOKEN, "reset", str(expire_error))
    assert after["state"] == "retry_expire"
    assert after == live.raw(f"/v1/streams/{expire_error}")[0]
    again = kl(live, "reset", str(error), token=TOKEN)
    assert again.exit_code == 1
    assert (
        again.stderr.startswith("klugman: conflict: ") and "retry_fire" in again.stderr
    )

    victim = live.raw("/v1/streams", state="active", limit=1)[0]["id"]
    events = live.raw(f"/v1/streams/{victim}", details="true")[0]["events"]
    wrong = kl(live, "--token", "not-it", "delete", str(victim))
    assert wrong.exit_code == 4 and "the token given was refused" in wrong.stderr
    assert ok(live, "delete", str(victim), token=TOKEN).stdout == (
        f"stream {victim} deleted\n"
    )
    gone = kl(live, "stream", str(victim))
    assert gone.exit_code == 1 and f"{victim}" in gone.stderr
    for event in events:  # its events are kept
        ok(live, "event", event["message_id"])
    assert kl(live, "delete", str(victim), token=TOKEN).exit_code == 1


# ------------------------------------------------------------------ exit statuses


def test_not_found_exits_1(live: Live) -> None:
    for args in (
        ["stream", "987654321"],
        ["event", "no-such-message"],
        ["traits", "no.such.event_type"],
    ):
        done = process(live.url, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert "not found" in one_line(done).lower() or "no " in one_line(done)
        assert done.stdout == ""


def test_fail_empty_exits_1(live: Live) -> None:
    done = process(live.url, "streams", "--trigger", "no_such_trigger", "--fail-empty")
    assert done.returncode == 1
    assert one_line(done) == "klugman: no streams found"
    assert process(live.url, "streams", "--trigger", "no_such_trigger").returncode == 0


def test_bad_usage_exits_2_with_the_servers_description(live: Live) -> None:
    # refused by the server: its description, and the option that set it
    for args, option in (
        (["events", "--traits", "no-colon-here"], "--traits"),
        (["streams", "--traits", "memory_mb:int:lots"], "--traits"),
        (["events", "--limit", "5000"], "--limit"),
        (["streams", "--mark", "zz"], "--mark"),
    ):
        done = process(live.url, *args)
        assert done.returncode == 2, (args, done.stderr)
        line = one_line(done)
        assert line.startswith("klugman: bad request: "), line
        assert line.endswith(f"(see {option})"), line
    # refused here, before any request
    for args in (["streams", "--state", "bogus"], ["events", "--from", "last tuesday"]):
        done = process(live.url, *args)
        assert done.returncode == 2, (args, done.stderr)
        one_line(done)


def test_server_down_exits_3(live: Live) -> None:
    done = process(f"http://127.0.0.1:{free_port()}", "streams")
    assert done.returncode == 3
    assert "connection refused" in one_line(done)


def test_unauthorized_exits_4(live: Live) -> None:
    stream_id = live.raw("/v1/streams", limit=1)[0]["id"]
    done = process(live.url, "delete", str(stream_id))
    assert done.returncode == 4
    assert "unauthorized (HTTP 401)" in one_line(done)
    assert live.raw(f"/v1/streams/{stream_id}")  # still there


# ------------------------------------------------------------------- every option


def _decoded(rows: list[Any]) -> list[dict[str, Any]]:
    return [jsonutil.loads(json.dumps(row)) for row in rows]


def test_every_option_against_the_live_server(live: Live) -> None:
    streams = _decoded(json_lines(live, "streams"))
    events = _decoded(json_lines(live, "events"))
    by_id = {s["id"]: s for s in streams}

    # --state, --trigger
    for state in {s["state"] for s in streams}:
        got = json_lines(live, "streams", "--state", state)
        assert {s["id"] for s in got} == {
            s["id"] for s in streams if s["state"] == state
        }
    assert len(json_lines(live, "streams", "--trigger", "test_trigger")) == len(streams)
    assert json_lines(live, "streams", "--trigger", "nope") == []

    # --traits on streams: distinguishing traits, ';' and the option repeated
    one = streams[-1]
    instance = one["distinguishing_traits"]["instance_id"]
    mine = {
        s["id"]
        for s in streams
        if s["distinguishing_traits"]["instance_id"] == instance
    }
    assert {
        s["id"]
        for s in json_lines(live, "streams", "--traits", f"instance_id:{instance}")
    } == mine
    both = json_lines(
        live, "streams", "--traits", f"instance_id:{instance}", "--state", one["state"]
    )
    assert {s["id"] for s in both} == {
        i for i in mine if by_id[i]["state"] == one["state"]
    }

    # --older-than (first event before) / --younger-than (last event after)
    cut = sorted(s["first_event"] for s in streams)[len(streams) // 2]
    older = {
        s["id"] for s in json_lines(live, "streams", "--older-than", cut.isoformat())
    }
    assert older == {s["id"] for s in streams if s["first_event"] < cut}
    younger = {
        s["id"] for s in json_lines(live, "streams", "--younger-than", cut.isoformat())
    }
    assert younger == {s["id"] for s in streams if s["last_event"] > cut}

    # --event-type (a glob), --from (exclusive) / --to (inclusive)
    got = json_lines(live, "events", "--event-type", "compute.instance.*.end")
    assert {e["message_id"] for e in got} == {
        e["message_id"]
        for e in events
        if e["event_type"].startswith("compute.instance.")
        and e["event_type"].endswith(".end")
    }
    times = sorted(e["timestamp"] for e in events)
    low, high = times[len(times) // 4], times[3 * len(times) // 4]
    window = json_lines(
        live,
        "events",
        "--from",
        low.isoformat(),
        "--to",
        high.strftime("%Y-%m-%d %H:%M:%S.%f"),
    )
    assert {e["message_id"] for e in window} == {
        e["message_id"] for e in events if low < e["timestamp"] <= high
    }

    # --traits on events: typed (an int, a datetime), several with ';'
    create = next(e for e in events if e["event_type"] == "compute.instance.create.end")
    memory = create["memory_mb"]
    got = json_lines(live, "events", "--traits", f"memory_mb:{memory}")
    assert got and all(
        jsonutil.loads(json.dumps(e))["memory_mb"] == memory for e in got
    )
    assert len(got) == sum(1 for e in events if e.get("memory_mb") == memory)
    forced = json_lines(live, "events", "--traits", f"memory_mb:int:{memory}")
    assert len(forced) == len(got)
    launched = create["launched_at"]
    got = json_lines(
        live, "events", "--traits",
        f"instance_id:{create['instance_id']};launched_at:{launched.isoformat()}",
    )  # fmt: skip
    assert create["message_id"] in {e["message_id"] for e in got}
    assert all(e["instance_id"] == create["instance_id"] for e in got)

    # --limit, --mark (descending; '+' ascending), --all
    first = as_json(live, "events", "--limit", "7")
    assert [e["message_id"] for e in first] == [e["message_id"] for e in events[:7]]
    following = as_json(live, "events", "--limit", "7", "--mark", first[-1]["_mark"])
    assert [e["message_id"] for e in following] == [
        e["message_id"] for e in events[7:14]
    ]
    ascending = as_json(live, "streams", "--limit", "3", "--mark", "+0")
    assert [s["id"] for s in ascending] == sorted(by_id)[:3]
    assert all(s["_mark"].startswith("+") for s in ascending)
    rest = json_lines(live, "streams", "--mark", ascending[-1]["_mark"], "--limit", "4")
    assert [s["id"] for s in rest] == sorted(by_id)[3:]

    # stream --details; count with every filter; --fail-empty
    assert "events" in as_json(live, "stream", str(one["id"]), "--details")
    number = as_json(
        live, "count", "events", "--event-type", "compute.instance.*",
        "--from", low.isoformat(), "--to", high.isoformat(),
        "--traits", f"memory_mb:{memory}",
    )["count"]  # fmt: skip
    assert number == sum(
        1
        for e in events
        if e["event_type"].startswith("compute.instance.")
        and low < e["timestamp"] <= high
        and e.get("memory_mb") == memory
    )
    number = as_json(
        live, "count", "streams", "--state", one["state"], "--trigger", "test_trigger",
        "--traits", f"instance_id:{instance}", "--older-than", "2100-01-01",
        "--younger-than", "2000-01-01",
    )["count"]  # fmt: skip
    assert number == len([i for i in mine if by_id[i]["state"] == one["state"]])
    assert (
        kl(live, "events", "--event-type", "no.such.*", "--fail-empty").exit_code == 1
    )

    # --url, --token, --timeout, --json before or after the command, tables fit
    elsewhere = CliRunner().invoke(
        main, ["--url", live.url, "--timeout", "20", "count", "streams"],
        env={"STACKTACH_URL": "http://127.0.0.1:1"}, prog_name="klugman",
    )  # fmt: skip
    assert elsewhere.exit_code == 0 and elsewhere.stdout.strip() == str(len(streams))
    assert as_json(live, "streams", "--limit", "2") == json.loads(
        ok(live, "streams", "--limit", "2", "--json").stdout
    )
    debug = ok(live, "--token", TOKEN, "--debug", "count", "events")
    assert f"GET {live.url}/v1/events/count" in debug.stderr
    assert TOKEN not in debug.stderr + debug.stdout
    narrow = ok(live, "events", "--limit", "5", columns="80").stdout
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert "…" in narrow
