"""The options klugman's commands share, and how each maps onto the API's parameters.

=====================  ===========================  ==============================
option                 API parameter                commands
=====================  ===========================  ==============================
``--state NAME``       ``state``                    streams, count streams
``--trigger NAME``     ``trigger_name``             streams, count streams
``--traits K:V;K:V``   ``distinguishing_traits``    streams, count streams
``--traits K:V;K:V``   ``traits``                   events, count events
``--older-than TIME``  ``older_than``               streams, count streams
``--younger-than T``   ``younger_than``             streams, count streams
``--event-type GLOB``  ``event_name``               events, count events
``--from TIME``        ``from_datetime`` (after)    events, count events
``--to TIME``          ``to_datetime`` (up to)      events, count events
``--limit N``          ``limit`` (page size)        streams, events
``--mark MARK``        ``mark``                     streams, events
=====================  ===========================  ==============================

``--traits`` may be repeated; the filters are joined with ``;`` (AND), as the
server splits them. A TIME is parsed here (any form
:func:`stacktach.timeutils.parse_timestamp` accepts; no offset means UTC) and
sent as ISO 8601 UTC, so a typo is a usage error before any request.
:data:`PARAMETER_OPTIONS` maps the server's parameter names back to options, so
that a 400 naming ``distinguishing_traits`` tells the user about ``--traits``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from klugman.client import MAX_LIMIT
from stacktach.exceptions import TimestampError
from stacktach.timeutils import parse_timestamp

__all__ = [
    "PARAMETER_OPTIONS",
    "STATES",
    "event_filters",
    "output_options",
    "paging_options",
    "stream_filters",
    "to_datetime",
    "traits_option",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The stream states the API knows (winchester/states.py), by name.
STATES = (
    "active",
    "firing",
    "expiring",
    "error",
    "expire_error",
    "completed",
    "retry_fire",
    "retry_expire",
)

#: The server's parameter name -> the klugman option that sets it.
PARAMETER_OPTIONS = {
    "state": "--state",
    "trigger_name": "--trigger",
    "distinguishing_traits": "--traits",
    "older_than": "--older-than",
    "younger_than": "--younger-than",
    "event_name": "--event-type",
    "from_datetime": "--from",
    "to_datetime": "--to",
    "traits": "--traits",
    "mark": "--mark",
    "limit": "--limit",
    "details": "--details",
}


def to_datetime(
    _ctx: click.Context, param: click.Parameter, value: str | None
) -> datetime | None:
    """Option callback: a point in time (ISO 8601; no offset means UTC), or None."""
    if value is None:
        return None
    try:
        return parse_timestamp(value.strip())
    except TimestampError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


_TRAITS_HELP = (
    "Trait filter NAME:VALUE or NAME:TYPE:VALUE (TYPE: text, int, float, datetime); "
    "several with ';' between them or the option repeated (all must match). "
    "For streams, their distinguishing traits."
)

stream_filters = _stack(
    click.option(
        "--state",
        type=click.Choice(STATES),
        help="Only streams in this state.",
    ),
    click.option("--trigger", metavar="NAME", help="Only streams of this trigger."),
    click.option(
        "--older-than",
        metavar="TIME",
        callback=to_datetime,
        help="Only streams whose first event is before TIME.",
    ),
    click.option(
        "--younger-than",
        metavar="TIME",
        callback=to_datetime,
        help="Only streams whose last event is after TIME.",
    ),
)

event_filters = _stack(
    click.option(
        "--event-type",
        metavar="GLOB",
        help="Only events of this type (a glob: 'compute.instance.*').",
    ),
    click.option(
        "--from",
        "from_",
        metavar="TIME",
        callback=to_datetime,
        help="Only events generated after TIME (exclusive).",
    ),
    click.option(
        "--to",
        metavar="TIME",
        callback=to_datetime,
        help="Only events generated up to TIME (inclusive).",
    ),
)

#: ``--traits``: distinguishing traits of streams, traits of events.
traits_option = click.option(
    "--traits", multiple=True, metavar="K:V;K:V", help=_TRAITS_HELP
)

paging_options = _stack(
    click.option(
        "--limit",
        type=click.IntRange(min=1),
        metavar="N",
        help=f"Rows per page (server default 200, at most api.max_limit: {MAX_LIMIT}).",
    ),
    click.option(
        "--mark",
        metavar="MARK",
        help="Start after this row's _mark (a '+' prefix pages oldest first).",
    ),
    click.option(
        "--all",
        "all_pages",
        is_flag=True,
        help="Follow every page (--limit is the page size; default the server's).",
    ),
)

output_options = _stack(
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print JSON (also accepted before the command).",
    ),
    click.option(
        "--fail-empty",
        is_flag=True,
        help="Exit with status 1 when nothing is found.",
    ),
)
