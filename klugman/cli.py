"""The ``klugman`` command: look at StackTach's events and streams through quince.

::

    klugman [--url URL] [--token T] [--timeout S] [--json] [--debug] COMMAND
      streams [FILTERS] [PAGING]      stream ID [--details]
      events [FILTERS] [PAGING]       event MESSAGE_ID
      count {streams,events} [FILTERS]
      event-types    traits EVENT_TYPE    triggers    archives    health
      reset ID       delete ID
      watch [--event-type GLOB] [--traits K:V] [--deployment D] [--streams]

``--url`` defaults to ``$STACKTACH_URL``, else ``http://127.0.0.1:8000``;
``--token`` to ``$STACKTACH_API_TOKEN``. The filters and their API parameters are
listed in :mod:`klugman.options`. Tables for people (:mod:`klugman.views`);
``--json`` prints one JSON document in the typed encoding (what the
:class:`~klugman.client.Client` method returns: a list, an object, ``{"count": N}``),
or with ``--all`` one JSON line per row as the pages arrive.

Exit status (one line on stderr, no traceback, via :mod:`stacktach.cli`):

== ==================================================================
0  done
1  not found (404), nothing found with ``--fail-empty``, a reset the
   stream's state refuses (409)
2  usage error: a bad option here, or a parameter the server refused
   (400, its description printed, with the option that set it)
3  the server is unreachable, answered 5xx or not with the API's JSON;
   ``health`` when the server reports a component down (503)
4  unauthorized or forbidden (401/403): give or fix the token
== ==================================================================
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from klugman import views
from klugman.client import DEFAULT_URL, Client, Row
from klugman.options import (
    event_filters,
    output_options,
    paging_options,
    stream_filters,
    traits_option,
)
from klugman.output import (
    Failure,
    ServerFailure,
    Session,
    api_errors,
    echo_json,
    nothing,
    print_rows,
    session_of,
)
from klugman.tables import terminal_width
from klugman.watch import watch
from stacktach import jsonutil
from stacktach.cli import Group, debug_requested

__all__ = ["main"]


def _log_requests() -> None:
    """``--debug``: each request and its answer on stderr (never the token)."""
    log = logging.getLogger("klugman")
    for handler in list(log.handlers):
        if getattr(handler, "klugman_debug", False):  # an earlier run in-process
            log.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("klugman: %(message)s"))
    handler.klugman_debug = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)


def _traits(values: tuple[str, ...]) -> str | None:
    return ";".join(values) if values else None


@click.group(
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit status: 0 ok, 1 not found, 2 usage error or a parameter the "
    "server refused, 3 server unreachable or failing, 4 unauthorized.",
)
@click.option(
    "--url",
    envvar="STACKTACH_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The API's base URL (default: $STACKTACH_URL, else this).",
)
@click.option(
    "--token",
    envvar="STACKTACH_API_TOKEN",
    help="API token sent as a bearer token (default: $STACKTACH_API_TOKEN).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the server.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def main(
    ctx: click.Context, url: str, token: str | None, timeout: float, as_json: bool
) -> None:
    """Query and manage StackTach's events and streams through its REST API."""
    if debug_requested(ctx):
        _log_requests()
    try:
        client = Client(url, token=token, timeout=timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None
    ctx.obj = Session(client, as_json, terminal_width())


@main.command()
@stream_filters
@traits_option
@paging_options
@output_options
@click.pass_context
@api_errors
def streams(
    ctx: click.Context,
    state: str | None,
    trigger: str | None,
    traits: tuple[str, ...],
    older_than: datetime | None,
    younger_than: datetime | None,
    limit: int | None,
    mark: str | None,
    all_pages: bool,
    as_json: bool,
    fail_empty: bool,
) -> None:
    """List streams, newest first."""
    session = session_of(ctx, as_json)
    filters = {
        "state": state,
        "trigger_name": trigger,
        "distinguishing_traits": _traits(traits),
        "older_than": older_than,
        "younger_than": younger_than,
    }
    client = session.client
    print_rows(
        session, "streams", client.streams, client.iter_streams, views.stream_table,
        filters, limit, mark, all_pages, fail_empty,
    )  # fmt: skip


@main.command()
@click.argument("stream_id", metavar="ID", type=int)
@click.option("--details", is_flag=True, help="Also show the stream's events.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@api_errors
def stream(ctx: click.Context, stream_id: int, details: bool, as_json: bool) -> None:
    """Show one stream (with --details, its events too)."""
    session = session_of(ctx, as_json)
    found = session.client.stream(stream_id, details=details)
    if session.as_json:
        echo_json(found)
    else:
        click.echo(views.stream_detail(found, session.width))


@main.command()
@event_filters
@traits_option
@paging_options
@output_options
@click.pass_context
@api_errors
def events(
    ctx: click.Context,
    event_type: str | None,
    from_: datetime | None,
    to: datetime | None,
    traits: tuple[str, ...],
    limit: int | None,
    mark: str | None,
    all_pages: bool,
    as_json: bool,
    fail_empty: bool,
) -> None:
    """List events, newest first."""
    session = session_of(ctx, as_json)
    filters = {
        "event_name": event_type,
        "from_datetime": from_,
        "to_datetime": to,
        "traits": _traits(traits),
    }
    client = session.client
    print_rows(
        session, "events", client.events, client.iter_events, views.event_table,
        filters, limit, mark, all_pages, fail_empty,
    )  # fmt: skip


@main.command()
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@api_errors
def event(ctx: click.Context, message_id: str, as_json: bool) -> None:
    """Show one event by its message id."""
    session = session_of(ctx, as_json)
    found = session.client.event(message_id)
    if session.as_json:
        echo_json(found)
    else:
        click.echo(views.event_detail(found, session.width))


@main.command()
@click.argument("what", type=click.Choice(["streams", "events"]))
@stream_filters
@event_filters
@traits_option
@output_options
@click.pass_context
@api_errors
def count(
    ctx: click.Context, /, what: str, as_json: bool, fail_empty: bool, **kw: Any
) -> None:
    """Count the streams or events that match the filters."""
    session = session_of(ctx, as_json)
    own = (
        ("state", "trigger", "older_than", "younger_than")
        if what == "streams"
        else ("event_type", "from_", "to")
    )
    other = {
        "state",
        "trigger",
        "older_than",
        "younger_than",
        "event_type",
        "from_",
        "to",
    }
    for name in sorted(other - set(own)):
        if kw.get(name) is not None:
            option = "--from" if name == "from_" else "--" + name.replace("_", "-")
            raise click.UsageError(f"{option} does not apply to 'count {what}'")
    traits = _traits(kw["traits"])
    if what == "streams":
        number = session.client.count_streams(
            state=kw["state"],
            trigger_name=kw["trigger"],
            distinguishing_traits=traits,
            older_than=kw["older_than"],
            younger_than=kw["younger_than"],
        )
    else:
        number = session.client.count_events(
            event_name=kw["event_type"],
            from_datetime=kw["from_"],
            to_datetime=kw["to"],
            traits=traits,
        )
    click.echo(jsonutil.dumps({"count": number}) if session.as_json else str(number))
    if not number and fail_empty:
        raise Failure(f"no {what} found")


def _listing(
    name: str,
    what: str,
    fetch: Callable[[Client], list[Row]],
    render: Callable[[list[Row], int | None], str],
    doc: str,
) -> None:
    @main.command(name=name, help=doc)
    @output_options
    @click.pass_context
    @api_errors
    def command(ctx: click.Context, as_json: bool, fail_empty: bool) -> None:
        session = session_of(ctx, as_json)
        rows = fetch(session.client)
        if session.as_json:
            echo_json(rows)
        elif rows:
            click.echo(render(rows, session.width))
        if not rows:
            if session.as_json and not fail_empty:
                return
            nothing(what, fail_empty)


_listing(
    "event-types", "event types", Client.event_types, views.event_type_table,
    "List the event types stored, with counts and first/last seen.",
)  # fmt: skip
_listing(
    "triggers", "triggers", Client.triggers, views.trigger_table,
    "List the trigger definitions and their counters.",
)  # fmt: skip
_listing(
    "archives", "archives", Client.archives, views.archive_table,
    "List the shoebox archive files (sizes, records, time spans).",
)  # fmt: skip


@main.command()
@click.argument("event_type")
@output_options
@click.pass_context
@api_errors
def traits(
    ctx: click.Context, event_type: str, as_json: bool, fail_empty: bool
) -> None:
    """List the traits (names and types) seen for EVENT_TYPE."""
    session = session_of(ctx, as_json)
    rows = session.client.event_type_traits(event_type)
    if session.as_json:
        echo_json(rows)
    elif rows:
        click.echo(views.trait_table(rows, session.width))
    if not rows and (fail_empty or not session.as_json):
        nothing(f"traits for {event_type}", fail_empty)


@main.command()
@click.argument("stream_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@api_errors
def reset(ctx: click.Context, stream_id: int, as_json: bool) -> None:
    """Reset a failed stream: error -> retry_fire, expire_error -> retry_expire."""
    session = session_of(ctx, as_json)
    after = session.client.reset_stream(stream_id)
    if session.as_json:
        echo_json(after)
    else:
        click.echo(f"stream {stream_id} reset: now {after.get('state', '?')}")


@main.command()
@click.argument("stream_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@api_errors
def delete(ctx: click.Context, stream_id: int, as_json: bool) -> None:
    """Delete a stream (its events are kept)."""
    session = session_of(ctx, as_json)
    session.client.delete_stream(stream_id)
    if session.as_json:
        echo_json({"id": stream_id, "deleted": True})
    else:
        click.echo(f"stream {stream_id} deleted")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@api_errors
def health(ctx: click.Context, as_json: bool) -> None:
    """Check the API, its database and its broker (exit 3 when one is down)."""
    session = session_of(ctx, as_json)
    report = session.client.health()
    if session.as_json:
        echo_json(report)
    else:
        click.echo(views.health_detail(report, session.width))
    if report.get("status") != "ok":
        down = [
            f"{k}: {v}"
            for k, v in report.items()
            if k != "status" and v not in ("ok", "not configured")
        ]
        raise ServerFailure(f"unhealthy: {'; '.join(down) or report.get('status')}")


main.add_command(watch)
