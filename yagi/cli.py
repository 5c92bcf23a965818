"""``yagi-event``: the consumer daemon."""

from __future__ import annotations

import logging
import logging.config
import signal
import sys
from types import FrameType

import click

from stacktach.exceptions import ConfigError
from yagi import config as yagi_config
from yagi.worker import YagiWorker

LOG = logging.getLogger("yagi")


def _setup_logging(config: yagi_config.YagiConfig) -> None:
    parser = config.parser
    if parser.has_option("logging", "config_file"):
        path = parser.get("logging", "config_file")
        try:
            logging.config.fileConfig(path, disable_existing_loggers=False)
            return
        except (OSError, KeyError, ValueError) as exc:
            LOG.warning("logging config %s not used: %s", path, exc)
    level = parser.get("logging", "default_level", fallback="INFO").upper()
    logfile = parser.get("logging", "logfile", fallback="")
    handler: logging.Handler = (
        logging.FileHandler(logfile) if logfile else logging.StreamHandler()
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)


def _reopen_logs(_signum: int, _frame: FrameType | None) -> None:
    """SIGHUP: reopen log files (after logrotate moved them)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.close()
                handler.stream = handler._open()
            finally:
                handler.release()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="yagi.conf; repeat to concatenate several (as the original sandbox did).",
)
@click.option("--check", is_flag=True, help="Validate the configuration and exit.")
def main(configs: tuple[str, ...], check: bool) -> None:
    """Consume notifications from the broker: archive, distil, store, ack.

    One process serves every queue of its config (one config per cell). Each
    batch is archived raw first, then distilled and stored in one database
    transaction, then acked: a crash means redelivery, never loss. Messages
    that cannot be processed go to <queue>.failed with the reason. SIGTERM or
    SIGINT: finish the current batch and exit 0; SIGHUP: reopen log files.
    Exit status 2 for an invalid configuration.
    """
    try:
        config = yagi_config.load(list(configs))
        _setup_logging(config)
        worker = YagiWorker(config)
    except ConfigError as exc:
        click.echo(f"yagi-event: {exc}", err=True)
        sys.exit(2)
    if check:
        queues = ", ".join(c.queue for c in config.consumers)
        click.echo(f"{config.source}: OK (queues: {queues})")
        return
    worker.consumer.install_signal_handlers()
    signal.signal(signal.SIGHUP, _reopen_logs)
    LOG.info("yagi-event consuming %s", ", ".join(c.queue for c in config.consumers))
    worker.run()
    LOG.info("yagi-event stopped")


if __name__ == "__main__":  # pragma: no cover
    main()
