"""The console's server side, in process over SQLite: ``/ui`` and its files
(open even when reads need the token), ``GET /v1/events/{id}/raw`` from the
shoebox archive, and ``last_error`` of an errored stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from quince.app import create_app
from tests.support.console import archive_lines, fail_one_stream
from tests.support.quince import ingest, notigen_day, write_config
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

TOKEN = "console-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def world(tmp_path: Path, corpus_config: Path) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(connect(url))
    lines = notigen_day(tmp_path / "day.jsonl", 4, instances=3, count=120)
    archived, unarchived = lines[:100], lines[100:]
    config = write_config(
        tmp_path / "cfg",
        corpus_config,
        url,
        token=TOKEN,
        auth_reads=True,
        archive_folder=str(tmp_path / "archive"),
    )
    ingest(url, tmp_path / "cfg", lines)
    archive_lines(tmp_path / "archive", archived)
    stream_id = fail_one_stream(url, "ValueError in commit: no such table")
    return {
        "client": falcon.testing.TestClient(create_app(config)),
        "archived": [json.loads(line) for line in archived],
        "unarchived": [json.loads(line) for line in unarchived],
        "stream_id": stream_id,
        "url": url,
        "tmp": tmp_path,
        "corpus_config": corpus_config,
    }


def test_the_console_is_served_without_the_token(world: dict[str, Any]) -> None:
    client = world["client"]
    page = client.simulate_get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith(
        "text/html"
    )
    assert "/ui/static/console.js" in page.text
    script = client.simulate_get("/ui/static/console.js")
    assert script.status_code == 200 and "EventSource" in script.text
    assert client.simulate_get("/ui/static/console.css").status_code == 200
    assert client.simulate_get("/ui/static/nothing.js").status_code == 404
    # The data still needs it.
    assert client.simulate_get("/v1/events").status_code == 401


def test_raw_notification_comes_from_the_archive(world: dict[str, Any]) -> None:
    client = world["client"]
    for notification in (world["archived"][0], world["archived"][-1]):
        message_id = notification["message_id"]
        found = client.simulate_get(f"/v1/events/{message_id}/raw", headers=BEARER)
        assert found.status_code == 200, found.text
        assert found.json["notification"] == notification
        assert found.json["metadata"] == {"queue": "monitor.info"}
        assert found.json["archive"].endswith(".json.gz")
    missing = world["unarchived"][0]["message_id"]
    answer = client.simulate_get(f"/v1/events/{missing}/raw", headers=BEARER)
    assert answer.status_code == 404 and answer.json["title"] == "Not archived"
    unknown = client.simulate_get("/v1/events/nope/raw", headers=BEARER)
    assert unknown.status_code == 404 and unknown.json["title"] == "Event not found"
    assert client.simulate_get(f"/v1/events/{missing}/raw").status_code == 401


def test_raw_without_an_archive_folder_is_a_404(world: dict[str, Any]) -> None:
    config = write_config(world["tmp"] / "bare", world["corpus_config"], world["url"])
    client = falcon.testing.TestClient(create_app(config))
    message_id = world["archived"][0]["message_id"]
    answer = client.simulate_get(f"/v1/events/{message_id}/raw")
    assert answer.status_code == 404
    assert "api.archive_folder" in answer.json["description"]


def test_an_errored_stream_says_why(world: dict[str, Any]) -> None:
    client = world["client"]
    stream_id = world["stream_id"]
    [stream] = client.simulate_get(f"/v1/streams/{stream_id}", headers=BEARER).json
    assert stream["state"] == "expire_error"
    assert stream["last_error"] == "ValueError in commit: no such table"
    healthy = client.simulate_get("/v1/streams?state=active", headers=BEARER).json
    assert healthy and all("last_error" not in s for s in healthy)
