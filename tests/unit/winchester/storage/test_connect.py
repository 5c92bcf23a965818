"""winchester.storage.engine.connect: legacy URLs, drivers, timeouts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stacktach.exceptions import ConfigError
from winchester.config.settings import WinchesterSettings
from winchester.storage import engine as engine_module
from winchester.storage.engine import Timeouts, check_url, connect, server_version


def test_mysql_urls_of_the_original_use_pymysql(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_said_legacy", set())
    with caplog.at_level(logging.INFO, logger="winchester.storage.engine"):
        first = connect("mysql://user:secret@db.example/winchester")
        second = connect("mysql://user:secret@db.example/winchester")
    assert first.dialect.driver == second.dialect.driver == "pymysql"
    said = [r for r in caplog.records if "PyMySQL" in r.getMessage()]
    assert len(said) == 1
    assert said[0].levelno == logging.INFO
    assert "secret" not in said[0].getMessage()


@pytest.mark.parametrize(
    ("url", "package"),
    [
        ("mysql+mysqldb://u:secret@h/db", "mysqlclient"),
        ("postgresql+psycopg2://u:secret@h/db", "psycopg2-binary"),
    ],
)
def test_a_driver_not_installed_names_its_package(url: str, package: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_url(url)
    message = str(caught.value)
    assert f"pip install {package}" in message
    assert "secret" not in message
    assert message.startswith("database.url: ")


class _Captured(Exception):
    pass


def connect_params(engine: sa.Engine) -> dict[str, Any]:
    """The keyword arguments the engine would give its driver's connect()."""
    captured: dict[str, Any] = {}

    @sa.event.listens_for(engine, "do_connect")
    def capture(_dialect: Any, _record: Any, _args: Any, params: Any) -> None:
        captured.update(params)
        raise _Captured

    with pytest.raises(_Captured), engine.connect():
        pass
    engine.dispose()
    return captured


def test_pymysql_gets_the_timeouts() -> None:
    engine = connect(
        "mysql+pymysql://u@h/db", timeouts=Timeouts(connect=3, read=4, write=5)
    )
    params = connect_params(engine)
    assert (params["connect_timeout"], params["read_timeout"]) == (3, 4)
    assert params["write_timeout"] == 5


def test_sqlite_busy_timeout_is_the_lock_timeout(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'x.db'}", timeouts=Timeouts(lock=7))
    with engine.connect() as conn:
        busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    engine.dispose()
    assert busy == 7000


def test_timeouts_come_from_winchester_yaml(tmp_path: Path) -> None:
    config = tmp_path / "winchester.yaml"
    config.write_text(
        "database:\n  url: sqlite://\n  connect_timeout: 3\n  read_timeout: 0\n"
        "  statement_timeout: 12.5\n"
    )
    settings = WinchesterSettings.load(config)
    assert settings.database.timeouts == Timeouts(connect=3, read=0, statement=12.5)


def test_a_bad_timeout_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "winchester.yaml"
    config.write_text("database:\n  url: sqlite://\n  read_timeout: soon\n")
    with pytest.raises(ConfigError, match=r"database\.read_timeout.*seconds"):
        WinchesterSettings.load(config)


def test_postgresql_statement_and_lock_timeouts() -> None:
    engine = connect(
        "postgresql+psycopg://u@h/db", timeouts=Timeouts(connect=5, statement=2, lock=1)
    )
    params = connect_params(engine)
    assert params["connect_timeout"] == 5
    assert params["options"] == "-c statement_timeout=2000 -c lock_timeout=1000"


def test_the_server_version_is_read_from_either_mysql_driver() -> None:
    class PyMySQLConnection:
        server_version = "10.11.6-MariaDB-0+deb12u1"

    class MySQLdbConnection:  # mysqlclient: a method, no attribute
        def get_server_info(self) -> str:
            return "10.11.6-MariaDB-0+deb12u1"

    assert server_version(PyMySQLConnection()) == "10.11.6-MariaDB-0+deb12u1"
    assert server_version(MySQLdbConnection()) == "10.11.6-MariaDB-0+deb12u1"
    assert server_version(object()) == ""
