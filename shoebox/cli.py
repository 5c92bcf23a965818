"""The ``shoebox`` command: list, read, verify and replay archive files.

::

    shoebox ls DIR...                      files, sizes, records, time spans
    shoebox cat [--metadata] FILE...       records as JSON lines
    shoebox verify FILE|DIR...             exit 1 on any problem
    shoebox replay FILE|DIR... --to URL [--exchange X] [--routing-key K] [--queue Q]
    shoebox replay FILE|DIR... --winchester winchester.yaml

``cat`` prints each body as received when it is one line of JSON (the usual
case), else its record form ``{"body": "..."}`` / ``{"body_b64": "..."}``;
with ``--metadata`` it prints whole records in the archive's JSON line format.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from shoebox import replay
from shoebox.exceptions import CorruptArchive
from shoebox.formats import JsonFormat, Record
from shoebox.reader import read
from shoebox.summary import FileReport, archive_files, examine
from stacktach.cli import Group, debug_requested
from stacktach.exceptions import StackTachError
from stacktach.logsetup import setup_logging

__all__ = ["main"]

_JSON = JsonFormat()


def _files(targets: Sequence[str]) -> list[Path]:
    try:
        return archive_files(targets)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


def _stamp(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def cat_line(record: Record, *, metadata: bool = False) -> bytes:
    """The line ``shoebox cat`` prints for ``record`` (newline included)."""
    if metadata:
        return _JSON.encode(record)
    member = _JSON.encode_body(record.body)
    if member.startswith(b'"notification":'):
        return record.body + b"\n"
    return b"{" + member + b"}\n"


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (to stderr).")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """List, read, verify and replay shoebox archive files."""
    setup_logging(
        level="INFO" if verbose else "WARNING",
        debug=debug_requested(ctx),
        fmt="%(levelname)s %(name)s: %(message)s",
    )


@main.command("ls")
@click.argument("targets", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
def ls_command(targets: tuple[str, ...], as_json: bool) -> None:
    """List archive files: size, records and the time span of their events."""
    reports = [examine(path) for path in _files(targets)]
    if as_json:
        for report in reports:
            click.echo(json.dumps(_report_dict(report)))
        return
    width = max([len(r.path.name) for r in reports] + [4])
    click.echo(
        f"{'FILE':<{width}}  {'SIZE':>10}  {'RECORDS':>8}  "
        f"{'FIRST EVENT':<19}  {'LAST EVENT':<19}"
    )
    total_size = total_records = 0
    for report in reports:
        records = str(report.records) if report.ok else "CORRUPT"
        click.echo(
            f"{report.path.name:<{width}}  {_size(report.size):>10}  {records:>8}  "
            f"{_stamp(report.first):<19}  {_stamp(report.last):<19}"
        )
        total_size += report.size
        total_records += report.records
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
    click.echo(f"{len(reports)} files, {_size(total_size)}, {total_records} records")


def _report_dict(report: FileReport) -> dict[str, object]:
    return {
        "file": str(report.path),
        "size": report.size,
        "records": report.records,
        "first": None if report.first is None else report.first.isoformat(),
        "last": None if report.last is None else report.last.isoformat(),
        "sha256": report.digest,
        "problems": report.problems,
    }


@main.command("cat")
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--metadata",
    is_flag=True,
    help='Print whole records: {"metadata": {...}, "notification": ...}.',
)
def cat_command(files: tuple[str, ...], metadata: bool) -> None:
    """Print the records of archive files as JSON lines."""
    out = sys.stdout.buffer
    for path in _files(files):
        try:
            for record in read(path):
                out.write(cat_line(record, metadata=metadata))
        except CorruptArchive as exc:
            out.flush()
            raise click.ClickException(str(exc)) from None
    out.flush()


@main.command("verify")
@click.argument("targets", nargs=-1, required=True)
def verify_command(targets: tuple[str, ...]) -> None:
    """Check archive files: readable records, gzip integrity, SHA-256 in names.

    Exits with status 1 when any file has a problem.
    """
    bad = records = 0
    paths = _files(targets)
    for path in paths:
        report = examine(path)
        records += report.records
        if report.ok:
            checked = " sha256 ok" if report.expected_digest else ""
            click.echo(f"OK    {path}  {report.records} records{checked}")
        else:
            bad += 1
            for problem in report.problems:
                click.echo(f"FAIL  {problem}")
    click.echo(f"{len(paths)} files, {records} records, {bad} with problems")
    if bad:
        sys.exit(1)


@main.command("replay")
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
def replay_command(
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
    files = _files(sources)
    with click.progressbar(
        length=len(files),
        label="replaying",
        file=sys.stderr,
        hidden=quiet,
    ) as bar:

        def done(path: Path) -> None:
            bar.update(1)

        try:
            if url is not None:
                summary = replay.to_broker(
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
                summary = replay.to_winchester(
                    files, settings, batch_size=batch, done=done
                )
        except StackTachError as exc:
            raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
