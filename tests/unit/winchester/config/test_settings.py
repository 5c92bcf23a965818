"""winchester.yaml: declared keys, defaults, strict errors, the search path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacktach.exceptions import ConfigError
from winchester.config import ConfigWarning, WinchesterSettings
from winchester.config.schema import REQUIRED, SETTINGS
from winchester.config.settings import find_file
from winchester.timex import Timestamp

from .helpers import utc

Write = Callable[[str, str], Path]
DB = "database: {url: 'sqlite:///winchester.db'}\n"

#: The keys of reference/upstream-stv3.md section 4.2, and the ones we added.
ORIGINAL_KEYS = {
    "config_path",
    "database",
    "distiller_config",
    "distiller_trait_plugins",
    "catch_all_notifications",
    "trigger_definitions",
    "pipeline_config",
    "pipeline_handlers",
    "pipeline_worker_batch_size",
    "pipeline_worker_delay",
    "statistics_period",
    "purge_completed_streams",
    "trim_events",
    "trim_events_age",
    "trim_events_batch_size",
    "time_sync_endpoint",
    "log_level",
    "log_file",
    "logging_config",
}
NEW_KEYS = {"distiller_ceilometer", "clock", "max_attempts", "lease_seconds"}
NEW_KEYS |= {"clock_max_skew", "max_notification_size"}  # ingest hardening
NEW_KEYS |= {"api"}  # quince
NEW_KEYS |= {"indexed_traits"}  # which traits have trait_index rows


def load(write: Write, text: str, warn: list[ConfigWarning] | None = None) -> Any:
    sink: list[ConfigWarning] = [] if warn is None else warn
    return WinchesterSettings.load(write("winchester.yaml", text), warn=sink.append)


def test_every_key_is_declared_once_with_type_default_and_help() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert set(names) == ORIGINAL_KEYS | NEW_KEYS
    for setting in SETTINGS:
        assert setting.type and setting.help.endswith(".")


def test_defaults(write: Write, tmp_path: Path) -> None:
    settings = load(write, DB)
    assert settings.config_path == (tmp_path,)
    assert settings.search_path == (tmp_path,)
    assert settings.database.url == "sqlite:///winchester.db"
    assert settings.database.echo_sql is False
    assert settings.distiller_config is None and settings.distiller_settings() is None
    assert (
        settings.trigger_definitions is None
        and settings.locate("trigger_definitions") is None
    )
    assert settings.pipeline_config is None
    assert settings.pipeline_handlers == {}
    assert settings.handler_specs() == {
        "logger": "logger",
        "usage": "usage",
        "notabene": "notabene",
        "atompub": "atompub",
    }
    assert (settings.pipeline_worker_batch_size, settings.pipeline_worker_delay) == (
        1000,
        10.0,
    )
    assert settings.statistics_period == 10.0
    assert settings.purge_completed_streams is True
    assert settings.trim_events is False
    assert settings.trim_events_age(timestamp=utc(2014, 8, 15)) == Timestamp(
        utc(2014, 8, 1)
    )
    assert settings.trim_events_batch_size == 100
    assert settings.time_sync_endpoint is None
    assert (settings.log_level, settings.log_file, settings.logging_config) == (
        "INFO",
        None,
        None,
    )
    assert (settings.clock, settings.max_attempts, settings.lease_seconds) == (
        "wall",
        5,
        300.0,
    )
    assert (settings.clock_max_skew, settings.max_notification_size) == (
        86400.0,
        1048576,
    )
    assert settings.indexed_traits == ("*",)
    defaults = {s.name: s.default for s in SETTINGS}
    assert defaults["database"] is REQUIRED


def test_every_key_set(write: Write, tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    warnings: list[ConfigWarning] = []
    settings = load(
        write,
        """
        config_path: [conf, /etc/stv3]
        database: {url: "mysql+pymysql://w:secret@db/winchester", echo_sql: true}
        distiller_config: event_definitions.yaml
        distiller_trait_plugins: {part: "distiller.plugins.split:SplitPlugin"}
        catch_all_notifications: true
        distiller_ceilometer: false
        trigger_definitions: triggers.yaml
        pipeline_config: pipelines.yaml
        pipeline_handlers: {mine: "my.module:Handler", log: logger}
        pipeline_worker_batch_size: 50
        pipeline_worker_delay: 0.5
        statistics_period: 60
        purge_completed_streams: false
        trim_events: true
        trim_events_age: "$timestamp - 30d"
        trim_events_batch_size: 500
        log_level: debug
        log_file: "/var/log/%(proc_name)s.log"
        logging_config: logging.conf
        clock: event
        max_attempts: 3
        lease_seconds: 60
        indexed_traits: [instance_id, "*_id"]
        """,
        warnings,
    )
    assert warnings == []
    assert settings.config_path == (tmp_path / "conf", Path("/etc/stv3"))
    assert settings.search_path == (tmp_path / "conf", Path("/etc/stv3"), tmp_path)
    assert settings.database.echo_sql is True
    assert settings.pipeline_handlers == {"mine": "my.module:Handler", "log": "logger"}
    assert set(settings.handler_specs()) == {
        "logger",
        "usage",
        "notabene",
        "atompub",
        "mine",
        "log",
    }
    assert settings.pipeline_worker_delay == 0.5 and settings.statistics_period == 60.0
    assert settings.indexed_traits == ("instance_id", "*_id")
    assert settings.trim_events_age.text == "$timestamp - 30d"
    assert (settings.log_level, settings.clock, settings.max_attempts) == (
        "DEBUG",
        "event",
        3,
    )
    write("conf/event_definitions.yaml", "- event_type: '*'\n  traits: {}\n")
    distiller = settings.distiller_settings()
    assert distiller.definitions == tmp_path / "conf" / "event_definitions.yaml"
    assert distiller.catchall is True and distiller.plugins == {
        "part": "distiller.plugins.split:SplitPlugin"
    }


# -- errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [
        (
            "statistic_period: 5\n",
            2,
            "statistic_period",
            "did you mean 'statistics_period'?",
        ),
        (
            "pipeline_handler: {}\n",
            2,
            "pipeline_handler",
            "did you mean 'pipeline_handlers'",
        ),
        (
            "pipeline_worker_batch_size: 0\n",
            2,
            "pipeline_worker_batch_size",
            "integer >= 1",
        ),
        (
            "pipeline_worker_batch_size: '10'\n",
            2,
            "pipeline_worker_batch_size",
            "integer",
        ),
        ("pipeline_worker_delay: -1\n", 2, "pipeline_worker_delay", "seconds >= 0"),
        ("indexed_traits: []\n", 2, "indexed_traits", "got an empty list"),
        ("indexed_traits: [instance_id, 7]\n", 2, "indexed_traits", "or glob"),
        ("indexed_trait: ['*']\n", 2, "indexed_trait", "did you mean"),
        ("statistics_period: 0\n", 2, "statistics_period", "seconds > 0"),
        ("lease_seconds: false\n", 2, "lease_seconds", "seconds > 0"),
        ("max_attempts: 0\n", 2, "max_attempts", "integer >= 1"),
        (
            "purge_completed_streams: 'no'\n",
            2,
            "purge_completed_streams",
            "true or false",
        ),
        ("trim_events: 1\n", 2, "trim_events", "true or false"),
        ("trim_events_age: $now - 1d\n", 2, "trim_events_age", "only $timestamp"),
        ("trim_events_age: $timestamp -\n", 2, "trim_events_age", "timex"),
        ("log_level: loud\n", 2, "log_level", "DEBUG, INFO"),
        ("clock: cpu\n", 2, "clock", "'wall' or 'event'"),
        ("config_path: [1]\n", 2, "config_path", "list of folders"),
        ("trigger_definitions: ''\n", 2, "trigger_definitions", "non-empty string"),
        (
            "pipeline_handlers: {x: loger}\n",
            2,
            "pipeline_handlers.x",
            "neither a built-in",
        ),
        ("pipeline_handlers: {x: 3}\n", 2, "pipeline_handlers.x", "module:Class"),
        ("pipeline_handlers: [logger]\n", 2, "pipeline_handlers", "mapping"),
        (
            "catch_all_notifications: 1\ndistiller_config: e.yaml\n",
            2,
            "catch_all_notifications",
            "true or false",
        ),
    ],
)
def test_errors_name_file_line_and_key(
    write: Write, text: str, line: int, key: str, fragment: str
) -> None:
    path = write("winchester.yaml", DB + text)
    with pytest.raises(ConfigError) as info:
        WinchesterSettings.load(path)
    error = info.value
    assert (error.source, error.line, error.key) == (str(path), line, key)
    assert fragment in error.reason
    assert str(error).startswith(f"{path}:{line}: {key}: ")


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [
        ("statistics_period: 5\n", None, "database", "required key is missing"),
        ("database: sqlite://\n", 1, "database", "expected a mapping"),
        (
            "database: {echo_sql: true}\n",
            1,
            "database.url",
            "required: an SQLAlchemy URL",
        ),
        ("database:\n  url: not a url\n", 2, "database.url", "not an SQLAlchemy URL"),
        (
            "database:\n  url: sqlite://\n  echo: true\n",
            3,
            "database.echo",
            "did you mean 'echo_sql'?",
        ),
        (
            "database:\n  url: sqlite://\n  echo_sql: 'yes'\n",
            3,
            "database.echo_sql",
            "true or false",
        ),
    ],
)
def test_database_errors(
    write: Write, text: str, line: int | None, key: str, fragment: str
) -> None:
    path = write("winchester.yaml", text)
    with pytest.raises(ConfigError) as info:
        WinchesterSettings.load(path)
    assert (info.value.line, info.value.key) == (line, key)
    assert fragment in info.value.reason


def test_not_a_mapping(write: Write) -> None:
    with pytest.raises(ConfigError, match="expected a mapping of settings"):
        load(write, "- a\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        WinchesterSettings.load(tmp_path / "nope.yaml")


# -- warnings -------------------------------------------------------------------


def test_time_sync_endpoint_is_deprecated(write: Write) -> None:
    warnings: list[ConfigWarning] = []
    settings = load(write, DB + "time_sync_endpoint: http://127.0.0.1:8001\n", warnings)
    assert settings.time_sync_endpoint == "http://127.0.0.1:8001"
    assert [(w.key, w.line) for w in warnings] == [("time_sync_endpoint", 2)]
    assert "clock: event" in warnings[0].message and "deprecated" in warnings[0].message


def test_original_handler_paths_map_to_the_builtins(write: Write) -> None:
    warnings: list[ConfigWarning] = []
    settings = load(
        write,
        DB
        + (
            "pipeline_handlers:\n"
            "  logger: winchester.pipeline_handler:LoggingHandler\n"
            "  audit: winchester.pipeline_handler:UsageHandler\n"
        ),
        warnings,
    )
    assert settings.pipeline_handlers == {"logger": "logger", "audit": "usage"}
    assert [(w.key, w.line) for w in warnings] == [
        ("pipeline_handlers.logger", 3),
        ("pipeline_handlers.audit", 4),
    ]


def test_distiller_keys_without_distiller_config_warn(write: Write) -> None:
    warnings: list[ConfigWarning] = []
    load(write, DB + "catch_all_notifications: true\n", warnings)
    assert [w.key for w in warnings] == ["catch_all_notifications"]


# -- the search path ------------------------------------------------------------


def test_config_path_is_searched_in_order_then_the_yaml_folder(
    write: Write, tmp_path: Path
) -> None:
    write("a/triggers.yaml", "[]\n")
    write("b/triggers.yaml", "[]\n")
    write("b/pipelines.yaml", "{}\n")
    write("event_definitions.yaml", "[]\n")
    settings = load(
        write,
        DB
        + (
            "config_path: [missing, a, b]\n"
            "trigger_definitions: triggers.yaml\n"
            "pipeline_config: pipelines.yaml\n"
            "distiller_config: event_definitions.yaml\n"
        ),
    )
    assert settings.locate("trigger_definitions") == tmp_path / "a" / "triggers.yaml"
    assert settings.locate("pipeline_config") == tmp_path / "b" / "pipelines.yaml"
    assert settings.locate("distiller_config") == tmp_path / "event_definitions.yaml"


def test_a_missing_file_lists_where_it_looked(write: Write, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    path = write(
        "winchester.yaml", DB + "config_path: [missing, a]\npipeline_config: p.yaml\n"
    )
    settings = WinchesterSettings.load(path)
    with pytest.raises(ConfigError) as info:
        settings.locate("pipeline_config")
    assert str(info.value) == (
        f"{path}:3: pipeline_config: file 'p.yaml' not found; looked for "
        f"{tmp_path}/missing/p.yaml (no such folder), {tmp_path}/a/p.yaml, "
        f"{tmp_path}/p.yaml"
    )
    with pytest.raises(ValueError, match="not a file key"):
        settings.locate("database")


def test_absolute_names_and_a_single_string_path(write: Write, tmp_path: Path) -> None:
    target = write("elsewhere/t.yaml", "[]\n")
    settings = load(write, DB + f"config_path: conf\ntrigger_definitions: {target}\n")
    assert settings.config_path == (tmp_path / "conf",)
    assert settings.locate("trigger_definitions") == target
    assert find_file(str(target), []) == target
