"""``winchester-db``: create and migrate the winchester database; ingest files.

``upgrade``/``downgrade``/``current``/``history``/``stamp`` run alembic on the
database of ``database.url``. ``ingest FILE...`` stores JSON-lines notifications
from files or stdin (``-``) with everything ``winchester.yaml`` configures; its
rules are in :mod:`winchester.ingest_file`.

Errors follow :mod:`stacktach.cli`: a refused login or an unknown database
exits 2 with what to fix, an unreachable database 1; ``--debug`` shows the
traceback. Migrations run without read and statement timeouts (a large table's
DDL may take long); connecting is still bounded by ``connect_timeout``.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from alembic import command
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from stacktach.cli import Group, debug_requested
from stacktach.logsetup import setup_logging
from winchester.config.settings import WinchesterSettings
from winchester.storage.engine import check_url, safe_url
from winchester.storage.migrate import alembic_config
from winchester.storage.startup import database_error


def _config(ctx: click.Context, sql: bool) -> Any:
    settings = WinchesterSettings.load(ctx.obj["config"])
    url = settings.database.url
    if not sql:
        check_url(url)
        click.echo(f"database: {safe_url(url)}", err=True)
    return alembic_config(url, winchester_config=ctx.obj["config"])


def _run(action: Any, config: Any, *args: Any, **kwargs: Any) -> None:
    try:
        action(config, *args, **kwargs)
    except CommandError as exc:
        click.echo(f"winchester-db: {exc}", err=True)
        sys.exit(1)
    except DBAPIError as exc:
        source = config.attributes["winchester_config"]
        url = config.get_main_option("sqlalchemy.url")
        raise database_error(exc, url, source) from exc


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    default="winchester.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="winchester.yaml; database.url names the database.",
)
@click.pass_context
def main(ctx: click.Context, config: str) -> None:
    """Create, upgrade and inspect the winchester database schema.

    Typical use: ``winchester-db -c winchester.yaml upgrade`` (to the newest
    schema), or ``upgrade --sql`` to print the DDL for a DBA instead of running it.
    ``winchester-db -c winchester.yaml ingest FILE...`` stores notifications.
    """
    setup_logging(level="INFO", fmt="%(message)s", debug=debug_requested(ctx))
    ctx.obj = {"config": config}


@main.command()
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_context
def upgrade(ctx: click.Context, revision: str, sql: bool) -> None:
    """Upgrade the schema to REVISION (default: head, the newest)."""
    _run(command.upgrade, _config(ctx, sql), revision, sql=sql)


@main.command()
@click.argument("revision")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_context
def downgrade(ctx: click.Context, revision: str, sql: bool) -> None:
    """Downgrade the schema to REVISION (``base``: drop everything)."""
    if sql:
        revision = revision if ":" in revision else f"head:{revision}"
    _run(command.downgrade, _config(ctx, sql), revision, sql=sql)


@main.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Show the revision the database is at."""
    _run(command.current, _config(ctx, False), verbose=True)


@main.command()
@click.pass_context
def history(ctx: click.Context) -> None:
    """List the schema revisions."""
    _run(command.history, _config(ctx, False), verbose=True)


@main.command()
@click.argument("revision")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_context
def stamp(ctx: click.Context, revision: str, sql: bool) -> None:
    """Record REVISION as current without running migrations."""
    _run(command.stamp, _config(ctx, sql), revision, sql=sql)


@main.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True)
)
@click.option(
    "--batch",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="Notifications per transaction.",
)
@click.option(
    "--max-wait",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a pipe may stay quiet before a partial batch is stored.",
)
@click.pass_context
def ingest(
    ctx: click.Context, files: tuple[str, ...], batch: int, max_wait: float
) -> None:
    """Distil and store the JSON-lines notifications of FILES (``-``: stdin).

    Uses everything winchester.yaml configures (distiller, trait plugins,
    catch-all, Ceilometer mode, triggers, clock). Streams the input in batches;
    names each rejected line as FILE:LINE: reason on stderr; shows progress on
    a terminal; prints a one-line summary. Exit status 1 when any line was
    rejected or the database is unavailable, 2 for a bad configuration.
    """
    from winchester.ingest_file import run_ingest  # noqa: PLC0415 - distiller etc.

    sys.exit(run_ingest(ctx.obj["config"], files, batch_size=batch, max_wait=max_wait))


if __name__ == "__main__":  # pragma: no cover
    main()
