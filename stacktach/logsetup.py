"""Logging set-up, the same for every command.

:func:`setup_logging` configures the root logger from three settings, in this
order of precedence:

* ``config_file`` - a :func:`logging.config.fileConfig` file (``[logging]
  config_file`` of yagi.conf, ``logging_config`` of winchester.yaml). A file that
  is missing or not a valid logging configuration is a
  :class:`~stacktach.exceptions.ConfigError` naming the file and the key.
* ``file`` - a log file, opened with :class:`logging.handlers.WatchedFileHandler`:
  when logrotate moves or removes it, the next record goes to a new file at the
  same path (no signal needed). A file that cannot be opened is a ConfigError.
* otherwise stderr.

``level`` is a level name (``INFO``, ``DEBUG``, ...); ``debug=True`` (the
commands' ``--debug``) forces ``DEBUG``. :func:`reopen_on_hup` makes SIGHUP
reopen the log files too, for logrotate configurations that send it (SIGHUP
would otherwise end the process).
"""

from __future__ import annotations

import configparser
import logging
import logging.config
import logging.handlers
import signal
import sys
from pathlib import Path
from types import FrameType

from stacktach.exceptions import ConfigError

__all__ = ["FORMAT", "reopen_on_hup", "setup_logging"]

#: The format of every command's log lines.
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SECTIONS = ("loggers", "handlers", "formatters")


def check_logging_config(
    path: str | Path, *, source: str | None = None, key: str | None = None
) -> None:
    """Raise :class:`ConfigError` unless ``path`` reads as a fileConfig file."""
    where = Path(path)
    if not where.is_file():
        raise ConfigError(
            f"logging configuration {str(where)!r} not found: create it or fix the key",
            source=source,
            key=key,
        )
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(where, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(
            f"{where}: not a logging configuration file: {_first_line(exc)}",
            source=source,
            key=key,
        ) from None
    missing = [s for s in _SECTIONS if not parser.has_section(s)]
    if missing:
        raise ConfigError(
            f"{where}: not a logging.config.fileConfig file (no "
            f"{', '.join(f'[{s}]' for s in missing)} section)",
            source=source,
            key=key,
        )
    problem = _structure_problem(parser)
    if problem:
        raise ConfigError(
            f"{where}: invalid logging configuration: {problem}", source=source, key=key
        )


def _keys(parser: configparser.ConfigParser, section: str) -> list[str]:
    return _split(parser.get(section, "keys", fallback=""))


def _structure_problem(parser: configparser.ConfigParser) -> str | None:
    """What :func:`logging.config.fileConfig` would trip over, without running it."""
    loggers = _keys(parser, "loggers")
    handlers = _keys(parser, "handlers")
    formatters = _keys(parser, "formatters")
    if "root" not in loggers:
        return "[loggers] keys must include root"
    for name in formatters:
        if not parser.has_section(f"formatter_{name}"):
            return f"no [formatter_{name}] section for [formatters] key {name!r}"
    for name in handlers:
        section = f"handler_{name}"
        if not parser.has_section(section):
            return f"no [{section}] section for [handlers] key {name!r}"
        if not parser.has_option(section, "class"):
            return f"[{section}] has no class"
        formatter = parser.get(section, "formatter", fallback="").strip()
        if formatter and formatter not in formatters:
            return f"[{section}] formatter {formatter!r} is not in [formatters] keys"
    for name in loggers:
        section = f"logger_{name}"
        if not parser.has_section(section):
            return f"no [{section}] section for [loggers] key {name!r}"
        for handler in _split(parser.get(section, "handlers", fallback="")):
            if handler not in handlers:
                return f"[{section}] handler {handler!r} is not in [handlers] keys"
        if name != "root" and not parser.has_option(section, "qualname"):
            return f"[{section}] has no qualname"
    return None


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def setup_logging(
    *,
    level: str = "INFO",
    file: str | None = None,
    config_file: str | Path | None = None,
    debug: bool = False,
    source: str | None = None,
    key: str | None = None,
    fmt: str = FORMAT,
) -> None:
    """Configure the root logger (see the module docstring).

    ``source`` and ``key`` name where ``config_file`` (or ``file``) was set, for
    the :class:`ConfigError` raised when it cannot be used.
    """
    if config_file is not None:
        check_logging_config(config_file, source=source, key=key)
        try:
            logging.config.fileConfig(config_file, disable_existing_loggers=False)
        except Exception as exc:  # fileConfig raises anything: KeyError, ValueError...
            raise ConfigError(
                f"{config_file}: invalid logging configuration: "
                f"{type(exc).__name__}: {_first_line(exc)}",
                source=source,
                key=key,
            ) from None
        if debug:
            logging.getLogger().setLevel(logging.DEBUG)
        return
    name = "DEBUG" if debug else level.upper()
    if name not in _LEVELS:
        raise ConfigError(
            f"unknown log level {level!r}; expected one of {', '.join(_LEVELS)}",
            source=source,
            key=key,
        )
    handler: logging.Handler
    if file:
        try:
            handler = logging.handlers.WatchedFileHandler(file)
        except OSError as exc:
            raise ConfigError(
                f"cannot open log file {file!r}: {exc.strerror}", source=source, key=key
            ) from None
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    logging.basicConfig(level=name, handlers=[handler], force=True)


def _reopen(_signum: int, _frame: FrameType | None) -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.close()
                handler.stream = handler._open()
            finally:
                handler.release()


def reopen_on_hup() -> None:
    """SIGHUP: reopen the root logger's log files (call from the main thread)."""
    signal.signal(signal.SIGHUP, _reopen)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
