"""``pipeline-worker``: run pipelines on ready and expired streams."""

from __future__ import annotations

import logging
import logging.config
import os
import signal
import sys
import time
from datetime import timedelta
from types import FrameType

import click

from stacktach.exceptions import ConfigError
from winchester.build import build_engine, build_trigger_manager
from winchester.clock import make_clock
from winchester.config.handlers import resolve_handler
from winchester.config.pipelines import load_pipelines
from winchester.config.settings import WinchesterSettings
from winchester.config.triggers import load_triggers
from winchester.pipeline import PipelineWorker, TrimSettings, build_pipelines
from winchester.storage.engine import DatabaseUnavailable

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
        pipelines, lambda handler: resolve_handler(specs[handler])
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


def _setup_logging(settings: WinchesterSettings, name: str) -> None:
    if settings.logging_config:
        try:
            path = settings.locate("logging_config")
        except ConfigError:
            path = None
        if path is not None:
            logging.config.fileConfig(path, disable_existing_loggers=False)
            return
    handler: logging.Handler
    if settings.log_file:
        handler = logging.FileHandler(settings.log_file.replace("%(proc_name)s", name))
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)


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


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
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
def main(config: str, name: str | None, once: bool, daemon: bool) -> None:
    """Run the fire and expire pipelines of streams that are ready.

    Claims ready streams with a lease (many workers may run on one database;
    none runs a stream another holds), runs each trigger's fire_pipeline or
    expire_pipeline, and marks the stream completed (or deletes it), or in error
    after max_attempts failures. SIGTERM/SIGINT: finish the current batch and
    exit 0. Exit status 2 for an invalid configuration, 1 when the database
    stays unavailable with --once.
    """
    worker_name = name or f"pipeline-worker-{os.uname().nodename}-{os.getpid()}"
    try:
        settings = WinchesterSettings.load(config)
        _setup_logging(settings, worker_name)
        worker = build_worker(settings, worker_name)
    except ConfigError as exc:
        click.echo(f"pipeline-worker: {exc}", err=True)
        sys.exit(2)
    if daemon:
        _daemonize()
    stop = {"requested": False}  # a dict, so the signal handler can set it

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop["requested"] = True

    def stopping() -> bool:
        return stop["requested"]

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    LOG.info("%s starting (%s)", worker_name, "once" if once else "loop")
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
            LOG.error("%s: %s", worker_name, exc)
            if once or stopping():
                sys.exit(1)
            worker.engine.dispose()
            for _ in range(50):  # back off 5 s, still answering signals
                if stopping():
                    break
                time.sleep(0.1)
    LOG.info("%s stopped", worker_name)


if __name__ == "__main__":  # pragma: no cover
    main()
