"""Fixtures of the browser tests: Debian's headless Chromium driven by
Playwright, and a live ``quince-api`` (gunicorn) over MariaDB filled from a
notigen day, with its shoebox archive and one stream in ``expire_error``.

Screenshots go to ``$STACKTACH_ARTEFACTS/browser/`` (else to
``<temp dir>/stacktach-artefacts/browser/``, e.g. /tmp/...); the path is
printed at the end of the run. Playwright never downloads a browser here: it launches
``/usr/bin/chromium`` (``STACKTACH_CHROMIUM`` overrides it), with
``--no-sandbox`` when running as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, make_database, require
from tests.support.console import archive_lines, fail_one_stream
from tests.support.quince import ROOT, ingest, notigen_day, write_config
from tests.support.waiting import wait_for
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

CHROMIUM = os.environ.get("STACKTACH_CHROMIUM", "/usr/bin/chromium")
TOKEN = "console-test-token"
#: Where this run's screenshots went (printed at the end).
_SHOTS: list[Path] = []
REASON = "KeyError in handle_events: 'audit_period_beginning' (console test)"


@dataclass(slots=True)
class Site:
    """A live quince-api and what the tests need to know about it."""

    base: str
    url: str
    config_dir: Path
    errored_stream: int
    archived: set[str]
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_site(
    request: pytest.FixtureRequest, folder: Path, corpus_config: Path, **api: Any
) -> Site:
    """Fill a fresh MariaDB database and serve it with ``quince-api``."""
    url = make_database("mysql", request, folder)
    upgrade(connect(url))
    config_dir = folder / "cfg"
    archive = folder / "archive"
    config = write_config(
        config_dir, corpus_config, url, archive_folder=str(archive), **api
    )
    lines = notigen_day(folder / "day.jsonl", 11, instances=5, count=400)
    ingest(url, config_dir, lines)
    archive_lines(archive, lines)
    errored = fail_one_stream(url, REASON)
    port = _free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("quince-api")),
            "-c",
            str(config),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    request.addfinalizer(lambda: _stop(process))
    wait_for(
        lambda: process.poll() is not None or _answers(f"{base}/healthcheck"),
        90,
        "quince-api to answer",
        interval=0.2,
    )
    assert process.poll() is None, "quince-api exited at start"
    archived = {json.loads(line)["message_id"] for line in lines}
    return Site(base, url, config_dir, errored, archived, process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    corpus_config: Path,
    mysql_server: str,
) -> Site:
    """quince-api with a token for writes (reads are open)."""
    return start_site(
        request, tmp_path_factory.mktemp("site"), corpus_config, token=TOKEN
    )


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Where the screenshots go (kept after the run, unlike pytest's tmp)."""
    root = os.environ.get("STACKTACH_ARTEFACTS")
    base = Path(root) if root else Path(tempfile.gettempdir()) / "stacktach-artefacts"
    folder = base / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    _SHOTS.append(folder)
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), shared by the session."""
    found = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    require(found is not None, f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed (pip install -e .[dev])")
        raise
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=found, headless=True, args=args
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A fresh page (1400x900) on the console; its EventSources closed at the end."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000 if not IN_CI else 60_000)
    yield tab
    # The console closes its EventSources on pagehide; no reconnect after this.
    tab.goto("about:blank")
    context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _SHOTS:
        terminalreporter.write_line(f"browser screenshots: {folder}")
