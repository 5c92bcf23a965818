"""The ``distiller`` command: distil JSON-lines notifications and print the events."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import IO

import click

from distiller.distiller import Distiller, NotificationRejected
from stacktach.cli import Command
from stacktach.jsonutil import encode_default

_PROGRESS_EVERY = 5000


def _parse_plugins(values: tuple[str, ...]) -> dict[str, str]:
    plugins: dict[str, str] = {}
    for value in values:
        name, eq, spec = value.partition("=")
        if not eq or not name or ":" not in spec:
            raise click.BadParameter(
                f"{value!r}: expected NAME=package.module:Class",
                param_hint="'--plugin'",
            )
        plugins[name] = spec
    return plugins


def _lines(files: tuple[str, ...]) -> Iterator[tuple[str, int, bytes]]:
    for name in files or ("-",):
        stream: IO[bytes]
        if name == "-":
            stream, label = sys.stdin.buffer, "<stdin>"
        else:
            try:
                stream = open(name, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise click.FileError(name, hint=exc.strerror) from None
            label = name
        try:
            for number, line in enumerate(stream, 1):
                if line.strip():
                    yield label, number, line
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-d",
    "--definitions",
    "definitions",
    required=True,
    type=click.Path(dir_okay=False),
    help="The event_definitions.yaml file (stackdistiller or Ceilometer format).",
)
@click.option(
    "--catchall",
    is_flag=True,
    help="Turn notifications no definition matches into events with the default "
    "traits.",
)
@click.option(
    "--ceilometer",
    is_flag=True,
    help="Ceilometer compatibility: its default traits, and ctxt.<key> paths read "
    "the _context_<key> keys.",
)
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="NAME=module:Class",
    help="Register a trait plugin under NAME (repeatable).",
)
@click.option(
    "--check", is_flag=True, help="Only load and validate the definitions, then exit."
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print no per-notification diagnostics on stderr.",
)
@click.argument(
    "files", nargs=-1, type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)
def main(
    definitions: str,
    catchall: bool,
    ceilometer: bool,
    plugins: tuple[str, ...],
    check: bool,
    quiet: bool,
    files: tuple[str, ...],
) -> None:
    """Distil notifications (JSON lines, from FILES or stdin) into events.

    Prints one JSON object per event on stdout - event_type, message_id, timestamp
    and the traits, with datetimes as {"__type__": "datetime", ...}. Notifications
    no definition matches print nothing (unless --catchall). Rejected notifications
    and dropped traits are reported on stderr with file and line, then a summary.

    Exit status: 0 when every notification was read, 1 when any was rejected,
    2 for a bad command line or definitions file.
    """
    where = {"label": "", "line": 0}

    def report_trait(event_type: str, message_id: str, trait: str, reason: str) -> None:
        if not quiet:
            click.echo(
                f"{where['label']}:{where['line']}: {event_type} {message_id}: "
                f"trait {trait} dropped: {reason}",
                err=True,
            )

    distiller = Distiller.from_file(
        definitions,
        catchall=catchall,
        ceilometer=ceilometer,
        plugins=_parse_plugins(plugins),
        on_trait_error=report_trait,
    )
    if check:
        click.echo(
            f"{definitions}: {len(distiller.definitions)} definitions OK", err=True
        )
        return

    out = sys.stdout
    progress = sys.stderr.isatty() and not quiet
    started = time.monotonic()
    for label, number, line in _lines(files):
        where["label"], where["line"] = label, number
        try:
            event = distiller.distill_json(line)
        except NotificationRejected as exc:
            if not quiet:
                click.echo(f"{label}:{number}: rejected: {exc}", err=True)
            continue
        if event is not None:
            out.write(json.dumps(event.as_dict(), default=encode_default))
            out.write("\n")
        if progress and distiller.stats.read % _PROGRESS_EVERY == 0:
            click.echo(f"\r{distiller.stats.read} read ...", err=True, nl=False)
    out.flush()
    stats = distiller.stats
    elapsed = time.monotonic() - started
    if progress and stats.read >= _PROGRESS_EVERY:
        click.echo("\r", err=True, nl=False)
    click.echo(
        f"distiller: read {stats.read}, distilled {stats.distilled}, "
        f"unmatched {stats.unmatched}, rejected {stats.rejected}, "
        f"trait problems {stats.trait_error_total}, derived ids {stats.derived_ids} "
        f"({elapsed:.2f}s)",
        err=True,
    )
    if stats.rejected:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
