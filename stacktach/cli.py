"""What every command does with an error: one line on stderr and an exit status.

Every console command is a click command built with ``cls=stacktach.cli.Command``
(or ``cls=stacktach.cli.Group``). That adds ``--debug`` (tracebacks, and DEBUG
logging where the command sets logging up) and turns whatever escapes the
command into one line ``<command>: <what is wrong and what to do>`` and an exit
status:

====== =====================================================================
status meaning
====== =====================================================================
0      success; also when stdout was closed early (``cmd | head -1``)
1      a runtime failure: a database or broker away, a file that cannot be
       written, a bad input, a bug (``internal error``, with the hint to rerun
       with ``--debug``)
2      bad configuration or usage: :class:`~stacktach.exceptions.ConfigError`
       (and so a broker or database refusing the credentials, an unknown
       database or vhost, a schema to migrate), click's usage errors
130    interrupted (Ctrl-C)
====== =====================================================================

click's own errors (a bad option value, a missing file argument) are printed
on one line too, with the hint ``(try '<command> --help')``.

The mapping (:func:`describe`): our exception root (:mod:`stacktach.exceptions`)
by branch; :class:`OSError` with its file name and reason; SQLAlchemy/driver and
kombu/amqp errors that reach this far by their reply code (these libraries are
recognised by name, never imported here).

:func:`exit_after` arms the stop grace period of the daemons: on SIGTERM they
set their stop flag and call it; if the process has not ended when the grace
period is over (a database that never answers), it exits with status 0 -
nothing is lost, since unacked messages are redelivered and leases lapse.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import click

from stacktach.exceptions import ConfigError, RecoverableError, StackTachError

__all__ = [
    "Command",
    "Group",
    "debug_requested",
    "describe",
    "exit_after",
    "startup_timeout_option",
    "stop_grace_option",
]

LOG = logging.getLogger(__name__)

_DEBUG = "stacktach.debug"
#: AMQP reply codes that mean "fix the configuration" (as notabene's).
_AMQP_CONFIG_CODES = frozenset({402, 403, 406, 530, 540})


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG] = True


def _debug_option() -> click.Option:
    return click.Option(
        ["--debug"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="Show tracebacks of errors and log at DEBUG level.",
    )


def debug_requested(ctx: click.Context | None = None) -> bool:
    """True when ``--debug`` was given (to this command or its group)."""
    ctx = ctx or click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_DEBUG))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and the exit status for ``exc``."""
    if isinstance(exc, ConfigError):
        return str(exc), 2
    if isinstance(exc, RecoverableError):
        return str(exc), 1
    if isinstance(exc, StackTachError):
        return str(exc), 1
    module = type(exc).__module__
    if module.startswith("sqlalchemy") and hasattr(exc, "orig"):
        orig = exc.orig
        return f"database error: {type(orig).__name__}: {orig}", 1
    if module.startswith(("amqp", "kombu")):
        code = getattr(exc, "code", None)
        if code in _AMQP_CONFIG_CODES:
            return f"broker refused: {exc} (fix the broker URL or the queues)", 2
        return f"broker error: {type(exc).__name__}: {exc}", 1
    if isinstance(exc, UnicodeDecodeError):
        return f"not a text file (UTF-8 expected): {exc}", 2
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc) or type(exc).__name__
        return f"{where}{reason}", 1
    return (
        f"internal error: {type(exc).__name__}: {exc} "
        "(rerun with --debug for the traceback, and please report it)",
        1,
    )


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _name(ctx: click.Context) -> str:
    return ctx.find_root().info_name or "stacktach"


def _click_error(ctx: click.Context, exc: click.ClickException) -> None:
    """Print click's error on one line (no usage block) and exit with its status."""
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        raise exc  # the help text, not an error
    name = _name(ctx)
    hint = f" (try '{name} --help')" if isinstance(exc, click.UsageError) else ""
    with contextlib.suppress(OSError):
        click.echo(f"{name}: {_one_line(exc.format_message())}{hint}", err=True)
    sys.exit(exc.exit_code)


def _guarded(ctx: click.Context, invoke: Callable[[click.Context], Any]) -> Any:
    try:
        return invoke(ctx)
    except click.ClickException as exc:
        _click_error(ctx, exc)
    except (click.exceptions.Exit, click.Abort, SystemExit):
        raise
    except BrokenPipeError:
        _quiet_stdout()  # the reader went away (`| head`): not an error
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        message, status = describe(exc)
        if debug_requested(ctx):
            traceback.print_exc()
        name = _name(ctx)
        with contextlib.suppress(OSError):
            click.echo(f"{name}: {_one_line(message)}", err=True)
        sys.exit(status)


class _Guarded:
    """Parse and invoke under this module's error rules (a mixin for click types)."""

    def invoke(self, ctx: click.Context) -> Any:
        return _guarded(ctx, super().invoke)  # type: ignore[misc]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            parsed: list[str] = super().parse_args(ctx, args)  # type: ignore[misc]
        except click.UsageError as exc:
            _click_error(ctx, exc)
            raise  # pragma: no cover - _click_error exits
        return parsed


class Command(_Guarded, click.Command):
    """A click command with ``--debug`` and the error rules of this module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_debug_option())


class _SubCommand(click.Command):
    """A group's subcommand: accepts ``--debug`` too (the group reports errors)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_debug_option())


class Group(_Guarded, click.Group):
    """A click group with ``--debug`` (before or after the subcommand)."""

    command_class = _SubCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_debug_option())


def startup_timeout_option(waits_for: str) -> Callable[[Any], Any]:
    """``--startup-timeout``: how long a daemon's start-up waits for ``waits_for``."""
    return click.option(
        "--startup-timeout",
        type=click.FloatRange(min=0),
        default=60.0,
        show_default=True,
        help=f"Seconds to keep trying {waits_for} when starting, before giving up "
        "with exit status 1 (once running, outages are waited out).",
    )


def stop_grace_option(unfinished: str) -> Callable[[Any], Any]:
    """``--stop-grace``: how long after SIGTERM the process may take to stop."""
    return click.option(
        "--stop-grace",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        help="Seconds after SIGTERM/SIGINT before the process exits even if the "
        f"current {unfinished}.",
    )


def exit_after(grace: float, name: str) -> threading.Timer:
    """Exit the process with status 0 in ``grace`` seconds unless it ends first.

    Safe to call from any thread, more than once (later calls do nothing).
    """
    with _TIMER_LOCK:
        if _TIMER:
            return _TIMER[0]

        def expire() -> None:
            LOG.warning(
                "%s did not stop within %.0fs of the stop signal (a database or "
                "broker that does not answer); exiting now, unacked work is "
                "redelivered",
                name,
                grace,
            )
            for handler in logging.getLogger().handlers:
                with contextlib.suppress(Exception):  # exiting anyway
                    handler.flush()
            os._exit(0)

        timer = threading.Timer(grace, expire)
        timer.daemon = True
        timer.start()
        _TIMER.append(timer)
        return timer


_TIMER: list[threading.Timer] = []
_TIMER_LOCK = threading.Lock()
