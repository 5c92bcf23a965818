"""The ``shoebox`` command: list, read and verify archive files.

::

    shoebox ls DIR...                      files, sizes, records, time spans
    shoebox cat [--metadata] [--unique] FILE...   records as JSON lines
    shoebox verify FILE|DIR...             exit 1 on any problem; duplicates

Replay moved to ``yagi-replay`` (:mod:`yagi.replay`: shoebox imports only
``stacktach``); ``shoebox replay`` says so and exits 2.

``cat`` prints each body as received when it is one line of JSON (the usual
case), else its record form ``{"body": "..."}`` / ``{"body_b64": "..."}``;
with ``--metadata`` it prints whole records in the archive's JSON line format;
with ``--unique`` it skips records whose message id was printed already (a
redelivery after a crash archives a notification twice).

``verify`` also reports message ids that appear more than once in the files it
was given (how many, and a few examples with their files); duplicates alone do
not make it fail.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from shoebox.exceptions import CorruptArchive
from shoebox.formats import JsonFormat, Record
from shoebox.reader import read
from shoebox.summary import Duplicates, FileReport, archive_files, examine, record_id
from stacktach.cli import Group, debug_requested
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
    """List, read and verify shoebox archive files."""
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
@click.option(
    "--unique",
    is_flag=True,
    help="Skip records whose message id was printed already (redeliveries).",
)
def cat_command(files: tuple[str, ...], metadata: bool, unique: bool) -> None:
    """Print the records of archive files as JSON lines."""
    out = sys.stdout.buffer
    seen = Duplicates()
    for path in _files(files):
        try:
            for record in read(path):
                if unique and seen.add(record_id(record.body, record.metadata), path):
                    continue
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
    duplicates = Duplicates()
    for path in paths:
        report = examine(path)
        records += report.records
        for found in report.ids:
            duplicates.add(found, path)
        if report.ok:
            checked = " sha256 ok" if report.expected_digest else ""
            click.echo(f"OK    {path}  {report.records} records{checked}")
        else:
            bad += 1
            for problem in report.problems:
                click.echo(f"FAIL  {problem}")
    if duplicates.ids:
        click.echo(
            f"DUP   {duplicates.ids} message ids appear more than once "
            f"({duplicates.records} extra records; a redelivery after a crash "
            f"archives twice): e.g. {'; '.join(duplicates.examples())}"
        )
    click.echo(
        f"{len(paths)} files, {records} records, {bad} with problems, "
        f"{duplicates.records} duplicates"
    )
    if bad:
        sys.exit(1)


@main.command(
    "replay",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("ignored", nargs=-1, type=click.UNPROCESSED)
def replay_command(ignored: tuple[str, ...]) -> None:
    """Moved: use yagi-replay ARCHIVE... (--to URL | --winchester FILE)."""
    click.echo(
        "shoebox replay moved to the consuming side: use yagi-replay ARCHIVE... "
        "(--to BROKER_URL | --winchester winchester.yaml) with the same options",
        err=True,
    )
    sys.exit(2)
