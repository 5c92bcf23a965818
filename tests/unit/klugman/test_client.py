"""The client against a small real HTTP server: parameters sent, answers, errors."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest

from klugman import (
    BadRequest,
    Client,
    Conflict,
    NotFound,
    ServerError,
    Unauthorized,
    Unreachable,
)
from klugman.client import iso_utc, join_traits

from .conftest import EVENT, STREAM, Canned


def test_stream_filters_use_the_servers_names(canned: Canned) -> None:
    canned.routes["GET", "/v1/streams"] = (200, [STREAM])
    rows = Client(canned.url).streams(
        state="error",
        trigger_name="per_instance",
        distinguishing_traits={"instance_id": "i-1", "memory_mb": 512},
        older_than=datetime(2026, 12, 2, tzinfo=UTC),
        younger_than="2026-11-30T00:00:00Z",
        mark="+1a",
        limit=50,
    )
    assert canned.last().query == {
        "state": "error",
        "trigger_name": "per_instance",
        "distinguishing_traits": "instance_id:i-1;memory_mb:512",
        "older_than": "2026-12-02T00:00:00Z",
        "younger_than": "2026-11-30T00:00:00Z",
        "mark": "+1a",
        "limit": "50",
    }
    # typed datetimes come back as datetimes
    assert rows[0]["first_event"] == datetime(2026, 12, 1, tzinfo=UTC)


def test_event_filters_use_the_servers_names(canned: Canned) -> None:
    canned.routes["GET", "/v1/events"] = (200, [EVENT])
    Client(canned.url).events(
        event_name="compute.instance.*",
        from_datetime=datetime(2026, 12, 1, 0, 0, 0, 5, tzinfo=UTC),
        to_datetime=datetime(2026, 12, 2, tzinfo=UTC),
        traits=["memory_mb:int:512", "host:h1;tenant:t"],
    )
    assert canned.last().query == {
        "event_name": "compute.instance.*",
        "from_datetime": "2026-12-01T00:00:00.000005Z",
        "to_datetime": "2026-12-02T00:00:00Z",
        "traits": "memory_mb:int:512;host:h1;tenant:t",
    }


def test_filters_left_out_are_not_sent(canned: Canned) -> None:
    canned.routes["GET", "/v1/events/count"] = (200, [{"count": 7}])
    assert Client(canned.url).count_events() == 7
    assert canned.last().query == {}


def test_counts_stream_and_event_by_id(canned: Canned) -> None:
    canned.routes["GET", "/v1/streams/count"] = (200, [{"count": 3}])
    canned.routes["GET", "/v1/streams/12"] = (200, [STREAM])
    canned.routes["GET", "/v1/events/m%2F1"] = (200, EVENT)
    api = Client(canned.url + "/")
    assert api.count_streams(state="active") == 3
    assert canned.last().query == {"state": "active"}
    assert api.stream(12, details=True)["id"] == 12
    assert canned.last().query == {"details": "true"}
    api.stream(12)
    assert canned.last().query == {"details": "false"}
    assert api.event("m/1")["message_id"] == "m-0001"  # a '/' stays in the segment


def test_reset_and_delete(canned: Canned) -> None:
    canned.routes["PUT", "/v1/streams/12"] = (200, [{**STREAM, "state": "retry_fire"}])
    canned.routes["DELETE", "/v1/streams/12"] = (204, b"")
    api = Client(canned.url)
    assert api.reset_stream(12)["state"] == "retry_fire"
    assert api.delete_stream(12) is None
    assert [r.method for r in canned.requests] == ["PUT", "DELETE"]


def test_the_other_endpoints(canned: Canned) -> None:
    canned.routes["GET", "/v1/event_types"] = (200, [{"name": "a", "count": 1}])
    canned.routes["GET", "/v1/event_types/compute.instance.exists/traits"] = (
        200,
        [{"name": "memory_mb", "type": "int"}],
    )
    canned.routes["GET", "/v1/triggers"] = (200, [{"name": "usage", "counters": {}}])
    canned.routes["GET", "/v2/archives"] = (200, [])
    api = Client(canned.url)
    assert api.event_types()[0]["name"] == "a"
    assert api.event_type_traits("compute.instance.exists")[0]["type"] == "int"
    assert api.triggers()[0]["name"] == "usage"
    assert api.archives() == []


def test_the_token_is_sent_as_a_bearer_and_never_shown(canned: Canned) -> None:
    canned.routes["GET", "/v1/triggers"] = (200, [])
    api = Client(canned.url, token="s3cret")
    api.triggers()
    assert canned.last().headers["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in repr(api)
    Client(canned.url).triggers()
    assert "Authorization" not in canned.last().headers


def test_a_path_prefix_is_kept(canned: Canned) -> None:
    canned.routes["GET", "/stacktach/v1/triggers"] = (200, [])
    assert Client(canned.url + "/stacktach").triggers() == []


def test_iter_streams_follows_every_page_by_the_last_mark(canned: Canned) -> None:
    ids = list(range(25, 0, -1))

    def page(query: dict[str, str]) -> tuple[int, object]:
        limit = int(query["limit"])
        start = int(query["mark"], 16) if "mark" in query else 10**9
        rows = [{"id": i, "_mark": f"{i:x}"} for i in ids if i < start][:limit]
        return 200, rows

    canned.routes["GET", "/v1/streams"] = page
    got = [
        s["id"] for s in Client(canned.url).iter_streams(page_size=10, state="error")
    ]
    assert got == ids
    assert [r.query.get("mark") for r in canned.requests] == [None, "10", "6"]
    assert all(r.query["state"] == "error" for r in canned.requests)


def test_paging_that_does_not_advance_is_an_error(canned: Canned) -> None:
    canned.routes["GET", "/v1/events"] = (200, [{"_mark": "5"}, {"_mark": "5"}])
    with pytest.raises(ServerError, match="did not advance"):
        list(Client(canned.url).iter_events(page_size=2, mark="5"))


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (404, {"title": "404 Not Found"}, NotFound, "stream 99 not found"),
        (
            404,
            {"title": "Not Found", "description": "no stream 99"},
            NotFound,
            "no stream 99",
        ),
        (
            409,
            {"title": "Conflict", "description": "stream 99 is active"},
            Conflict,
            "stream 99 is active",
        ),
        (
            400,
            {
                "title": "Invalid parameter",
                "description": 'The "limit" must be <= 1000',
            },
            BadRequest,
            'The "limit" must be <= 1000',
        ),
        (
            405,
            {"title": "405 Method Not Allowed"},
            BadRequest,
            "405 Method Not Allowed",
        ),
        (401, {"title": "401 Unauthorized"}, Unauthorized, "401 Unauthorized"),
        (403, {"title": "403 Forbidden"}, Unauthorized, "403 Forbidden"),
        (500, b"<html>oops</html>", ServerError, "HTTP 500 Internal Server Error"),
        (502, {"title": "502 Bad Gateway"}, ServerError, "502 Bad Gateway"),
    ],
)
def test_errors_are_typed_with_the_servers_description(
    canned: Canned, status: int, body: object, error: type, message: str
) -> None:
    canned.routes["GET", "/v1/streams/99"] = (status, body)
    with pytest.raises(error) as caught:
        Client(canned.url).stream(99)
    assert str(caught.value) == message
    assert caught.value.status == status


def test_exit_statuses_by_kind() -> None:
    assert [e.exit_status for e in (NotFound, Conflict, BadRequest, Unauthorized)] == [
        1, 1, 2, 4,
    ]  # fmt: skip
    assert ServerError.exit_status == Unreachable.exit_status == 3


def test_an_answer_that_is_not_json_is_a_server_error(canned: Canned) -> None:
    canned.routes["GET", "/v1/triggers"] = (200, b"<html>a proxy</html>")
    with pytest.raises(ServerError, match="not JSON"):
        Client(canned.url).triggers()
    canned.routes["GET", "/v1/triggers"] = (200, {"not": "a list"})
    with pytest.raises(ServerError, match="expected a list"):
        Client(canned.url).triggers()


def test_health_returns_the_report_on_503(canned: Canned) -> None:
    report = {"status": "fail", "database": "connection refused", "broker": "ok"}
    canned.routes["GET", "/healthcheck"] = (503, report)
    assert Client(canned.url).health() == report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_listening_is_unreachable() -> None:
    with pytest.raises(Unreachable, match="connection refused"):
        Client(f"http://127.0.0.1:{free_port()}").triggers()


def test_an_unknown_host_is_unreachable() -> None:
    with pytest.raises(Unreachable, match="unknown host"):
        Client("http://no-such-host.invalid:8000").triggers()


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts connections, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(Unreachable, match=r"no answer within 0\.2 s"):
            Client(url, timeout=0.2).triggers()


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Client("ftp://example.org")
    assert Client("127.0.0.1:9").url == "http://127.0.0.1:9"


def test_join_traits_and_iso_utc() -> None:
    assert join_traits(None) is None
    assert join_traits("a:1; ;b:2;") == "a:1;b:2"
    assert (
        join_traits({"at": datetime(2026, 12, 1, tzinfo=UTC)})
        == "at:2026-12-01T00:00:00Z"
    )
    assert join_traits([]) is None
    assert iso_utc(datetime(2026, 12, 1, 1, 2, 3)) == "2026-12-01T01:02:03Z"


def test_iter_events_with_the_servers_page_size_stops_at_an_empty_page(
    canned: Canned,
) -> None:
    def page(query: dict[str, str]) -> tuple[int, object]:
        assert "limit" not in query
        start = int(query["mark"], 16) if "mark" in query else 7
        return 200, [{"_mark": f"{i:x}"} for i in range(start - 1, 0, -1)][:3]

    canned.routes["GET", "/v1/events"] = page
    got = [e["_mark"] for e in Client(canned.url).iter_events(event_name="x")]
    assert got == ["6", "5", "4", "3", "2", "1"]
    assert [r.query.get("mark") for r in canned.requests] == [None, "4", "1"]


def test_only_datetimes_are_decoded_whatever_else_is_registered(
    canned: Canned,
) -> None:
    from stacktach import jsonutil

    span = {"__type__": "test.Klugman", "begin": "a", "end": "b"}
    jsonutil.register_decoder("test.Klugman", lambda d: ("decoded", d))
    canned.routes["GET", "/v1/streams"] = (
        200,
        [{**STREAM, "distinguishing_traits": {"timestamp": span}}],
    )
    row = Client(canned.url).streams()[0]
    assert row["distinguishing_traits"]["timestamp"] == span
    assert isinstance(row["first_event"], datetime)
    assert json.loads(jsonutil.dumps(row)) == {
        **STREAM, "distinguishing_traits": {"timestamp": span},
    }  # fmt: skip
