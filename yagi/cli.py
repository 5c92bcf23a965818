"""``yagi-event``: the consumer daemon.

Start-up: the configuration is loaded and validated, logging set up
(:mod:`stacktach.logsetup`), the handlers built, each winchester database checked
to be reachable and at the code's schema (:mod:`winchester.storage.startup`),
then the broker connected to. A database or broker that cannot be reached for
``--startup-timeout`` seconds ends the process with one line and status 1; once
running, outages are waited out (batches held, nothing acked).

SIGTERM/SIGINT: the current batch finishes (or a held one is abandoned, to be
redelivered) and the process exits 0; if it has not ended ``--stop-grace``
seconds later (a database that never answers), it exits 0 anyway. SIGHUP
reopens log files (they are also reopened by themselves after logrotate moves
them). Errors follow :mod:`stacktach.cli` (exit status 2: configuration).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from notabene.signals import exit_on_stop_signals, install_stop_handlers
from stacktach.cli import (
    Command,
    debug_requested,
    exit_after,
    startup_timeout_option,
    stop_grace_option,
)
from stacktach.exceptions import ConfigError
from stacktach.logsetup import reopen_on_hup, setup_logging
from stacktach.metrics import metrics_options, serve
from winchester.storage.startup import require_schema
from yagi import config as yagi_config
from yagi.check import check as check_config
from yagi.handlers.winchester import WinchesterHandler
from yagi.metrics import YagiMetrics
from yagi.worker import YagiWorker

LOG = logging.getLogger("yagi")


def _setup_logging(config: yagi_config.YagiConfig, debug: bool) -> None:
    parser = config.parser
    config_file = parser.get("logging", "config_file", fallback="").strip() or None
    if config_file is not None:
        config_file = str(Path(config_file).expanduser())
    setup_logging(
        level=parser.get("logging", "default_level", fallback="INFO"),
        file=parser.get("logging", "logfile", fallback="").strip() or None,
        config_file=config_file,
        debug=debug,
        source=config.source,
        key="[logging] config_file" if config_file else "[logging] logfile",
    )


def _check_databases(worker: YagiWorker, timeout: float) -> None:
    seen: set[str] = set()
    for chain in worker.chains.values():
        for handler in chain.handlers:
            if isinstance(handler, WinchesterHandler):
                engine = handler.manager.engine
                key = str(engine.url)
                if key not in seen:
                    seen.add(key)
                    source = str(getattr(handler, "config_file", "winchester.yaml"))
                    require_schema(engine, source, timeout=timeout)


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="yagi.conf; repeat to concatenate several (as the original sandbox did).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Validate the configuration and the files it names, then exit; "
    "creates and connects to nothing.",
)
@startup_timeout_option("the database and the broker")
@stop_grace_option("batch has not finished (unacked messages are redelivered)")
@metrics_options
def main(
    configs: tuple[str, ...],
    check: bool,
    startup_timeout: float,
    stop_grace: float,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Consume notifications from the broker: archive, distil, store, ack.

    One process serves every queue of its config (one config per cell). Each
    batch is archived raw first, then distilled and stored in one database
    transaction, then acked: a crash means redelivery, never loss. Messages
    that cannot be processed go to <queue>.failed with the reason. SIGTERM or
    SIGINT: finish the current batch and exit 0 (within --stop-grace); SIGHUP:
    reopen log files. --metrics-port: serve this process's Prometheus
    counters at http://HOST:PORT/metrics. Exit status 2 for an invalid
    configuration, 1 when the database or broker cannot be used.
    """
    config = yagi_config.load(list(configs))
    if check:
        lines = check_config(config)
        click.echo(f"{config.source}: OK")
        for line in lines:
            click.echo(line)
        return
    exit_on_stop_signals()  # a SIGTERM during start-up: exit 0, nothing is acked yet
    _setup_logging(config, debug_requested())
    try:
        worker = YagiWorker(config)
    except ConfigError as exc:
        if exc.source is not None:
            raise
        raise ConfigError(exc.reason, source=config.source, key=exc.key) from None
    worker.consumer.startup_timeout = startup_timeout
    _check_databases(worker, startup_timeout)
    if metrics_port is not None:
        consumer = worker.consumer
        worker.metrics = YagiMetrics(lambda: consumer.stats.held)
        serve(worker.metrics.registry, metrics_host, metrics_port)

    def stop() -> None:
        worker.stop()
        exit_after(stop_grace, "yagi-event")

    install_stop_handlers(stop)
    reopen_on_hup()
    LOG.info("yagi-event consuming %s", ", ".join(c.queue for c in config.consumers))
    worker.run()
    LOG.info("yagi-event stopped")


if __name__ == "__main__":  # pragma: no cover
    main()
