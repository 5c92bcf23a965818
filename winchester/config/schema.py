"""The keys of ``winchester.yaml``: each declared once, with type, default and help.

:data:`SETTINGS` is the table :class:`~winchester.config.settings.WinchesterSettings`
loads against (and the reference the README documents). Each entry's ``parse``
turns the YAML value into the setting's value; every default goes through it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from stacktach.yamlutil import key_line
from winchester import timex
from winchester.config.api import ApiSettings, parse_api
from winchester.config.diagnostics import (
    ConfigWarning,
    WarnFn,
    check_keys,
    fail,
    kind,
)
from winchester.config.handlers import BUILTIN_HANDLERS, LEGACY_HANDLERS
from winchester.storage.engine import Timeouts

__all__ = [
    "DISTILLER_KEYS",
    "FILE_KEYS",
    "REQUIRED",
    "SETTINGS",
    "ApiSettings",
    "Context",
    "DatabaseSettings",
    "Setting",
]

#: The default of a key that must be given.
REQUIRED: Any = object()
#: Keys whose value is a file found along the search path.
FILE_KEYS = (
    "distiller_config",
    "trigger_definitions",
    "pipeline_config",
    "logging_config",
)
DISTILLER_KEYS = (
    "distiller_config",
    "distiller_trait_plugins",
    "catch_all_notifications",
    "distiller_ceilometer",
)
_TIMEOUT_KEYS = {
    "connect_timeout": "connect",
    "read_timeout": "read",
    "write_timeout": "write",
    "statement_timeout": "statement",
    "lock_timeout": "lock",
}
_DATABASE_KEYS = ("url", "read_url", "echo_sql", *_TIMEOUT_KEYS)
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class Context:
    """What a parser may need: the file, its folder, the whole mapping, warn."""

    source: str
    base_dir: Path
    data: Mapping[str, Any]
    warn: WarnFn


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of ``winchester.yaml``: its type, default and help text.

    ``parse`` turns the YAML value into the setting's value; it raises
    ``ValueError`` (reported with the key's line) or ``ConfigError``. ``None``
    means another component reads the key (the distiller's four).
    """

    name: str
    type: str
    default: Any
    help: str
    parse: Callable[[Any, Context], Any] | None


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """``database``: an SQLAlchemy URL (checked to parse), ``echo_sql``, timeouts.

    ``read_url`` (optional) is where quince sends its reads (a read replica or
    another Galera node); its writes (reset, delete) and every other process use
    ``url``.

    The timeouts (seconds, 0 for none) are ``connect_timeout``, ``read_timeout``,
    ``write_timeout``, ``statement_timeout`` and ``lock_timeout``; see
    :class:`winchester.storage.engine.Timeouts` for their defaults and meaning.
    """

    url: str
    echo_sql: bool = False
    timeouts: Timeouts = field(default_factory=Timeouts)
    read_url: str | None = None


def _bool(value: Any, _ctx: Context) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {kind(value)}")
    return value


def _optional_str(value: Any, _ctx: Context) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"expected a non-empty string, got {kind(value)}")
    return value


def _int(minimum: int) -> Callable[[Any, Context], int]:
    def parse(value: Any, _ctx: Context) -> int:
        if value.__class__ is not int or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {kind(value)}")
        return int(value)

    return parse


def _seconds(*, positive: bool) -> Callable[[Any, Context], float]:
    def parse(value: Any, _ctx: Context) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value < 0
            or (positive and value == 0)
        ):
            bound = "> 0" if positive else ">= 0"
            raise ValueError(f"expected a number of seconds {bound}, got {kind(value)}")
        return float(value)

    return parse


def _config_path(value: Any, ctx: Context) -> tuple[Path, ...]:
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not all(
        isinstance(p, str) and p.strip() for p in paths
    ):
        raise ValueError(f"expected a folder or a list of folders, got {kind(value)}")
    return tuple(ctx.base_dir / Path(p).expanduser() for p in paths)


def _api(value: Any, ctx: Context) -> ApiSettings:
    return parse_api(value, ctx.source, ctx.base_dir)


def _database(value: Any, ctx: Context) -> DatabaseSettings:
    if not isinstance(value, Mapping):
        raise ValueError(
            f"expected a mapping with url (and echo_sql), got {kind(value)}"
        )
    check_keys(
        value, _DATABASE_KEYS, source=ctx.source, prefix="database.", what="database"
    )
    url = value.get("url")
    where: dict[str, Any] = {
        "source": ctx.source,
        "key": "database.url",
        "mapping": value,
    }
    if not isinstance(url, str) or not url.strip():
        raise fail(
            f"required: an SQLAlchemy URL such as "
            f"'mysql+pymysql://user:password@host/winchester', got {kind(url)}",
            at="url" if "url" in value else None,
            **where,
        )
    try:
        make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise fail(f"not an SQLAlchemy URL: {exc}", at="url", **where) from None
    read_url = value.get("read_url")
    if read_url is not None:
        where["key"] = "database.read_url"
        if not isinstance(read_url, str) or not read_url.strip():
            raise fail(
                f"expected an SQLAlchemy URL (or leave it out), got {kind(read_url)}",
                at="read_url",
                **where,
            )
        try:
            make_url(read_url)
        except (ArgumentError, ValueError) as exc:
            raise fail(
                f"not an SQLAlchemy URL: {exc}", at="read_url", **where
            ) from None
    echo = value.get("echo_sql", False)
    if not isinstance(echo, bool):
        raise fail(
            f"expected true or false, got {kind(echo)}",
            source=ctx.source,
            key="database.echo_sql",
            mapping=value,
            at="echo_sql",
        )
    limits: dict[str, float] = {}
    for key, field_name in _TIMEOUT_KEYS.items():
        if key not in value:
            continue
        seconds = value[key]
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or (seconds < 0)
        ):
            raise fail(
                f"expected a number of seconds >= 0 (0: no limit), got {kind(seconds)}",
                source=ctx.source,
                key=f"database.{key}",
                mapping=value,
                at=key,
            )
        limits[field_name] = float(seconds)
    return DatabaseSettings(
        url=url, echo_sql=echo, timeouts=Timeouts(**limits), read_url=read_url
    )


def _handlers(value: Any, ctx: Context) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"expected a mapping of name -> 'module:Class', got {kind(value)}"
        )
    handlers: dict[str, str] = {}
    for name, spec in value.items():
        key = f"pipeline_handlers.{name}"
        if not isinstance(name, str) or not isinstance(spec, str) or not spec.strip():
            raise fail(
                f"expected a handler name -> 'module:Class' or a built-in name, "
                f"got {kind(spec)}",
                source=ctx.source,
                key=key,
                mapping=value,
                at=name,
            )
        if spec in LEGACY_HANDLERS:
            ctx.warn(
                ConfigWarning(
                    f"{spec!r} is the original StackTach class; using the built-in "
                    f"handler {LEGACY_HANDLERS[spec]!r} (write that to silence this)",
                    ctx.source,
                    key_line(value, name),
                    key,
                )
            )
            handlers[name] = LEGACY_HANDLERS[spec]
            continue
        if ":" not in spec and spec not in BUILTIN_HANDLERS:
            raise fail(
                f"{spec!r} is neither a built-in handler "
                f"({', '.join(BUILTIN_HANDLERS)}) nor an import string 'module:Class'",
                source=ctx.source,
                key=key,
                mapping=value,
                at=name,
            )
        handlers[name] = spec
    return handlers


def _trim_age(value: Any, _ctx: Context) -> timex.Expression:
    if not isinstance(value, str):
        raise ValueError(f"expected a timex expression, got {kind(value)}")
    expr = timex.compile(value)  # TimexSyntaxError is a ValueError
    if not expr.variables <= {"timestamp"}:
        others = ", ".join(f"${v}" for v in sorted(expr.variables - {"timestamp"}))
        raise ValueError(f"may use only $timestamp (now), not {others}")
    return expr


def _time_sync(value: Any, ctx: Context) -> str | None:
    endpoint = _optional_str(value, ctx)
    if endpoint is not None:
        ctx.warn(
            ConfigWarning(
                "deprecated and ignored: the event-time clock replaces the time-sync "
                "service; set 'clock: event' to replay old notifications",
                ctx.source,
                key_line(ctx.data, "time_sync_endpoint"),
                "time_sync_endpoint",
            )
        )
    return endpoint


def _log_level(value: Any, _ctx: Context) -> str:
    level = value.upper() if isinstance(value, str) else value
    level = "WARNING" if level == "WARN" else level
    if level not in _LEVELS:
        raise ValueError(f"expected one of {', '.join(_LEVELS)}, got {kind(value)}")
    return str(level)


def _trait_globs(value: Any, _ctx: Context) -> tuple[str, ...]:
    globs = [value] if isinstance(value, str) else value
    if (
        not isinstance(globs, list)
        or not globs
        or not all(isinstance(g, str) and g.strip() for g in globs)
    ):
        raise ValueError(
            "expected a trait name or glob, or a non-empty list of them "
            "(['*'] indexes every trait), got "
            + ("an empty list" if globs == [] else kind(value))
        )
    return tuple(globs)


def _clock(value: Any, _ctx: Context) -> str:
    if value not in ("wall", "event"):
        raise ValueError(f"expected 'wall' or 'event', got {kind(value)}")
    return str(value)


_FILE = "file name (found along config_path)"

SETTINGS: tuple[Setting, ...] = (
    Setting("config_path", "folder or list of folders", ".",
            "Folders searched, in order, for the files named below; relative ones "
            "are relative to winchester.yaml's folder, which is searched last.",
            _config_path),
    Setting("database", "mapping", REQUIRED,
            "url (required): SQLAlchemy URL, e.g. "
            "mysql+pymysql://winchester:secret@db/winchester or "
            "sqlite:////var/lib/stacktach/winchester.db; echo_sql (default false): "
            "log every SQL statement.",
            _database),
    Setting("distiller_config", _FILE, None,
            "The event_definitions.yaml file.", None),
    Setting("distiller_trait_plugins", "mapping name -> module:Class", {},
            "Extra trait plugins for event_definitions.yaml.", None),
    Setting("catch_all_notifications", "boolean", False,
            "Keep notifications no definition matches, with the default traits.",
            None),
    Setting("distiller_ceilometer", "boolean", False,
            "Read event_definitions.yaml the way Ceilometer does.", None),
    Setting("trigger_definitions", _FILE, None,
            "The triggers.yaml file.", _optional_str),
    Setting("pipeline_config", _FILE, None,
            "The pipelines.yaml file.", _optional_str),
    Setting("pipeline_handlers", "mapping name -> module:Class or built-in", {},
            "Pipeline handlers by name, besides the built-ins (logger, usage, "
            "notabene, atompub); winchester.pipeline_handler:* map to those.",
            _handlers),
    Setting("pipeline_worker_batch_size", "integer >= 1", 1000,
            "Streams a pipeline worker claims per poll.", _int(1)),
    Setting("pipeline_worker_delay", "seconds >= 0", 10,
            "How long a pipeline worker sleeps when it found nothing to do.",
            _seconds(positive=False)),
    Setting("statistics_period", "seconds > 0", 10,
            "How often counters and debug statistics are logged.",
            _seconds(positive=True)),
    Setting("purge_completed_streams", "boolean", True,
            "Delete a stream once its pipeline succeeded (false: keep it as "
            "'completed').", _bool),
    Setting("trim_events", "boolean", False,
            "Delete events older than trim_events_age (never those of open streams).",
            _bool),
    Setting("trim_events_age", "timex expression of $timestamp", "$timestamp - 14d",
            "Events before this instant are trimmed ($timestamp is now).", _trim_age),
    Setting("trim_events_batch_size", "integer >= 1", 100,
            "Events deleted per trimming statement.", _int(1)),
    Setting("time_sync_endpoint", "URL", None,
            "Deprecated and ignored: use 'clock: event' for replays.", _time_sync),
    Setting("log_level", "level name", "INFO",
            "DEBUG, INFO, WARNING, ERROR or CRITICAL (any case).", _log_level),
    Setting("log_file", "file", None,
            "Log to this file ('%(proc_name)s' is the process name); default stderr.",
            _optional_str),
    Setting("logging_config", _FILE, None,
            "A logging.config.fileConfig file; replaces log_level and log_file.",
            _optional_str),
    Setting("clock", "wall | event", "wall",
            "'now' for expiry and fire delays: the wall clock, or event time (the "
            "latest event timestamp ingested) for replays.", _clock),
    Setting("clock_max_skew", "seconds > 0", 86400,
            "Event times further than this ahead of the wall clock are stored but "
            "never move the event clock (counted as future_events).",
            _seconds(positive=True)),
    Setting("max_notification_size", "bytes >= 1024", 1048576,
            "Larger notifications (raw message bytes, or their JSON) are "
            "dead-lettered with their size; keep it well under the database's "
            "packet limit (MariaDB max_allowed_packet: 16 MiB).", _int(1024)),
    Setting("indexed_traits", "list of trait names or globs", ["*"],
            "Traits given trait_index rows, for fast API trait filters; a filter "
            "on any other trait reads the events the rest of the query selects. "
            "Fixed per trait name when the name is first stored.", _trait_globs),
    Setting("max_attempts", "integer >= 1", 5,
            "Pipeline attempts per stream before it goes to error / expire_error.",
            _int(1)),
    Setting("lease_seconds", "seconds > 0", 300,
            "How long a worker's claim on a stream lasts before others may retry it.",
            _seconds(positive=True)),
    Setting("api", "mapping", None,
            "quince, the REST API: token (PUT/DELETE need 'Authorization: Bearer "
            "<token>'; STACKTACH_API_TOKEN overrides it), auth_reads (default false: "
            "true makes reads need the token too, but /healthcheck), bind (default "
            "127.0.0.1:8000), workers (default 2), max_limit (default 1000), "
            "archive_folder (listed by /v2/archives), broker_url (checked by "
            "/healthcheck).", _api),
)  # fmt: skip
