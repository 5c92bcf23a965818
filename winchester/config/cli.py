"""The ``check-config`` command: validate a winchester.yaml and every file it names."""

from __future__ import annotations

import sys

import click

from stacktach.cli import Command
from winchester.config.check import check_config, database_label
from winchester.config.handlers import BUILTIN_HANDLERS

_NOTES = {"pending": " (built-in, not installed yet)", "error": " (cannot load)"}


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config",
    default="winchester.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The winchester.yaml to check; the files it names are found along its "
    "config_path, then in its own folder.",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not print warnings.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
def main(config: str, quiet: bool, strict: bool) -> None:
    """Check a configuration set without starting or connecting to anything.

    Loads winchester.yaml, the event definitions, triggers and pipelines it
    names, checks that every pipeline a trigger names exists and that every
    pipeline handler class imports, that the database driver is installed and
    the logging_config file is valid. Problems go to stderr as
    file:line: key: message; a summary goes to stdout.

    Exit status: 0 when the set is valid, 1 when it is not (or, with --strict,
    when there are warnings), 2 for a bad command line.
    """
    result = check_config(config)
    for error in result.errors:
        click.echo(str(error), err=True)
    if not quiet:
        for warning in result.warnings:
            click.echo(str(warning), err=True)
    click.echo(result.summary())
    if result.settings is not None:
        click.echo(f"  database: {database_label(result.settings)} (not connected)")
        for key, path in result.files.items():
            click.echo(f"  {key}: {path}")
        specs = result.settings.handler_specs()
        for name, status in result.handlers.items():
            spec = BUILTIN_HANDLERS.get(specs[name], specs[name])
            note = _NOTES.get(status, "")
            click.echo(f"  handler {name}: {spec}{note}")
    if not result.ok or (strict and result.warnings):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
