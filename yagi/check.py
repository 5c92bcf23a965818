"""``yagi-event --check``: validate a yagi.conf and what it names, creating nothing.

:func:`check` resolves every handler of every queue's chain without building
it: a ``winchester`` handler's ``winchester.yaml`` goes through
:func:`winchester.config.check.check_config` (the files it names, the database
URL and its driver - never connected to); a ``shoebox`` handler's settings are
validated and its folders checked to be creatable and writable (their nearest
existing parent must be a writable folder). The broker URL is parsed, never
connected to. No folder, file, queue or database is created: the first problem
is raised as a :class:`~stacktach.exceptions.ConfigError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import notabene
from stacktach import plugins
from stacktach.exceptions import ConfigError
from winchester.config.check import check_config
from yagi.config import YagiConfig, shoebox_number
from yagi.worker import HANDLERS, LEGACY

__all__ = ["check"]

_ARCHIVE_FORMATS = ("json", "binary")


def _writable(folder: Path, key: str) -> None:
    """Raise unless ``folder`` exists writable or could be created."""
    probe = folder.expanduser().absolute()
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{str(probe)!r} is not a folder", key=key)
    if not os.access(probe, os.W_OK | os.X_OK):
        action = "written" if probe == folder.expanduser().absolute() else "created"
        raise ConfigError(
            f"folder {str(folder)!r} cannot be {action}: {str(probe)!r} is not "
            "writable by this user (fix its permissions or choose another folder)",
            key=key,
        )


def _check_shoebox(config: YagiConfig, queue: str) -> None:
    settings = config.section("shoebox", queue)
    section = f"shoebox:{queue}"
    if not config.parser.has_section(section):
        section = "shoebox"
    fmt = settings.get("format")
    if fmt is not None and fmt not in _ARCHIVE_FORMATS:
        raise ConfigError(
            f"expected json or binary, got {fmt!r}",
            source=config.source,
            key=f"[{section}] format",
        )
    for key, default in (("roll_size_mb", 20.0), ("roll_minutes", 60.0)):
        try:
            shoebox_number(settings, key, default, section)
        except ConfigError as exc:
            raise ConfigError(exc.reason, source=config.source, key=exc.key) from None
    destination = Path(settings.get("destination_folder", "."))
    folders = {"destination_folder": destination}
    if settings.get("reject_folder"):
        folders["reject_folder"] = Path(settings["reject_folder"])
    if settings.get("working_directory"):
        folders["working_directory"] = Path(
            settings["working_directory"].replace("<pid>", "0")
        ).parent
    for key, folder in folders.items():
        try:
            _writable(folder, f"[{section}] {key}")
        except ConfigError as exc:
            raise ConfigError(exc.reason, source=config.source, key=exc.key) from None


def _check_winchester(config: YagiConfig, queue: str) -> str:
    path = config.section("winchester", queue).get("config_file", "winchester.yaml")
    result = check_config(path)
    if result.errors:
        first = result.errors[0]
        more = len(result.errors) - 1
        suffix = f" (and {more} more: run `check-config -c {path}`)" if more else ""
        raise ConfigError(f"{first}{suffix}", source=config.source)
    return path


def check(config: YagiConfig) -> list[str]:
    """Validate ``config`` (see the module docstring); one line per queue."""
    notabene.connect(config.broker_url)  # parses; no I/O
    lines = []
    for consumer in config.consumers:
        names = []
        for app in consumer.apps:
            name = LEGACY.get(app, app)
            plugins.load(name, HANDLERS, kind="yagi handler")
            if name == "winchester":
                path = _check_winchester(config, consumer.queue)
                names.append(f"winchester ({path})")
            elif name == "shoebox":
                _check_shoebox(config, consumer.queue)
                names.append("shoebox")
            else:
                names.append(name)
        lines.append(f"  queue {consumer.queue}: {', '.join(names)}")
    return lines
