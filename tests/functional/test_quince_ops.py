"""quince's operator routes against real things: /v2/archives over shoebox
files, /healthcheck with a broker (RabbitMQ) and with a database that is down."""

from __future__ import annotations

from pathlib import Path

import falcon.testing
import pytest

import shoebox
from quince.app import create_app
from stacktach import jsonutil
from tests.support.quince import notigen_day, write_config
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade


def client(
    tmp_path: Path, corpus_config: Path, url: str, **api: object
) -> falcon.testing.TestClient:
    config = write_config(tmp_path / "cfg", corpus_config, url, **api)
    return falcon.testing.TestClient(create_app(config))


def sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(connect(url))
    return url


def test_archives_lists_shoebox_files_with_spans(
    tmp_path: Path, corpus_config: Path
) -> None:
    archive_dir = tmp_path / "archive"
    lines = notigen_day(tmp_path / "day.jsonl", 4, count=120)
    archive = shoebox.Archive(archive_dir, tmp_path / "working", roll_minutes=None)
    archive.write((line, {}) for line in lines[:70])
    archive.roll()
    archive.write((line, {}) for line in lines[70:])
    archive.close()
    api = client(
        tmp_path, corpus_config, sqlite(tmp_path), archive_folder=str(archive_dir)
    )
    result = api.simulate_get("/v2/archives")
    assert result.status_code == 200, result.text
    files = jsonutil.loads(result.text)
    assert [f["records"] for f in files] == [70, 50]
    for item in files:
        path = Path(item["path"])
        assert item["name"] == path.name and item["size"] == path.stat().st_size
        assert item["first"] <= item["last"]
    assert files[0]["last"] <= files[1]["last"]
    again = api.simulate_get("/v2/archives")  # from the cache: same answer
    assert again.text == result.text
    (archive_dir / files[0]["name"]).unlink()
    assert len(api.simulate_get("/v2/archives").json) == 1


def test_archives_without_a_folder_is_a_404_saying_so(
    tmp_path: Path, corpus_config: Path
) -> None:
    result = client(tmp_path, corpus_config, sqlite(tmp_path)).simulate_get(
        "/v2/archives"
    )
    assert result.status_code == 404 and "archive_folder" in result.json["description"]


@pytest.mark.rabbitmq
def test_healthcheck_checks_the_broker(
    tmp_path: Path, corpus_config: Path, rabbitmq_url: str
) -> None:
    url = sqlite(tmp_path)
    up = client(tmp_path / "up", corpus_config, url, broker_url=rabbitmq_url)
    assert up.simulate_get("/healthcheck").json == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
    }
    down = client(
        tmp_path / "down",
        corpus_config,
        url,
        broker_url="amqp://guest:secretpw@127.0.0.1:1//",
    )
    result = down.simulate_get("/healthcheck")
    assert result.status_code == 503
    body = result.json
    assert body["status"] == "fail" and body["database"] == "ok"
    assert body["broker"] != "ok" and "secretpw" not in result.text


def test_database_down_is_503_everywhere_json(
    tmp_path: Path, corpus_config: Path
) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2"
    api = client(tmp_path, corpus_config, url)
    health = api.simulate_get("/healthcheck")
    assert health.status_code == 503
    assert health.json["status"] == "fail" and health.json["database"] != "ok"
    for path in ("/v1/events", "/v1/streams/count", "/v1/event_types", "/metrics"):
        result = api.simulate_get(path)
        assert result.status_code == 503, (path, result.text)
        assert result.json["title"] == "Database unavailable"
