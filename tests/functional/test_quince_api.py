"""quince over a real database filled by the trigger manager from a notigen day.

Each test runs on SQLite, MariaDB and PostgreSQL (one filled database per
backend for the module): every endpoint and filter, typed trait filters,
paging, counts equal to list lengths, reset and delete rules, auth, and a JSON
400 naming the parameter for each kind of bad input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import falcon.inspect
import falcon.testing
import pytest
import sqlalchemy as sa

from quince.app import ROUTES, create_app
from stacktach import jsonutil
from tests.conftest import make_database
from tests.support.quince import ingest, notigen_day, write_config
from winchester.states import StreamState
from winchester.storage import changes, queries, schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

TOKEN = "t0ken-for-tests"


class Api:
    """A falcon test client over one filled database."""

    def __init__(self, folder: Path, url: str, corpus_config: Path, **api: Any):
        self.url = url
        self.config = write_config(folder, corpus_config, url, **api)
        self.client = falcon.testing.TestClient(create_app(self.config))

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        result = self.client.simulate_get(path, params=params or None)
        assert result.status_code == status, (path, params, result.text)
        return jsonutil.loads(result.text) if result.text else None


@pytest.fixture(scope="module", params=["sqlite", "mysql", "postgresql"])
def filled(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    corpus_config: Path,
) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("quince")
    url = make_database(request.param, request, folder)
    engine = connect(url)
    upgrade(engine)
    config = folder / "config"
    write_config(config, corpus_config, url)
    ingest(url, config, notigen_day(folder / "day.jsonl", seed=11, count=450))
    # Two streams in error states, as a failed pipeline leaves them.
    with engine.begin() as conn:
        ids = (
            conn.execute(
                sa.select(schema.stream.c.id).order_by(schema.stream.c.id).limit(3)
            )
            .scalars()
            .all()
        )
        for stream_id, state in zip(
            ids,
            (StreamState.ERROR, StreamState.EXPIRE_ERROR, StreamState.COMPLETED),
            strict=True,
        ):
            conn.execute(
                schema.stream.update()
                .where(schema.stream.c.id == stream_id)
                .values(state=int(state))
            )
    engine.dispose()
    yield url, folder


@pytest.fixture
def api(filled: tuple[str, Path], tmp_path: Path, corpus_config: Path) -> Api:
    return Api(tmp_path / "cfg", filled[0], corpus_config, max_limit=500)


def all_events(api: Api, **params: Any) -> list[dict[str, Any]]:
    return api.get("/v1/events", limit=500, **params)


def test_events_list_count_and_one(api: Api) -> None:
    events = all_events(api)
    assert len(events) > 100
    ids = [int(e["_mark"], 16) for e in events]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert api.get("/v1/events/count") == [{"count": len(events)}]
    one = events[5]
    assert api.get(f"/v1/events/{one['message_id']}") == {**one, "_mark": one["_mark"]}
    for event in events[:3]:
        assert set(event) >= {"message_id", "event_type", "timestamp", "_mark"}
    api.get("/v1/events/no-such-id", status=404)


def test_event_filters_and_counts_agree(api: Api) -> None:
    events = all_events(api)
    exists = all_events(api, event_name="compute.instance.exists")
    assert exists and {e["event_type"] for e in exists} == {"compute.instance.exists"}
    glob = all_events(api, event_name="compute.instance.*")
    assert {e["event_type"] for e in glob} == {
        e["event_type"]
        for e in events
        if e["event_type"].startswith("compute.instance.")
    }
    stamps = sorted(e["timestamp"] for e in events)
    lo, hi = stamps[10], stamps[-10]
    window = all_events(api, from_datetime=lo.isoformat(), to_datetime=hi.isoformat())
    assert window and all(lo < e["timestamp"] <= hi for e in window)
    assert len(window) == len([s for s in stamps if lo < s <= hi])
    for params in (
        {"event_name": "compute.instance.exists"},
        {"event_name": "compute.instance.*"},
        {"from_datetime": lo.isoformat(), "to_datetime": hi.isoformat()},
    ):
        count = api.get("/v1/events/count", **params)[0]["count"]
        assert count == len(all_events(api, **params))
    assert all_events(api, event_name="no.such.type") == []


def test_typed_trait_filters(api: Api) -> None:
    exists = all_events(api, event_name="compute.instance.exists")
    sample = exists[0]
    cases = {
        "text": f"instance_id:{sample['instance_id']}",
        "int": f"memory_mb:{sample['memory_mb']}",
        "explicit int": f"memory_mb:int:{sample['memory_mb']}",
        "float": f"memory_f:{sample['memory_f']}",
        "datetime": f"launched_at:{sample['launched_at'].isoformat()}",
    }
    for what, traits in cases.items():
        found = all_events(api, traits=traits)
        assert sample["message_id"] in {e["message_id"] for e in found}, what
        name = traits.split(":")[0]
        assert all(e[name] == sample[name] for e in found), what
        count = api.get("/v1/events/count", traits=traits)[0]["count"]
        assert count == len(found), what
    # Types count: the int 512 is not the text "512", nor the float.
    assert all_events(api, traits=f"memory_mb:text:{sample['memory_mb']}") == []
    assert all_events(api, traits=f"memory_f:int:{int(sample['memory_f'])}") == []
    both = all_events(
        api,
        traits=f"instance_id:{sample['instance_id']};memory_mb:{sample['memory_mb']}",
        event_name="compute.instance.exists",
    )
    assert both and all(e["instance_id"] == sample["instance_id"] for e in both)
    assert all_events(api, traits="no_such_trait:1") == []


def test_paging_with_mark_covers_every_event_once(api: Api) -> None:
    everything = [e["_mark"] for e in all_events(api)]
    seen: list[str] = []
    mark = None
    while True:
        page = api.get("/v1/events", limit=37, **({"mark": mark} if mark else {}))
        if not page:
            break
        seen.extend(e["_mark"] for e in page)
        mark = page[-1]["_mark"]
    assert seen == everything
    ascending = api.get("/v1/events", mark="+0", limit=5)
    assert [e["_mark"] for e in ascending] == [
        "+" + m for m in reversed(everything[-5:])
    ]
    # "?mark=+0" typed unescaped: the "+" arrives as a space, and still counts.
    raw = api.client.simulate_get("/v1/events", query_string="mark=+0&limit=5")
    assert [e["_mark"] for e in raw.json] == [e["_mark"] for e in ascending]


def test_streams_filters_counts_and_details(api: Api) -> None:
    streams = api.get("/v1/streams", limit=500)
    assert streams and api.get("/v1/streams/count") == [{"count": len(streams)}]
    assert [s["id"] for s in streams] == sorted(
        (s["id"] for s in streams), reverse=True
    )
    assert {s["_mark"] for s in streams} == {f"{s['id']:x}" for s in streams}
    active = api.get("/v1/streams", state="active", limit=500)
    assert active and all(s["state"] == "active" for s in active)
    assert api.get("/v1/streams/count", state="active")[0]["count"] == len(active)
    named = api.get("/v1/streams", trigger_name="test_trigger", limit=500)
    assert len(named) == len(streams)
    assert api.get("/v1/streams", trigger_name="nope") == []
    sample = streams[0]
    instance = sample["distinguishing_traits"]["instance_id"]
    mine = api.get("/v1/streams", distinguishing_traits=f"instance_id:{instance}")
    assert sample["id"] in {s["id"] for s in mine}
    assert all(s["distinguishing_traits"]["instance_id"] == instance for s in mine)
    first = sample["first_event"]
    older = api.get(
        "/v1/streams", older_than=(first + timedelta(seconds=1)).isoformat()
    )
    assert sample["id"] in {s["id"] for s in older}
    assert all(s["first_event"] < first + timedelta(seconds=1) for s in older)
    younger = api.get("/v1/streams", younger_than=sample["last_event"].isoformat())
    assert sample["id"] not in {s["id"] for s in younger}
    plain = api.get(f"/v1/streams/{sample['id']}", details="false")
    assert len(plain) == 1 and "events" not in plain[0]
    detailed = api.get(f"/v1/streams/{sample['id']}", details="true")[0]
    assert detailed["events"] and all(
        e["instance_id"] == instance for e in detailed["events"]
    )
    api.get("/v1/streams/999999999", status=404)


def test_reset_and_delete_rules(api: Api) -> None:
    client = api.client
    error = api.get("/v1/streams", state="error")[0]
    expire_error = api.get("/v1/streams", state="expire_error")[0]
    reset = client.simulate_put(f"/v1/streams/{error['id']}")
    assert reset.status_code == 200 and reset.json[0]["state"] == "retry_fire"
    reset = client.simulate_put(f"/v1/streams/{expire_error['id']}")
    assert reset.status_code == 200 and reset.json[0]["state"] == "retry_expire"
    again = client.simulate_put(f"/v1/streams/{error['id']}")
    assert again.status_code == 409 and "retry_fire" in again.json["description"]
    assert client.simulate_put("/v1/streams/999999999").status_code == 404
    victim = api.get("/v1/streams", state="completed")[0]
    events = api.get(f"/v1/streams/{victim['id']}", details="true")[0]["events"]
    assert client.simulate_delete(f"/v1/streams/{victim['id']}").status_code == 204
    api.get(f"/v1/streams/{victim['id']}", status=404)
    for event in events:  # kept
        api.get(f"/v1/events/{event['message_id']}")
    assert client.simulate_delete(f"/v1/streams/{victim['id']}").status_code == 404
    engine = connect(api.url)  # the live stream's log has each, once
    with engine.connect() as conn:
        logged = [
            (c.stream_id, c.change, c.state)
            for c in changes.read_changes(conn, [(1, None)], limit=10_000)
            if c.change in (changes.RESET, changes.DELETED)
        ]
    engine.dispose()
    assert logged[-3:] == [
        (error["id"], "reset", StreamState.RETRY_FIRE),
        (expire_error["id"], "reset", StreamState.RETRY_EXPIRE),
        (victim["id"], "deleted", StreamState.COMPLETED),
    ]


def test_event_types_traits_triggers(api: Api) -> None:
    types = api.get("/v1/event_types")
    by_name = {t["name"]: t for t in types}
    exists = by_name["compute.instance.exists"]
    count = api.get("/v1/events/count", event_name="compute.instance.exists")[0]
    assert exists["count"] == count["count"]
    assert exists["first_seen"] <= exists["last_seen"]
    traits = {
        t["name"]: t["type"]
        for t in api.get("/v1/event_types/compute.instance.exists/traits")
    }
    assert traits["memory_mb"] == "int" and traits["memory_f"] == "float"
    assert traits["launched_at"] == "datetime" and traits["instance_id"] == "text"
    api.get("/v1/event_types/no.such/traits", status=404)
    triggers = api.get("/v1/triggers")
    assert [t["name"] for t in triggers] == ["test_trigger"]
    assert triggers[0]["counters"] and all(
        isinstance(v, int) for v in triggers[0]["counters"].values()
    )
    assert set(triggers[0]) >= {"distinguished_by", "expiration", "fire_criteria"}


def test_health_and_metrics(api: Api) -> None:
    assert api.get("/healthcheck") == {
        "status": "ok",
        "database": "ok",
        "broker": "not configured",
    }
    text = api.client.simulate_get("/metrics").text
    total = api.get("/v1/events/count")[0]["count"]
    assert f"stacktach_events_total_stored {float(total)}" in text
    assert 'stacktach_streams{state="active"}' in text
    assert "stacktach_streams_errored" in text
    assert "stacktach_oldest_waiting_stream_seconds" in text


BAD = [
    ("/v1/streams", {"state": "sleeping"}, "state"),
    ("/v1/streams", {"older_than": "yesterday"}, "older_than"),
    ("/v1/streams", {"younger_than": "2026-13-45"}, "younger_than"),
    ("/v1/events", {"from_datetime": "nope"}, "from_datetime"),
    ("/v1/events", {"to_datetime": "12:00"}, "to_datetime"),
    ("/v1/events", {"limit": "ten"}, "limit"),
    ("/v1/events", {"limit": "-1"}, "limit"),
    ("/v1/events", {"limit": "501"}, "limit"),
    ("/v1/streams", {"limit": "1.5"}, "limit"),
    ("/v1/events", {"mark": "xyz"}, "mark"),
    ("/v1/events", {"traits": "no-colon"}, "traits"),
    ("/v1/events", {"traits": "memory_mb:int:big"}, "traits"),
    ("/v1/events/count", {"traits": ":5"}, "traits"),
    (
        "/v1/streams",
        {"distinguishing_traits": "x:datetime:soon"},
        "distinguishing_traits",
    ),
    ("/v1/streams/count", {"state": "x"}, "state"),
    ("/v1/events", {"event_name": "a\x00b"}, "event_name"),
]


@pytest.mark.parametrize(("path", "params", "name"), BAD)
def test_bad_parameters_are_json_400_naming_them(
    api: Api, path: str, params: dict[str, str], name: str
) -> None:
    result = api.client.simulate_get(path, params=params)
    assert result.status_code == 400, result.text
    assert f'"{name}"' in result.json["description"]


def test_details_is_a_real_boolean(api: Api) -> None:
    stream = api.get("/v1/streams", limit=1)[0]
    api.get(f"/v1/streams/{stream['id']}", status=400, details="maybe")


def test_auth_on_writes_and_optionally_reads(
    filled: tuple[str, Path], tmp_path: Path, corpus_config: Path
) -> None:
    writes = Api(tmp_path / "w", filled[0], corpus_config, token=TOKEN)
    client = writes.client
    assert client.simulate_get("/v1/streams/count").status_code == 200
    assert client.simulate_put("/v1/streams/1").status_code == 401
    assert client.simulate_delete("/v1/streams/1").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.simulate_delete("/v1/streams/1", headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        client.simulate_delete("/v1/streams/999999999", headers=right).status_code
        == 404
    )
    reads = Api(tmp_path / "r", filled[0], corpus_config, token=TOKEN, auth_reads=True)
    assert reads.client.simulate_get("/v1/events").status_code == 401
    assert reads.client.simulate_get("/healthcheck").status_code == 200
    assert reads.client.simulate_get("/v1/events", headers=right).status_code == 200
    unauth = reads.client.simulate_get("/metrics")
    assert unauth.status_code == 401 and TOKEN not in unauth.text


def test_openapi_lists_every_route_and_its_parameters_are_accepted(api: Api) -> None:
    document = json.loads(api.client.simulate_get("/openapi.json").text)
    # Every route and method falcon has registered is described, and no more.
    registered = {
        (re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path), method.method.lower())
        for route in falcon.inspect.inspect_routes(api.client.app)
        for method in route.methods
        if not method.internal
    }
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert registered == documented
    assert {openapi for _t, openapi, _r in ROUTES} | {"/openapi.json"} == {
        path for path, _m in documented
    }
    assert "name:type:value" in document["info"]["description"]
    examples = {
        "older_than": "2030-01-01T00:00:00Z",
        "younger_than": "2000-01-01T00:00:00Z",
        "from_datetime": "2000-01-01T00:00:00Z",
        "to_datetime": "2030-01-01T00:00:00Z",
        "state": "active",
        "trigger_name": "test_trigger",
        "distinguishing_traits": "instance_id:x",
        "event_name": "compute.*",
        "traits": "memory_mb:int:512",
        "mark": "+0",
        "limit": "3",
        "details": "true",
    }
    stream_id = api.get("/v1/streams", limit=1)[0]["id"]
    message_id = api.get("/v1/events", limit=1)[0]["message_id"]
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None or path == "/v1/stream":  # endless: test_live.py
            continue
        url = path.format(
            stream_id=stream_id, message_id=message_id, name="compute.instance.exists"
        )
        for param in operation.get("parameters", []):
            value = examples[param["name"]]
            result = api.client.simulate_get(url, params={param["name"]: value})
            assert result.status_code == 200, (path, param["name"], result.text)


def test_trait_pages_are_the_same_in_small_index_steps(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = all_events(api, event_name="compute.instance.exists")[0]["memory_mb"]
    params = {"traits": f"memory_mb:{memory}", "event_name": "compute.instance.*"}
    whole = [e["_mark"] for e in all_events(api, **params)]
    assert len(whole) > 5
    monkeypatch.setattr(queries, "TRAIT_CHUNK", 3)
    seen: list[str] = []
    mark = None
    while True:
        extra = {"mark": mark} if mark else {}
        page = api.get("/v1/events", limit=4, **params, **extra)
        if not page:
            break
        seen.extend(e["_mark"] for e in page)
        mark = page[-1]["_mark"]
    assert seen == whole
    up = api.get("/v1/events", limit=500, mark="+0", **params)
    assert [e["_mark"].lstrip("+") for e in up] == list(reversed(whole))
