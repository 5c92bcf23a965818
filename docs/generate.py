"""Write docs/configuration.rst and docs/commands.rst from the code's declarations.

Run it after adding a config key, a handler or trait plugin parameter, a command
or an option::

    .venv/bin/python docs/generate.py          # rewrite both files
    .venv/bin/python docs/generate.py --check  # exit 1 when either is stale

The keys come from the code: ``winchester.yaml`` from
:data:`winchester.config.schema.SETTINGS` (type, default and help declared there),
its ``database`` and ``api`` sub-keys, ``yagi.conf`` from :data:`yagi.config.KNOWN`,
``triggers.yaml`` and ``event_definitions.yaml`` from their loaders' key tuples,
pipeline handler and trait plugin parameters from the classes' signatures, and the
commands from ``[project.scripts]`` and their click help. Keys whose declaration
carries no help text are described in the tables below; a declared key missing
from them is an error naming the table to extend (tests/unit/test_docs.py runs
this).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from distiller import definitions
from distiller.plugins import BUILTIN_PLUGINS
from stacktach import plugins
from winchester.config import schema
from winchester.config.api import API_KEYS, ApiSettings
from winchester.config.criteria import CRITERION_KEYS
from winchester.config.handlers import BUILTIN_HANDLERS
from winchester.config.triggers import TRIGGER_KEYS
from winchester.storage.engine import Timeouts
from yagi.config import IGNORED, KNOWN

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

DATABASE_HELP = {
    "url": "SQLAlchemy URL of the database (required), e.g. "
    "``mysql+pymysql://winchester:secret@db/winchester``.",
    "read_url": "SQLAlchemy URL the API (quince) reads from: a replica or another "
    "Galera node (default: ``url``); resets and deletes always go to ``url``.",
    "echo_sql": "Log every SQL statement (``false``).",
    "connect_timeout": "Seconds to establish a connection (0: no bound).",
    "read_timeout": "Seconds to wait for the server's answer (MySQL; 0: no bound).",
    "write_timeout": "Seconds to send a statement (MySQL; 0: no bound).",
    "statement_timeout": "Seconds a statement may run (0: no bound).",
    "lock_timeout": "Seconds to wait for a row lock "
    "(``innodb_lock_wait_timeout``, PostgreSQL ``lock_timeout``).",
}
API_HELP = {
    "token": "Bearer token PUT and DELETE need (``STACKTACH_API_TOKEN`` overrides "
    "it); none: mutations are open.",
    "auth_reads": "``true``: reads need the token too (all but ``/healthcheck``).",
    "bind": "``HOST:PORT`` quince-api listens on (``--bind`` overrides).",
    "workers": "gunicorn worker processes (``--workers`` overrides).",
    "max_limit": "The largest ``?limit=`` accepted; more is a 400.",
    "archive_folder": "The shoebox destination folder ``/v2/archives`` lists "
    "(relative: to winchester.yaml's folder).",
    "broker_url": "The broker ``/healthcheck`` checks is reachable.",
    "threads": "Threads per gunicorn worker (gthread; ``--threads`` overrides): "
    "each ``/v1/stream`` watcher holds one, four are kept for other requests.",
    "request_slots": "Ordinary requests (all but ``/v1/stream``) a worker "
    "process runs at once; the others wait for a slot, off Python's lock. "
    "Raise it when the database is far away (each request holds its slot "
    "while it waits for the answers).",
    "sse_heartbeat_seconds": "``/v1/stream``: a heartbeat comment after this "
    "many seconds of silence, so proxies keep the connection.",
    "sse_poll_seconds": "``/v1/stream``: how often each API process reads new "
    "events and stream changes from the database.",
}
YAGI_HELP: dict[str, dict[str, str]] = {
    "global": {
        "update_timer": "Seconds between statistics log lines (300).",
        "deployment": "Region/cell recorded on every event (the ``deployment`` "
        "trait) and archive record; default: the host name.",
        "verbose": "Accepted for compatibility.",
        "debug": "Accepted for compatibility (use ``--debug``).",
    },
    "event_worker": {
        "pidfile": "Accepted for compatibility (systemd tracks the process).",
        "daemonize": "Accepted for compatibility.",
        "event_driver": "Accepted for compatibility.",
    },
    "rabbit_broker": {
        "url": "Broker URL (``amqp://user:pass@host:5672/vhost``); several, "
        "separated by ``;``, for a cluster.",
        "host": "Broker host (without ``url``; ``localhost``).",
        "port": "Broker port (5672).",
        "user": "Broker user (``guest``).",
        "password": "Broker password (``guest``).",
        "vhost": "Broker virtual host (``/``).",
        "ssl": "Connect with TLS (``false``).",
        "poll_delay": "Accepted and not used (warned about).",
        "reconnect_delay": "Accepted and not used (warned about).",
        "max_wait": "Accepted and not used (warned about).",
        "max_connection_age": "Accepted and not used (warned about).",
        "exchange_name": "Accepted and not used (warned about).",
    },
    "consumers": {
        "queues": "Comma-separated queues; each needs a ``[consumer:<queue>]``."
    },
    "consumer": {
        "apps": "Handler chain, comma-separated: ``shoebox``, ``winchester`` (or "
        "the original's class names). Archiving runs first.",
        "exchange": "Exchange the queue is bound to (required).",
        "exchange_type": "``topic`` (default), ``direct`` or ``fanout``.",
        "routing_key": "Binding key (default: the queue name).",
        "durable": "Durable queue (``true``).",
        "auto_delete": "Auto-delete queue (``false``).",
        "exchange_durable": "Durability of the exchange (default: ``durable``; "
        "Nova's is non-durable).",
        "exchange_auto_delete": "Only ``false`` is supported.",
        "max_messages": "Batch size of this queue (100).",
        "max_wait": "Seconds a batch may wait to fill (0.5); equal for every queue "
        "of one config.",
        "prefetch": "Unacked messages in flight (three batches of the largest "
        "``max_messages``); equal for every queue of one config.",
        "queue_type": "``quorum``: a replicated quorum queue (its ``.failed`` "
        "dead-letter queue too).",
        "deployment": "This queue's deployment (overrides ``[global]``).",
        "filters": "Refused: use the ``[filters]`` section.",
    },
    "filters": {"*": "``<handler> = event_type, ...``: globs the handler gets."},
    "exclude_filters": {"*": "``<handler> = event_type, ...``: globs it skips."},
    "discard_filters": {"*": "``<handler> = event_type, ...``: acked unprocessed."},
    "winchester": {
        "config_file": "The winchester.yaml (``[winchester:<queue>]`` "
        "overrides per queue)."
    },
    "shoebox": {
        "working_directory": "Files being written (default "
        "``<destination_folder>/.working``; one ``<host>-<pid>`` folder each).",
        "destination_folder": "Finished archive files.",
        "filename_template": "Name of finished files (``[[TIMESTAMP]]``, "
        "``[[CRC]]``, strftime).",
        "roll_manager": "The original's roll manager names map to ``format``.",
        "roll_size_mb": "Roll a file at this size (20).",
        "roll_minutes": "Roll a file this long after its first record (60).",
        "format": "``json`` (default) or ``binary``.",
        "callback": "One callback after each roll (``module:Class``).",
        "callbacks": "Comma-separated callbacks after each roll: ``change_extension``,"
        " ``move``, ``delete`` or ``module:Class``.",
        "roll_checker": "Refused: use ``roll_size_mb`` and ``roll_minutes``.",
        "wrap_payload_with_region": "Only ``false`` is supported.",
        "wrap_region": "Refused: records carry ``deployment``.",
        "wrap_cell": "Refused: records carry ``deployment``.",
        "reject_folder": "Archive of rejected messages with their reason (default "
        "``<destination_folder>/rejects``).",
    },
    "logging": {
        "logfile": "Log file (``WatchedFileHandler``); default stderr.",
        "default_level": "Log level (``INFO``).",
        "config_file": "A ``logging.config`` file; replaces the two above.",
    },
    "stats": {
        key: "The original's statsd settings: accepted, not used."
        for key in ("enabled", "host", "port", "failure", "elapsed", "messages_sent")
    },
}
TRIGGER_HELP = {
    "name": "Unique name of the trigger (required).",
    "debug_level": "Debug statistics of this trigger (0, 1 or 2).",
    "distinguished_by": "Traits whose values key a stream; ``{trait: day}`` "
    "keys by a time range (``hour``, ``day``, ``month``, ``year``).",
    "expiration": "Timex expression of ``$first``/``$last``: when the stream expires.",
    "fire_pipeline": "Pipeline run when the fire criteria hold.",
    "expire_pipeline": "Pipeline run when the stream expires unfired.",
    "fire_delay": "Seconds to wait after the fire criteria hold.",
    "match_criteria": "Criteria (OR): an event matching one joins the stream.",
    "fire_criteria": "Criteria (AND): the stream fires when all hold.",
    "load_criteria": "The original's, accepted and ignored (warned about).",
}
CRITERION_HELP = {
    "event_type": "Glob or list of globs (``!`` excludes).",
    "number": "How many matching events (fire criteria; default 1).",
    "timestamp": "Timex range the event's time must fall in.",
    "traits": "Trait conditions: a value, or ``{string|int|float|datetime: "
    "value}``, timex ranges for datetimes.",
    "map_distinguished_by": "Take a distinguishing trait from another trait "
    "(``timestamp: audit_period_beginning``).",
}
DEFINITION_HELP = {
    "event_type": "Glob or list of globs (``!`` excludes) of the notifications.",
    "traits": "Mapping trait name -> trait definition.",
}
TRAIT_HELP = {
    "fields": "JSONPath or list of JSONPaths, tried in order.",
    "type": "``text`` (default), ``int``, ``float`` or ``datetime``.",
    "plugin": "A trait plugin: its name, or ``{name, parameters}``.",
}
PLUGIN_KEY_HELP = {
    "name": "Built-in plugin name or one declared in ``distiller_trait_plugins``.",
    "parameters": "Keyword arguments of the plugin (below).",
}
HANDLER_PARAM_HELP: dict[str, dict[str, str]] = {
    "logger": {"level": "Log level of the lines (``info``)."},
    "notabene": {
        "exchange": "Exchange to publish to (required).",
        "queue_name": "Queue declared and bound with it (routing key by default).",
        "routing_key": "Routing key (default ``queue_name``).",
        "declare_queue": "Declare ``queue_name`` before publishing.",
        "exchange_type": "``topic``, ``direct`` or ``fanout``.",
        "durable": "Durable exchange and queue.",
        "env_keys": "Publish the lists earlier handlers left under these keys "
        "(``usage_notifications``); none: the stream's events.",
        "url": "Broker URL (``;``-separated for a cluster).",
        "host": "Broker host (without ``url``).",
        "port": "Broker port.",
        "user": "Broker user.",
        "password": "Broker password.",
        "vhost": "Broker virtual host.",
        "library": "The original's; ignored with a warning.",
    },
    "atompub": {
        "url": "Atom collection to POST to (required).",
        "event_types": "Globs of the events to post.",
        "extra_info": "Mapping added to each entry's content.",
        "content_format": "``json`` or ``cuf_xml``.",
        "title": "Entry title.",
        "categories": "Extra Atom categories.",
        "auth_user": "Rackspace Identity user (API-key auth).",
        "auth_key": "Rackspace Identity API key.",
        "auth_server": "Rackspace Identity token URL.",
        "wait_interval": "First wait between attempts, seconds (doubles).",
        "max_wait": "Longest wait between attempts, seconds.",
        "http_timeout": "Seconds per HTTP request.",
        "max_attempts": "Attempts per entry before the stream errors.",
    },
}
#: Constructor arguments that tests inject; they cannot be set in YAML.
INTERNAL_PARAMS = {"backoff", "sleep"}
TRAIT_PLUGIN_HELP: dict[str, dict[str, str]] = {
    "split": {
        "separator": "String to split on.",
        "segment": "Index of the piece to keep.",
        "max_split": "At most this many splits.",
    },
    "bitfield": {
        "initial_bitfield": "Starting value.",
        "flags": "List of ``{path, bit, value}``: set ``bit`` when ``path`` "
        "holds ``value``.",
    },
    "timedelta": {},
    "map": {
        "values": "Mapping of matched value -> trait value.",
        "default": "Value for anything not in ``values``.",
        "case_sensitive": "Compare values case-sensitively.",
    },
}


class Undocumented(Exception):
    """A declared key has no description in this script's tables."""


def _literal(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f"``{str(value).lower()}``"
    return f"``{value}``"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [headers, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" if cell else "     -" for cell in row[1:])
    return [*lines, ""]


def _help(table: Mapping[str, str], key: str, where: str) -> str:
    text = table.get(key) or table.get("*")
    if not text:
        raise Undocumented(
            f"{where} {key!r} is declared but undocumented: describe it in "
            f"docs/generate.py and rerun it"
        )
    return text


def _heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def winchester_section() -> list[str]:
    lines = _heading("winchester.yaml", "-")
    lines += [
        "Read by ``yagi-event`` (through ``[winchester] config_file``), "
        "``pipeline-worker``, ``quince-api``, ``winchester-db`` and "
        "``check-config``. An unknown key is an error naming the file and line.",
        "",
    ]
    rows = []
    for setting in schema.SETTINGS:
        default = (
            "required"
            if setting.default is schema.REQUIRED
            else _literal(setting.default)
        )
        rows.append((f"``{setting.name}``", setting.type, default, setting.help))
    lines += _table(("key", "type", "default", "meaning"), rows)
    lines += _heading("database", "~")
    timeouts = {f"{f.name}_timeout": f.default for f in dataclasses.fields(Timeouts)}
    defaults: dict[str, Any] = {"url": "required", "echo_sql": False, **timeouts}
    keys = list(schema._DATABASE_KEYS)
    rows = [
        (
            f"``database.{k}``",
            _literal(defaults.get(k)) if k != "url" else "required",
            _help(DATABASE_HELP, k, "database key"),
        )
        for k in keys
    ]
    lines += _table(("key", "default", "meaning"), rows)
    lines += _heading("api", "~")
    api_defaults = {f.name: f.default for f in dataclasses.fields(ApiSettings)}
    rows = [
        (f"``api.{k}``", _literal(api_defaults.get(k)), _help(API_HELP, k, "api key"))
        for k in API_KEYS
    ]
    lines += _table(("key", "default", "meaning"), rows)
    return lines


def yagi_section() -> list[str]:
    lines = _heading("yagi.conf", "-")
    lines += [
        "The consumer's INI file, one per cell. ``[consumer:<queue>]``, "
        "``[winchester:<queue>]`` and ``[shoebox:<queue>]`` hold per-queue "
        "settings. An unknown section or key is an error; the sections of the "
        "original's other handlers ("
        + ", ".join(f"``[{s}]``" for s in sorted(IGNORED))
        + ") are ignored with a warning.",
        "",
    ]
    rows = []
    for section, keys in KNOWN.items():
        name = f"[{section}:<queue>]" if section == "consumer" else f"[{section}]"
        table = YAGI_HELP.get(section, {})
        for key in sorted(keys) or ["*"]:
            label = "<handler>" if key == "*" else key
            rows.append(
                (
                    f"``{name}``",
                    f"``{label}``",
                    _help(table, key, f"yagi.conf [{section}]"),
                )
            )
    lines += _table(("section", "key", "meaning"), rows)
    return lines


def triggers_section() -> list[str]:
    lines = _heading("triggers.yaml", "-")
    lines += ["A list of trigger definitions (see streams.rst).", ""]
    rows = [(f"``{k}``", _help(TRIGGER_HELP, k, "trigger key")) for k in TRIGGER_KEYS]
    lines += _table(("key", "meaning"), rows)
    lines += ["Each criterion of ``match_criteria`` and ``fire_criteria``:", ""]
    rows = [
        (f"``{k}``", _help(CRITERION_HELP, k, "criterion key")) for k in CRITERION_KEYS
    ]
    lines += _table(("key", "meaning"), rows)
    return lines


def _params(cls: type) -> list[inspect.Parameter]:
    signature = inspect.signature(cls.__init__)
    return [
        p
        for name, p in signature.parameters.items()
        if name != "self"
        and name not in INTERNAL_PARAMS
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def pipelines_section() -> list[str]:
    lines = _heading("pipelines.yaml", "-")
    lines += [
        "Pipeline name -> list of steps; a step is a handler name, or "
        "``{name: HANDLER, params: {...}}``. The built-in handlers' params:",
        "",
    ]
    rows = []
    for name, spec in BUILTIN_HANDLERS.items():
        params = _params(plugins.load(spec))
        if not params:
            rows.append((f"``{name}``", "", "", "(no params)"))
        for p in params:
            default = "" if p.default is p.empty else _literal(p.default)
            table = HANDLER_PARAM_HELP.get(name, {})
            rows.append(
                (
                    f"``{name}``",
                    f"``{p.name}``",
                    default,
                    _help(table, p.name, f"{name} handler param"),
                )
            )
    lines += _table(("handler", "param", "default", "meaning"), rows)
    return lines


def definitions_section() -> list[str]:
    lines = _heading("event_definitions.yaml", "-")
    lines += ["A list of definitions; the last match wins. A definition:", ""]
    tables = (
        (definitions._DEFINITION_KEYS, DEFINITION_HELP, "definition key", ""),
        (definitions._TRAIT_KEYS, TRAIT_HELP, "trait key", "traits.<name>."),
        (definitions._PLUGIN_KEYS, PLUGIN_KEY_HELP, "plugin key", "plugin."),
    )
    for keys, table, where, prefix in tables:
        rows = [(f"``{prefix}{k}``", _help(table, k, where)) for k in keys]
        lines += _table(("key", "meaning"), rows)
    lines += ["The built-in trait plugins' parameters:", ""]
    rows = []
    for name, cls in BUILTIN_PLUGINS.items():
        params = _params(cls)
        if not params:
            rows.append((f"``{name}``", "", "", "(no parameters)"))
        for p in params:
            default = "" if p.default is p.empty else _literal(p.default)
            table = TRAIT_PLUGIN_HELP.get(name, {})
            rows.append(
                (
                    f"``{name}``",
                    f"``{p.name}``",
                    default,
                    _help(table, p.name, f"{name} plugin parameter"),
                )
            )
    lines += _table(("plugin", "parameter", "default", "meaning"), rows)
    return lines


def configuration() -> str:
    """The text of docs/configuration.rst."""
    lines = [
        ".. Generated by docs/generate.py from the code's declarations: do not edit.",
        "",
        *_heading("Configuration reference", "="),
        "Every key of every configuration file, with its default. "
        "``check-config -c winchester.yaml`` and ``yagi-event -c yagi.conf "
        "--check`` validate a set without starting anything.",
        "",
    ]
    for part in (
        winchester_section,
        yagi_section,
        triggers_section,
        pipelines_section,
        definitions_section,
    ):
        lines += part()
    return "\n".join(lines).rstrip() + "\n"


def console_scripts() -> dict[str, str]:
    """``[project.scripts]`` of pyproject.toml: command -> ``module:function``."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(data["project"]["scripts"])


def _command_help(
    command: click.Command, path: list[str], parent: click.Context | None = None
) -> list[str]:
    # make_context applies the command's context_settings (-h as well as
    # --help), as running it does; click caches the help option per command,
    # so a bare Context would give whichever names were asked for first.
    ctx = command.make_context(
        path[-1] if parent is not None else " ".join(path),
        [],
        parent=parent,
        resilient_parsing=True,
        terminal_width=88,
        max_content_width=88,
    )
    text = command.get_help(ctx)
    char = "-" if len(path) == 1 else "~"
    lines = [*_heading(" ".join(path), char), "::", ""]
    lines += [f"    {line}".rstrip() for line in text.splitlines()]
    lines.append("")
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                lines += _command_help(sub, [*path, name], ctx)
    return lines


def commands() -> str:
    """The text of docs/commands.rst: every console script's ``--help``."""
    lines = [
        ".. Generated by docs/generate.py from each command's --help: do not edit.",
        "",
        *_heading("Commands", "="),
        "Every command StackTach installs, with its options, as ``--help`` prints "
        "them. README.rst says more about each; errors and exit statuses are "
        "common to all (one line on stderr; 0 success, 1 runtime failure, 2 bad "
        "configuration or usage, 130 interrupted).",
        "",
    ]
    for name, target in console_scripts().items():
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        lines += _command_help(command, [name])
    return "\n".join(lines).rstrip() + "\n"


GENERATED = {"configuration.rst": configuration, "commands.rst": commands}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a generated file is stale"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, build in GENERATED.items():
        try:
            text = build()
        except Undocumented as exc:
            print(f"docs/generate.py: {exc}", file=sys.stderr)
            return 1
        path = DOCS / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            stale.append(name)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(
            f"docs/generate.py: stale: {', '.join(stale)}; run "
            "`.venv/bin/python docs/generate.py`",
            file=sys.stderr,
        )
        return 1
    for name in stale:
        print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
