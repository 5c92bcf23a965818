"""``quince-api -c winchester.yaml [--bind HOST:PORT] [--workers N]``.

A thin wrapper that runs gunicorn (its ``BaseApplication``) with
:func:`quince.app.create_app`; each worker builds its own app (and engine). The
settings are checked, and the schema required to be current, before gunicorn
starts, so a bad config is one line and exit status 2. ``--bind`` and
``--workers`` default to ``api.bind`` and ``api.workers``. The config path is
also put in ``STACKTACH_CONFIG`` for the workers.

Workers are gunicorn's threaded ``gthread`` workers, ``--threads`` (default
``api.threads``) each: a server-sent event stream (``GET /v1/stream``) holds a
thread while it lasts, blocked on its queue, so many idle watchers are cheap,
one poller thread per process reads the database for all of them, and
ordinary requests keep threads of their own. On SIGTERM the live streams end at
once (clients reconnect elsewhere and resume), so a restart does not wait out
the graceful timeout. The access log never shows a ``token=`` query value.
"""

from __future__ import annotations

import gc
import os
import re
import signal
from typing import Any

import click
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from quince import live
from quince.app import CONFIG_ENV, create_app
from stacktach.cli import Command, debug_requested
from stacktach.logsetup import setup_logging
from winchester.config.settings import WinchesterSettings
from winchester.storage.engine import connect
from winchester.storage.startup import require_schema

__all__ = ["QuinceApplication", "RedactingLogger", "main"]

_TOKEN_VALUE = re.compile(r"(?i)(^|[?&])(token=)[^&\s]*")


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with any ``token=`` query value replaced by ``***``."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "q"):
            if isinstance(atoms.get(key), str):
                atoms[key] = _TOKEN_VALUE.sub(r"\1\2***", atoms[key])
        return atoms


def _worker_ready(worker: Any) -> None:
    """gunicorn ``post_worker_init`` (the app is loaded): end the live streams
    first on a signal, and freeze what start-up made."""
    _end_live_streams_first(worker)
    # Modules, the app and the schema live as long as the worker: out of the
    # collector's generations, a full collection scans only what requests
    # make (before, one took ~100 ms in the middle of a request: the p99).
    gc.freeze()


def _end_live_streams_first(worker: Any) -> None:
    """On SIGTERM/SIGINT/SIGQUIT, end the live streams before gunicorn's own
    handler (else they hold the worker until the graceful timeout)."""
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        previous = signal.getsignal(number)

        def handler(sig: int, frame: Any, previous: Any = previous) -> None:
            live.shutdown_all()
            if callable(previous):
                previous(sig, frame)

        signal.signal(number, handler)


class QuinceApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn serving ``create_app(config)``."""

    def __init__(self, config: str, options: dict[str, Any]) -> None:
        self.config_path = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.config_path)


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    default="winchester.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The winchester.yaml to serve.",
)
@click.option("-b", "--bind", default=None, help="HOST:PORT (default api.bind).")
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="gunicorn worker processes (default api.workers).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Threads per worker (default api.threads); each live stream holds one.",
)
@click.option(
    "--startup-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the database at start.",
)
def main(
    config: str,
    bind: str | None,
    workers: int | None,
    threads: int | None,
    startup_timeout: float,
) -> None:
    """Serve the StackTach REST API (quince) with gunicorn."""
    settings = WinchesterSettings.load(config)
    debug = debug_requested()
    config_file = settings.locate("logging_config") if settings.logging_config else None
    setup_logging(
        level=settings.log_level,
        file=settings.log_file.replace("%(proc_name)s", "quince-api")
        if settings.log_file
        else None,
        config_file=config_file,
        debug=debug,
        source=str(settings.source),
        key="logging_config" if config_file else "log_file",
    )
    db = settings.database
    engine = connect(db.url, echo=db.echo_sql, timeouts=db.timeouts)
    try:
        require_schema(engine, config, timeout=startup_timeout)
    finally:
        engine.dispose()
    create_app(settings=settings)  # any other config error now, not per worker
    path = os.path.abspath(config)
    os.environ[CONFIG_ENV] = path
    os.environ[live.THREADS_ENV] = str(threads or settings.api.threads)
    options = {
        "bind": bind or settings.api.bind,
        "workers": workers or settings.api.workers,
        "worker_class": "gthread",
        "threads": threads or settings.api.threads,
        "logger_class": RedactingLogger,
        "post_worker_init": _worker_ready,
        "proc_name": "quince-api",
        "accesslog": "-",
        # the access log shows no headers, so never a token
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
    }
    QuinceApplication(path, options).run()
