"""How klugman answers: the session of a command, JSON or tables, and failures.

* :class:`Session` - the client and the output settings the group's options made.
* :func:`api_errors` - wraps a command: an :class:`~klugman.errors.ApiError` becomes
  one line (:func:`explain`) and the exit status of its kind, through the common
  error handling of :mod:`stacktach.cli` (a :class:`click.ClickException`).
* :func:`print_rows` - a page of rows, or every page (``--all``): a table, one
  JSON document, or JSON lines as the pages arrive; ``--fail-empty``; the hint
  to the next page when a table fills the page.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from klugman.client import Client, Row
from klugman.errors import ApiError, BadRequest, Unauthorized
from klugman.options import PARAMETER_OPTIONS
from stacktach import jsonutil

__all__ = [
    "DEFAULT_LIMIT",
    "AuthFailure",
    "Failure",
    "ServerFailure",
    "Session",
    "UsageFailure",
    "api_errors",
    "echo_json",
    "explain",
    "nothing",
    "print_rows",
    "session_of",
]

F = TypeVar("F", bound=Callable[..., Any])
#: The server's default page size (API_CONTRACT.md).
DEFAULT_LIMIT = 200


class Failure(click.ClickException):
    """An error printed as ``klugman: <message>``, exit status 1."""

    exit_code = 1


class UsageFailure(Failure):
    """The server refused a parameter: exit status 2."""

    exit_code = 2


class ServerFailure(Failure):
    """The server is unreachable or failing: exit status 3."""

    exit_code = 3


class AuthFailure(Failure):
    """Unauthorized or forbidden: exit status 4."""

    exit_code = 4


FAILURES: dict[int, type[Failure]] = {
    1: Failure, 2: UsageFailure, 3: ServerFailure, 4: AuthFailure,
}  # fmt: skip


@dataclass(slots=True)
class Session:
    """What the group's options set up for the command."""

    client: Client
    as_json: bool
    width: int | None


def _option_for(description: str) -> str | None:
    """The option behind the parameter a 400's description names, if any."""
    # falcon's HTTPInvalidParam says 'The "limit" parameter is invalid.'
    quoted = re.search(r'"([a-z_]+)"', description)
    if quoted and quoted.group(1) in PARAMETER_OPTIONS:
        return PARAMETER_OPTIONS[quoted.group(1)]
    for name in sorted(PARAMETER_OPTIONS, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", description):
            return PARAMETER_OPTIONS[name]
    return None


def explain(exc: ApiError, token_given: bool) -> str:
    """The one line klugman prints for ``exc``."""
    if isinstance(exc, BadRequest):
        option = _option_for(exc.description or str(exc))
        hint = f" (see {option})" if option else ""
        return f"bad request: {exc}{hint}"
    if isinstance(exc, Unauthorized):
        what = "forbidden" if exc.status == 403 else "unauthorized"
        fix = (
            "the token given was refused"
            if token_given
            else "give the API token with --token or $STACKTACH_API_TOKEN"
        )
        return f"{what} (HTTP {exc.status}): {str(exc).rstrip('.')}; {fix}"
    if exc.status == 409:
        return f"conflict: {exc}"
    if exc.status is not None and exc.status >= 500:
        return f"server error (HTTP {exc.status}): {exc}"
    return str(exc)


def api_errors(function: F) -> F:
    """Turn the client's errors into one line and their exit status."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ApiError as exc:
            session = click.get_current_context().find_object(Session)
            token = bool(session and session.client.token)
            raise FAILURES[exc.exit_status](explain(exc, token)) from exc

    return wrapper  # type: ignore[return-value]


def session_of(ctx: click.Context, as_json: bool) -> Session:
    session = ctx.find_object(Session)
    assert session is not None  # the group always makes one
    if as_json:
        session.as_json = True
    return session


def echo_json(value: Any) -> None:
    click.echo(jsonutil.dumps(value))


def nothing(what: str, fail_empty: bool) -> None:
    if fail_empty:
        raise Failure(f"no {what} found")
    click.echo(f"(no {what})", err=True)


def print_rows(
    session: Session,
    what: str,
    fetch: Callable[..., list[Row]],
    iterate: Callable[..., Iterator[Row]],
    render: Callable[[list[Row], int | None], str],
    filters: dict[str, Any],
    limit: int | None,
    mark: str | None,
    all_pages: bool,
    fail_empty: bool,
) -> None:
    """Print one page (or every page) of a list, as a table or as JSON."""
    if all_pages:
        rows: Iterable[Row] = iterate(page_size=limit, mark=mark, **filters)
        if session.as_json:
            count = 0
            for row in rows:
                echo_json(row)
                count += 1
            if not count:
                nothing(what, fail_empty)
            return
        page = list(rows)
    else:
        page = fetch(mark=mark, limit=limit, **filters)
        if session.as_json:
            echo_json(page)
            if not page and fail_empty:
                raise Failure(f"no {what} found")
            return
    if not page:
        nothing(what, fail_empty)
        return
    click.echo(render(page, session.width))
    if (
        not all_pages
        and len(page) == (limit or DEFAULT_LIMIT)
        and page[-1].get("_mark")
    ):
        click.echo(
            f"(more {what} may follow: --mark {page[-1]['_mark']} for the next page,"
            " or --all)",
            err=True,
        )
