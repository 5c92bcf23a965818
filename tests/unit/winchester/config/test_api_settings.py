"""The ``api`` section of winchester.yaml (quince's settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktach.exceptions import ConfigError
from winchester.config import WinchesterSettings
from winchester.config.api import ApiSettings


def load(tmp_path: Path, api: str | None) -> WinchesterSettings:
    text = "database: {url: 'sqlite://'}\n" + (f"api: {api}\n" if api else "")
    path = tmp_path / "winchester.yaml"
    path.write_text(text)
    return WinchesterSettings.load(path)


def test_defaults_without_the_section(tmp_path: Path) -> None:
    assert load(tmp_path, None).api == ApiSettings()
    assert ApiSettings().max_limit == 1000 and ApiSettings().token is None


def test_every_key(tmp_path: Path) -> None:
    api = load(
        tmp_path,
        "{token: s3cret, auth_reads: true, bind: '0.0.0.0:9000', workers: 4, "
        "max_limit: 50, archive_folder: arch, broker_url: 'memory://'}",
    ).api
    assert (api.token, api.auth_reads, api.bind, api.workers, api.max_limit) == (
        "s3cret",
        True,
        "0.0.0.0:9000",
        4,
        50,
    )
    assert api.archive_folder == tmp_path / "arch"
    assert api.broker_url == "memory://"
    assert "s3cret" not in repr(api)


@pytest.mark.parametrize(
    ("api", "key"),
    [
        ("{max_limit: 0}", "api.max_limit"),
        ("{workers: two}", "api.workers"),
        ("{auth_reads: 'yes'}", "api.auth_reads"),
        ("{bind: localhost}", "api.bind"),
        ("{token: ''}", "api.token"),
        ("{archive_folder: 5}", "api.archive_folder"),
        ("{tokne: x}", "tokne"),
        ("[1]", "api"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, api: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, api)
    assert key in str(caught.value)


def test_live_stream_keys(tmp_path: Path) -> None:
    api = load(
        tmp_path, "{threads: 64, sse_heartbeat_seconds: 5, sse_poll_seconds: 0.5}"
    ).api
    assert (api.threads, api.sse_heartbeat_seconds, api.sse_poll_seconds) == (
        64,
        5.0,
        0.5,
    )
    assert (ApiSettings().threads, ApiSettings().sse_heartbeat_seconds) == (32, 15.0)


def test_request_slots(tmp_path: Path) -> None:
    assert load(tmp_path, "{request_slots: 5}").api.request_slots == 5
    assert ApiSettings().request_slots == 2


@pytest.mark.parametrize(
    ("api", "key"),
    [
        ("{threads: 0}", "api.threads"),
        ("{request_slots: 0}", "api.request_slots"),
        ("{request_slots: many}", "api.request_slots"),
        ("{sse_heartbeat_seconds: 0}", "api.sse_heartbeat_seconds"),
        ("{sse_heartbeat_seconds: true}", "api.sse_heartbeat_seconds"),
        ("{sse_poll_seconds: soon}", "api.sse_poll_seconds"),
    ],
)
def test_bad_live_stream_values_name_the_key(
    tmp_path: Path, api: str, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, api)
    assert key in str(caught.value)
