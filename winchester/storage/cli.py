"""``winchester-db``: create and migrate the winchester database (alembic).

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


if __name__ == "__main__":  # pragma: no cover
    main()
