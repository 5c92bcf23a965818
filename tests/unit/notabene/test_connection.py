import socket
from pathlib import Path

import pytest

import notabene
from notabene.connection import establish, filesystem_folders
from notabene.retry import Backoff
from notabene.transport.filesystem import Transport as FilesystemTransport
from stacktach.exceptions import ConfigError, RecoverableError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:secret@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
        ("amqp://guest:secret@rabbit/nova", "amqp://guest:***@rabbit/nova"),
        ("amqp://rabbit:5672//", "amqp://rabbit:5672//"),
        ("filesystem:///var/lib/broker", "filesystem:///var/lib/broker"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, expected: str) -> None:
    assert notabene.redact_url(url) == expected


def test_unknown_scheme_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'amqp'"):
        notabene.connect("amqq://localhost//")


def test_url_without_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match="no scheme"):
        notabene.connect("localhost:5672")


def test_filesystem_needs_a_folder() -> None:
    with pytest.raises(ConfigError, match="needs a folder"):
        notabene.connect("filesystem://")


def test_filesystem_url_names_the_root_folder(tmp_path: Path) -> None:
    conn = notabene.connect(f"filesystem://{tmp_path}/broker?polling_interval=0.2")
    options = conn.transport_options
    assert options is not None
    assert options["data_folder_in"] == str(tmp_path / "broker" / "data")
    assert options["data_folder_out"] == options["data_folder_in"]
    assert options["control_folder"] == str(tmp_path / "broker" / "control")
    assert options["inflight_folder"] == str(tmp_path / "broker" / "inflight")
    assert options["polling_interval"] == 0.2
    assert conn.transport_cls is FilesystemTransport


def test_relative_filesystem_folder_is_resolved_against_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    conn = notabene.connect("filesystem://broker")
    assert conn.transport_options == {
        **filesystem_folders(tmp_path / "broker"),
        "polling_interval": 0.05,
    }


def test_query_parameters_become_connection_and_transport_options() -> None:
    conn = notabene.connect(
        "amqp://u:p@h:5673/v?heartbeat=30&connect_timeout=2&confirm_publish=true",
        extra="x",
    )
    assert conn.heartbeat == 30.0
    assert conn.connect_timeout == 2.0
    assert conn.transport_options == {"confirm_publish": True, "extra": "x"}
    assert (conn.hostname, conn.port, conn.virtual_host) == ("h", 5673, "v")
    assert conn.transport.driver_type == "amqp"


def test_unreachable_broker_raises_broker_unavailable_without_password() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"amqp://guest:topsecret@127.0.0.1:{port}//"
    with pytest.raises(notabene.BrokerUnavailable) as info:
        establish(url, backoff=Backoff(initial=0.01, max_attempts=2))
    error = info.value
    assert isinstance(error, RecoverableError)
    assert error.attempts == 2
    assert "topsecret" not in str(error)
    assert f"amqp://guest:***@127.0.0.1:{port}//" in str(error)


def test_amqp_url_defaults_to_the_default_vhost() -> None:
    assert notabene.amqp_url() == "amqp://guest:guest@localhost:5672//"


@pytest.mark.parametrize("vhost", ["/", "nova", "/cell1"])
def test_amqp_url_round_trips_any_characters(vhost: str) -> None:
    url = notabene.amqp_url("rabbit", 5671, "stack tach", "p@ss:w/rd?", vhost, ssl=True)
    conn = notabene.connect(url)
    assert (conn.hostname, conn.port, conn.virtual_host) == ("rabbit", 5671, vhost)
    assert (conn.userid, conn.password) == ("stack tach", "p@ss:w/rd?")
    assert url.startswith("amqps://")
    assert "p@ss" not in notabene.redact_url(url)
