"""quince as processes: the real ``quince-api`` (gunicorn, 2 workers) on a free
port, and paging while another process inserts events (no duplicate, no gap)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
import sqlalchemy as sa

from quince.app import create_app
from tests.conftest import make_database
from tests.support.quince import ROOT, ingest, notigen_day, write_config
from tests.support.waiting import wait_for
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

pytestmark = pytest.mark.slow

TOKEN = "never-logged-token"


def total(url: str) -> float:
    engine = connect(url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(schema.event)
        ).scalar_one()
    engine.dispose()
    return float(count)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def test_quince_api_serves_with_gunicorn(tmp_path: Path, corpus_config: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(connect(url))
    config = write_config(tmp_path / "cfg", corpus_config, url, token=TOKEN)
    ingest(url, tmp_path / "cfg", notigen_day(tmp_path / "day.jsonl", 3, count=100))
    port = free_port()
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: fetch(f"{base}/healthcheck")[0] == 200, 60, "quince-api")
        status, body = fetch(f"{base}/healthcheck")
        assert body == {"status": "ok", "database": "ok", "broker": "not configured"}
        status, events = fetch(f"{base}/v1/events?limit=5")
        assert status == 200 and len(events) == 5
        status, error = fetch(f"{base}/v1/events?limit=x")
        assert status == 400 and '"limit"' in error["description"]
        # Each scrape queries the database: every worker gives the same numbers.
        scrapes = set()
        for _ in range(6):
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
                text = response.read().decode()
            scrapes.add(
                next(
                    line
                    for line in text.splitlines()
                    if line.startswith("stacktach_events_total_stored ")
                )
            )
        assert scrapes == {f"stacktach_events_total_stored {total(url)}"}
        request = urllib.request.Request(
            f"{base}/v1/streams/999999",
            method="DELETE",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "Booting worker" in output, output
    assert "DELETE /v1/streams/999999" in output and TOKEN not in output


def test_bad_config_is_one_line_and_status_2(tmp_path: Path) -> None:
    config = tmp_path / "winchester.yaml"
    config.write_text("database: {url: 'sqlite://'}\napi: {max_limit: 0}\n")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("quince-api")), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "api.max_limit" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("kind", ["sqlite", "mysql", "postgresql"])
def test_paging_is_stable_while_another_process_inserts(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, corpus_config: Path
) -> None:
    url = make_database(kind, request, tmp_path)
    engine = connect(url)
    upgrade(engine)
    folder = tmp_path / "cfg"
    config = write_config(folder, corpus_config, url)
    ingest(url, folder, notigen_day(tmp_path / "day.jsonl", 7, count=300))
    client = falcon.testing.TestClient(create_app(config))

    def stored() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(schema.event)
                ).scalar_one()
            )

    before = stored()
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.quince", url, str(folder), "99"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        pages = [client.simulate_get("/v1/events", params={"limit": 23}).json]
        wait_for(lambda: stored() > before, 60, "the writer's first events")
        while pages[-1]:
            mark = pages[-1][-1]["_mark"]
            pages.append(
                client.simulate_get(
                    "/v1/events", params={"limit": 23, "mark": mark}
                ).json
            )
            if len(pages) == 3:
                wait_for(lambda: stored() > before + 40, 60, "more of the writer's")
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    seen = [int(e["_mark"], 16) for page in pages for e in page]
    top = seen[0]
    with engine.connect() as conn:
        expected = (
            conn.execute(
                sa.select(schema.event.c.id)
                .where(schema.event.c.id <= top)
                .order_by(schema.event.c.id.desc())
            )
            .scalars()
            .all()
        )
    assert len(seen) == len(set(seen))  # no duplicate
    assert seen == list(expected)  # no gap
    assert stored() > before
    engine.dispose()


def test_bad_triggers_file_stops_quince_api_at_start(tmp_path: Path) -> None:
    (tmp_path / "triggers.yaml").write_text("- name: x\n  expiration: nonsense\n")
    config = tmp_path / "winchester.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'w.db'}'}}\n"
        "trigger_definitions: triggers.yaml\n"
    )
    upgrade(connect(f"sqlite:///{tmp_path / 'w.db'}"))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("quince-api")), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "triggers.yaml" in result.stderr and len(result.stderr.splitlines()) == 1
