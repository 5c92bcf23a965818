"""``yagi-replay``: archived notifications back into a broker or into winchester.

::

    yagi-replay ARCHIVE... --to URL [--exchange X] [--routing-key K] [--queue Q]
    yagi-replay ARCHIVE... --winchester winchester.yaml [--batch N]

ARCHIVE is a shoebox file or a folder of them (read in name order: the names
start with the roll time), read through :func:`shoebox.read`. Replay lives on
the consuming side because it needs the broker (``notabene``) and the trigger
manager (``winchester``); shoebox itself stays a library of archives that
imports only ``stacktach``.

Into winchester, notifications go through ``TriggerManager.add_notifications``
in batches with the **event-time clock** (the high-water mark of ingested
event timestamps, kept in the database): replayed streams expire in event
time, not by the wall clock. Ingest is idempotent (unique ``message_id``), so
replaying a file twice stores each event once; note that ``--batch`` decides
where the clock moves, and so can move stream boundaries. Exit status 2 for
bad usage, 1 when the replay failed (a bad winchester.yaml, a corrupt file).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

import notabene
from shoebox import read
from shoebox.summary import archive_files
from stacktach.cli import Command
from stacktach.exceptions import StackTachError
from winchester.build import build_trigger_manager
from winchester.config.settings import WinchesterSettings

__all__ = ["ReplaySummary", "batches", "main", "to_broker", "to_winchester"]

Progress = Callable[[Path], None]


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did."""

    files: int = 0
    records: int = 0
    published: int = 0
    saved: int = 0
    duplicates: int = 0
    unmatched: int = 0
    rejected: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """The summary, one ``name: value`` per line (the non-zero counters)."""
        out = [f"files: {self.files}", f"records: {self.records}"]
        for name in ("published", "saved", "duplicates", "unmatched", "rejected"):
            value = getattr(self, name)
            if value:
                out.append(f"{name}: {value}")
        out.append(f"seconds: {self.seconds:.3f}")
        return out


def batches(
    files: Sequence[Path], size: int, summary: ReplaySummary, done: Progress
) -> Iterator[list[bytes]]:
    """Bodies of every record of ``files`` in batches of ``size``.

    ``done(path)`` is called after each file; ``CorruptArchive`` stops the
    replay at the bad record (what came before it was sent).
    """
    batch: list[bytes] = []
    for path in files:
        for record in read(path):
            batch.append(record.body)
            summary.records += 1
            if len(batch) >= size:
                yield batch
                batch = []
        summary.files += 1
        done(path)
    if batch:
        yield batch


def to_broker(
    files: Sequence[Path],
    url: str,
    *,
    exchange: str,
    routing_key: str,
    queue: str | None = None,
    batch_size: int = 500,
    done: Progress = lambda path: None,
) -> ReplaySummary:
    """Publish every record's body to ``exchange`` with ``routing_key``.

    ``queue`` declares a queue bound with the routing key first (messages sent
    to an exchange with no queue bound are dropped by the broker).
    """
    summary = ReplaySummary()
    started = time.perf_counter()
    queues = (
        [notabene.QueueSpec(name=queue, exchange=exchange, routing_key=routing_key)]
        if queue
        else []
    )
    with notabene.Publisher(
        url, exchange=exchange, exchange_type="topic", queues=queues
    ) as publisher:
        for bodies in batches(files, batch_size, summary, done):
            summary.published += publisher.publish_batch(
                bodies, routing_key=routing_key
            )
    summary.seconds = time.perf_counter() - started
    return summary


def to_winchester(
    files: Sequence[Path],
    settings_path: str | Path,
    *,
    batch_size: int = 500,
    done: Progress = lambda path: None,
) -> ReplaySummary:
    """Distil and ingest every record with the settings of ``winchester.yaml``.

    Raises ``ConfigError`` when the file has no ``distiller_config`` or
    ``trigger_definitions``.
    """
    manager = build_trigger_manager(
        WinchesterSettings.load(settings_path),
        clock="event",
        need_triggers=True,
        purpose="replay",
    )
    summary = ReplaySummary()
    started = time.perf_counter()
    try:
        for bodies in batches(files, batch_size, summary, done):
            result = manager.add_notifications(bodies)
            summary.saved += result.saved
            summary.duplicates += result.duplicates
            summary.unmatched += result.unmatched
            summary.rejected += len(result.rejected)
    finally:
        manager.engine.dispose()
    summary.seconds = time.perf_counter() - started
    return summary


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("sources", nargs=-1, required=True)
@click.option("--to", "url", help="Broker URL (amqp://, filesystem://, memory://).")
@click.option("--exchange", default="nova", show_default=True, help="Topic exchange.")
@click.option(
    "--routing-key",
    default="notifications.info",
    show_default=True,
    help="Routing key of every message.",
)
@click.option("--queue", help="Declare this queue, bound with the routing key.")
@click.option(
    "--winchester",
    "settings",
    type=click.Path(exists=True, dir_okay=False),
    help="winchester.yaml: distil and ingest straight into its database.",
)
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def main(
    sources: tuple[str, ...],
    url: str | None,
    exchange: str,
    routing_key: str,
    queue: str | None,
    settings: str | None,
    batch: int,
    quiet: bool,
) -> None:
    """Send archived notifications back to a broker or into winchester.

    Into winchester the event-time clock is used, so replayed streams expire in
    event time. Files are read in name order (the names start with the roll time).
    """
    if (url is None) == (settings is None):
        raise click.UsageError("give exactly one of --to URL and --winchester FILE")
    try:
        files = archive_files(sources)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    with click.progressbar(
        length=len(files), label="replaying", file=sys.stderr, hidden=quiet
    ) as bar:

        def done(path: Path) -> None:
            bar.update(1)

        try:
            if url is not None:
                summary = to_broker(
                    files,
                    url,
                    exchange=exchange,
                    routing_key=routing_key,
                    queue=queue,
                    batch_size=batch,
                    done=done,
                )
            else:
                assert settings is not None
                summary = to_winchester(files, settings, batch_size=batch, done=done)
        except StackTachError as exc:
            raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
