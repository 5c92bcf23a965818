"""``pipeline-worker``: run pipelines on ready and expired streams.

``--reset-errors [--trigger NAME ...]`` instead moves errored streams back to
retry once their trigger is defined again (:mod:`winchester.reset_errors`).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from datetime import timedelta
from types import FrameType

import click

from notabene.signals import exit_on_stop_signals
from stacktach.cli import (
    Command,
    debug_requested,
    exit_after,
    startup_timeout_option,
    stop_grace_option,
)
from stacktach.exceptions import ConfigError
from stacktach.logsetup import setup_logging
from stacktach.metrics import metrics_options, serve
from winchester.build import build_engine, build_trigger_manager
from winchester.clock import make_clock
from winchester.config.handlers import resolve_handler
from winchester.config.pipelines import load_pipelines
from winchester.config.settings import WinchesterSettings
from winchester.config.triggers import load_triggers
from winchester.metrics import WorkerMetrics
from winchester.pipeline import (
    STATISTICS,
    PipelineWorker,
    TrimSettings,
    build_pipelines,
)
from winchester.reset_errors import reset_errors_command
from winchester.storage.engine import DatabaseUnavailable
from winchester.storage.startup import require_schema

__all__ = ["build_worker", "main"]

LOG = logging.getLogger("winchester.worker")


def build_worker(settings: WinchesterSettings, name: str) -> PipelineWorker:
    """A worker configured by ``settings`` (``ConfigError`` for a bad set)."""
    triggers_path = settings.locate("trigger_definitions")
    pipelines_path = settings.locate("pipeline_config")
    if triggers_path is None or pipelines_path is None:
        raise ConfigError(
            "a pipeline worker needs trigger_definitions and pipeline_config",
            source=str(settings.source),
        )
    triggers = load_triggers(triggers_path)
    specs = settings.handler_specs()
    pipelines = load_pipelines(pipelines_path, specs)
    handlers = build_pipelines(
        pipelines,
        lambda handler: resolve_handler(specs[handler]),
        lease_seconds=settings.lease_seconds,
    )
    engine = build_engine(settings)
    clock = make_clock(settings.clock, engine)
    trim = (
        TrimSettings(settings.trim_events_age, settings.trim_events_batch_size)
        if settings.trim_events
        else None
    )
    return PipelineWorker(
        engine,
        triggers={t.name: t for t in triggers},
        pipelines=handlers,
        clock=clock,
        manager=build_trigger_manager(
            settings, engine=engine, clock=clock, with_distiller=False
        ),
        name=name,
        batch_size=settings.pipeline_worker_batch_size,
        lease=timedelta(seconds=settings.lease_seconds),
        max_attempts=settings.max_attempts,
        purge_completed=settings.purge_completed_streams,
        trim=trim,
    )


def _setup_logging(settings: WinchesterSettings, name: str, debug: bool) -> None:
    config_file = settings.locate("logging_config") if settings.logging_config else None
    setup_logging(
        level=settings.log_level,
        file=settings.log_file.replace("%(proc_name)s", name)
        if settings.log_file
        else None,
        config_file=config_file,
        debug=debug,
        source=str(settings.source),
        key="logging_config" if config_file else "log_file",
    )


def _daemonize() -> None:
    """Detach from the terminal (double fork); stdio goes to /dev/null."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    default="winchester.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="winchester.yaml (database, triggers, pipelines, worker settings).",
)
@click.option(
    "-n",
    "--name",
    default=None,
    help="This worker's name: its lease owner and %(proc_name)s in log_file. "
    "Default: pipeline-worker-<host>-<pid>. Names must differ between workers.",
)
@click.option("--once", is_flag=True, help="Process what is ready now, then exit.")
@click.option("-d", "--daemon", is_flag=True, help="Detach and run in the background.")
@startup_timeout_option("an unreachable database")
@stop_grace_option("stream has not finished (its lease lapses; another worker retries)")
@click.option(
    "--reset-errors",
    is_flag=True,
    help="Put errored streams back (error -> retry_fire, expire_error -> "
    "retry_expire) for every trigger triggers.yaml defines, print how many, exit.",
)
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    metavar="NAME",
    help="With --reset-errors: only this trigger's streams (repeatable).",
)
@metrics_options
def main(
    config: str,
    name: str | None,
    once: bool,
    daemon: bool,
    startup_timeout: float,
    stop_grace: float,
    reset_errors: bool,
    triggers: tuple[str, ...],
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run the fire and expire pipelines of streams that are ready.

    Claims ready streams with a lease (many workers may run on one database;
    none runs a stream another holds), runs each trigger's fire_pipeline or
    expire_pipeline, and marks the stream completed (or deletes it), or in error
    after max_attempts failures. SIGTERM/SIGINT: finish the current batch and
    exit 0 (within --stop-grace). Exit status 2 for an invalid configuration or
    a database to migrate, 1 when the database cannot be reached at start-up
    (or stays unavailable with --once). --metrics-port: serve this worker's
    Prometheus counters at http://HOST:PORT/metrics.

    --reset-errors [--trigger NAME]: once a trigger removed from triggers.yaml
    is defined again (or another cause of errors is fixed), move its errored
    streams back to retry and exit (no worker runs).
    """
    if reset_errors or triggers:
        reset_errors_command(config, triggers, flag=reset_errors)
        return
    exit_on_stop_signals()  # a SIGTERM during start-up: exit 0, nothing claimed yet
    worker_name = name or f"pipeline-worker-{os.uname().nodename}-{os.getpid()}"
    settings = WinchesterSettings.load(config)
    _setup_logging(settings, worker_name, debug_requested())
    worker = build_worker(settings, worker_name)
    require_schema(worker.engine, config, timeout=startup_timeout)
    if daemon:
        _daemonize()
    if metrics_port is not None:  # after the fork: the server thread is ours
        worker.metrics = WorkerMetrics(worker_name, STATISTICS)
        serve(worker.metrics.registry, metrics_host, metrics_port)
    stop = {"requested": False}  # a dict, so the signal handler can set it

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop["requested"] = True
        exit_after(stop_grace, worker_name)

    def stopping() -> bool:
        return stop["requested"]

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    LOG.info("%s starting (%s)", worker_name, "once" if once else "loop")
    warned_at: float | None = None
    while True:
        try:
            worker.run(
                stop=stopping,
                delay=settings.pipeline_worker_delay,
                statistics_period=settings.statistics_period,
                once=once,
            )
            break
        except DatabaseUnavailable as exc:
            if once:
                raise
            if stopping():
                break
            # One line per outage (repeated every 10 minutes), not one per retry.
            now = time.monotonic()
            quiet = warned_at is not None and now - warned_at < 600
            (LOG.debug if quiet else LOG.warning)(
                "%s: %s; retrying every 5s", worker_name, exc
            )
            if not quiet:
                warned_at = now
            worker.engine.dispose()
            for _ in range(50):  # back off 5 s, still answering signals
                if stopping():
                    break
                time.sleep(0.1)
    LOG.info("%s stopped", worker_name)


if __name__ == "__main__":  # pragma: no cover
    main()
