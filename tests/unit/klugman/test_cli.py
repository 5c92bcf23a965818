"""The klugman command against a canned server: output, options, exit statuses."""

from __future__ import annotations

import json
import socket

from click.testing import CliRunner, Result

from klugman.cli import main

from .conftest import EVENT, STREAM, Canned


def run(canned: Canned | str, *args: str, **env: str) -> Result:
    url = canned if isinstance(canned, str) else canned.url
    environment = {"STACKTACH_URL": url, "STACKTACH_API_TOKEN": "", "COLUMNS": ""}
    environment.update(env)
    return CliRunner().invoke(main, list(args), env=environment, prog_name="klugman")


def one_line(result: Result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


def test_streams_table_and_json(canned: Canned) -> None:
    canned.routes["GET", "/v1/streams"] = (200, [STREAM])
    table = run(canned, "streams")
    assert table.exit_code == 0, table.stderr
    head, row = table.stdout.splitlines()
    assert head.split()[:3] == ["ID", "TRIGGER", "STATE"]
    assert "2026-12-01 03:15:42" in row and "instance_id=i-0001" in row
    as_json = run(canned, "--json", "streams")
    assert json.loads(as_json.stdout) == [STREAM]  # the server's document, typed
    after = run(canned, "streams", "--json")
    assert json.loads(after.stdout) == [STREAM]


def test_stream_options_reach_the_server_by_its_names(canned: Canned) -> None:
    canned.routes["GET", "/v1/streams"] = (200, [])
    result = run(
        canned, "streams", "--state", "error", "--trigger", "usage",
        "--traits", "instance_id:i-1;memory_mb:int:512", "--traits", "host:h1",
        "--older-than", "2026-12-02", "--younger-than", "2026-11-30 12:00:00+01:00",
        "--limit", "5", "--mark", "+1a",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert canned.last().query == {
        "state": "error",
        "trigger_name": "usage",
        "distinguishing_traits": "instance_id:i-1;memory_mb:int:512;host:h1",
        "older_than": "2026-12-02T00:00:00Z",
        "younger_than": "2026-11-30T11:00:00Z",
        "limit": "5",
        "mark": "+1a",
    }
    assert result.stderr == "(no streams)\n"


def test_event_options_reach_the_server_by_its_names(canned: Canned) -> None:
    canned.routes["GET", "/v1/events"] = (200, [EVENT])
    result = run(
        canned, "events", "--event-type", "compute.instance.*",
        "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02", "--traits", "a:1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert canned.last().query == {
        "event_name": "compute.instance.*",
        "from_datetime": "2026-12-01T00:00:00Z",
        "to_datetime": "2026-12-02T00:00:00Z",
        "traits": "a:1",
    }
    assert "compute.instance.create.end" in result.stdout


def test_a_full_page_says_how_to_get_the_next(canned: Canned) -> None:
    canned.routes["GET", "/v1/events"] = (200, [EVENT])
    result = run(canned, "events", "--limit", "1")
    assert "--mark 1f for the next page" in result.stderr


def test_all_follows_pages_and_prints_json_lines(canned: Canned) -> None:
    def page(query: dict[str, str]) -> tuple[int, object]:
        start = int(query.get("mark", "ff"), 16)
        rows = [{**EVENT, "message_id": f"m{i}", "_mark": f"{i:x}"} for i in (3, 2, 1)]
        return 200, [r for r in rows if int(r["_mark"], 16) < start][:2]

    canned.routes["GET", "/v1/events"] = page
    result = run(canned, "--json", "events", "--all", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["message_id"] for e in lines] == ["m3", "m2", "m1"]
    table = run(canned, "events", "--all", "--limit", "2")
    assert len(table.stdout.splitlines()) == 4  # one table: header and three rows


def test_fail_empty_exits_1(canned: Canned) -> None:
    canned.routes["GET", "/v1/streams"] = (200, [])
    canned.routes["GET", "/v1/events/count"] = (200, [{"count": 0}])
    canned.routes["GET", "/v1/event_types"] = (200, [])
    assert run(canned, "streams").exit_code == 0
    result = run(canned, "streams", "--fail-empty")
    assert result.exit_code == 1
    assert one_line(result) == "klugman: no streams found"
    assert run(canned, "--json", "streams", "--all", "--fail-empty").exit_code == 1
    assert run(canned, "count", "events", "--fail-empty").exit_code == 1
    assert run(canned, "event-types", "--fail-empty").exit_code == 1


def test_not_found_exits_1_with_one_line(canned: Canned) -> None:
    result = run(canned, "stream", "99")
    assert result.exit_code == 1
    assert one_line(result) == "klugman: stream 99 not found"
    canned.routes["GET", "/v1/events/nope"] = (
        404,
        {"title": "Not Found", "description": "no event nope"},
    )
    assert one_line(run(canned, "event", "nope")) == "klugman: no event nope"


def test_a_parameter_the_server_refuses_exits_2_naming_the_option(
    canned: Canned,
) -> None:
    canned.routes["GET", "/v1/streams"] = (
        400,
        {
            "title": "Invalid parameter",
            "description": 'The "distinguishing_traits" parameter is invalid. '
            "Expected name:value.",
        },
    )
    result = run(canned, "streams", "--traits", "oops")
    assert result.exit_code == 2
    line = one_line(result)
    assert line.startswith('klugman: bad request: The "distinguishing_traits"')
    assert line.endswith("(see --traits)")


def test_local_usage_errors_exit_2(canned: Canned) -> None:
    for args in (
        ["streams", "--state", "bogus"],
        ["events", "--from", "yesterday"],
        ["streams", "--limit", "0"],
        ["stream", "abc"],
        ["count", "streams", "--from", "2026-12-01"],
        ["count", "events", "--state", "error"],
        ["nosuch"],
    ):
        result = run(canned, *args)
        assert result.exit_code == 2, (args, result.output)
        assert one_line(result).startswith("klugman: "), args
    assert canned.requests == []  # none of them reached the server
    line = one_line(run(canned, "count", "events", "--state", "error"))
    assert "--state does not apply to 'count events'" in line


def test_unauthorized_exits_4_and_says_what_to_do(canned: Canned) -> None:
    canned.routes["DELETE", "/v1/streams/12"] = (401, {"title": "401 Unauthorized"})
    result = run(canned, "delete", "12")
    assert result.exit_code == 4
    assert "give the API token with --token" in one_line(result)
    refused = run(canned, "--token", "wrong", "delete", "12")
    assert refused.exit_code == 4
    assert "the token given was refused" in one_line(refused)
    assert "wrong" not in refused.stderr
    assert canned.last().headers["Authorization"] == "Bearer wrong"
    run(canned, "delete", "12", STACKTACH_API_TOKEN="from-env")
    assert canned.last().headers["Authorization"] == "Bearer from-env"


def test_server_errors_and_no_server_exit_3(canned: Canned) -> None:
    canned.routes["GET", "/v1/triggers"] = (500, {"title": "Internal error"})
    result = run(canned, "triggers")
    assert result.exit_code == 3
    assert one_line(result) == "klugman: server error (HTTP 500): Internal error"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = run(f"http://127.0.0.1:{port}", "streams")
    assert down.exit_code == 3
    assert "connection refused" in one_line(down)


def test_conflict_exits_1_with_the_reason(canned: Canned) -> None:
    canned.routes["PUT", "/v1/streams/12"] = (
        409,
        {"title": "Conflict", "description": "stream 12 is active, not error"},
    )
    result = run(canned, "reset", "12")
    assert result.exit_code == 1
    assert one_line(result) == "klugman: conflict: stream 12 is active, not error"


def test_reset_and_delete_say_what_happened(canned: Canned) -> None:
    canned.routes["PUT", "/v1/streams/12"] = (200, [{**STREAM, "state": "retry_fire"}])
    canned.routes["DELETE", "/v1/streams/12"] = (204, b"")
    assert run(canned, "reset", "12").stdout == "stream 12 reset: now retry_fire\n"
    assert json.loads(run(canned, "--json", "reset", "12").stdout)["state"] == (
        "retry_fire"
    )
    assert run(canned, "delete", "12").stdout == "stream 12 deleted\n"
    assert json.loads(run(canned, "delete", "12", "--json").stdout) == {
        "id": 12,
        "deleted": True,
    }


def test_health_prints_the_report_and_exits_3_when_down(canned: Canned) -> None:
    canned.routes["GET", "/healthcheck"] = (
        200,
        {"status": "ok", "database": "ok", "broker": "not configured"},
    )
    good = run(canned, "health")
    assert good.exit_code == 0
    assert "broker    not configured" in good.stdout
    canned.routes["GET", "/healthcheck"] = (
        503,
        {"status": "fail", "database": "OperationalError: gone", "broker": "ok"},
    )
    bad = run(canned, "health")
    assert bad.exit_code == 3
    assert "database  OperationalError: gone" in bad.stdout
    assert one_line(bad) == "klugman: unhealthy: database: OperationalError: gone"


def test_count_prints_the_number(canned: Canned) -> None:
    canned.routes["GET", "/v1/streams/count"] = (200, [{"count": 42}])
    result = run(canned, "count", "streams", "--state", "active", "--traits", "a:1")
    assert result.stdout == "42\n"
    assert canned.last().query == {"state": "active", "distinguishing_traits": "a:1"}
    assert json.loads(run(canned, "--json", "count", "streams").stdout) == {"count": 42}


def test_tables_fit_columns(canned: Canned) -> None:
    long = {**STREAM, "distinguishing_traits": {"instance_id": "x" * 200}}
    canned.routes["GET", "/v1/streams"] = (200, [long])
    result = run(canned, "streams", COLUMNS="100")
    assert all(len(line) <= 100 for line in result.stdout.splitlines())
    assert result.stdout.splitlines()[1].endswith("…")


def test_debug_logs_each_request_without_the_token(canned: Canned) -> None:
    canned.routes["GET", "/v1/triggers"] = (200, [])
    result = run(canned, "--token", "s3cret", "--debug", "triggers")
    assert f"GET {canned.url}/v1/triggers" in result.stderr
    assert "s3cret" not in result.stderr


def test_archives_not_configured_is_not_found_with_the_reason(canned: Canned) -> None:
    canned.routes["GET", "/v2/archives"] = (
        404,
        {"title": "Not configured", "description": "api.archive_folder is not set"},
    )
    result = run(canned, "archives")
    assert result.exit_code == 1
    assert one_line(result) == "klugman: api.archive_folder is not set"


def test_a_bad_url_is_a_usage_error() -> None:
    result = run("ftp://example.org", "streams")
    assert result.exit_code == 2
    assert "not an http(s) URL" in one_line(result)
