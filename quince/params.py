"""Query parameters: each bad value is falcon's ``HTTPInvalidParam`` naming it.

* datetimes: ISO 8601 (:func:`stacktach.timeutils.parse_timestamp`; no zone is UTC)
* ``state``: a stream state name (``active``, ``error``, ...)
* ``limit``: an integer from 0 to the configured maximum (default 200)
* ``mark``: a row's ``_mark``: hex id, ``+`` prefix for ascending (``-`` or none:
  descending)
* ``traits`` / ``distinguishing_traits``: ``name:value;name:value`` (AND). A value
  is typed: ``memory_mb:512`` matches the int 512, the float 512.0 and the text
  "512"; a datetime value matches a datetime trait (and that text). An explicit
  type forces one reading: ``name:int:512``, ``name:float:0.5``,
  ``name:text:512``, ``name:datetime:2026-12-01T00:00:00Z``.

Any parameter holding a NUL character is refused (no database takes one).
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime
from typing import Any

import falcon

from stacktach.timeutils import parse_timestamp
from winchester.states import StreamState
from winchester.storage.queries import MAX_ID, Mark, TraitFilter
from winchester.storage.values import readings

__all__ = [
    "DEFAULT_LIMIT",
    "TRAIT_TYPES",
    "get_datetime",
    "get_limit",
    "get_mark",
    "get_state",
    "get_text",
    "get_traits",
    "parse_traits",
]

DEFAULT_LIMIT = 200
TRAIT_TYPES = ("text", "int", "float", "datetime")
STATE_NAMES = tuple(state.name.lower() for state in StreamState)


def invalid(name: str, why: str) -> falcon.HTTPInvalidParam:
    """The 400 for parameter ``name``."""
    return falcon.HTTPInvalidParam(why, name)


def get_text(req: falcon.Request, name: str) -> str | None:
    """A plain text parameter (None when absent or empty)."""
    value = req.get_param(name)
    if value is None or value == "":
        return None
    if "\x00" in value:
        raise invalid(name, "The value holds a NUL character.")
    return str(value)


def _timestamp(text: str) -> datetime:
    if "\x00" in text:
        raise ValueError("NUL character")
    return parse_timestamp(text)


def get_datetime(req: falcon.Request, name: str) -> datetime | None:
    """An ISO 8601 datetime parameter."""
    value = get_text(req, name)
    if value is None:
        return None
    try:
        return _timestamp(value)
    except Exception:  # parse errors, overflow of far-off years
        raise invalid(
            name,
            f"Expected an ISO 8601 datetime such as 2026-12-01T00:00:00Z, "
            f"got {value[:64]!r}.",
        ) from None


def get_state(req: falcon.Request) -> StreamState | None:
    """The ``state`` parameter: a state name."""
    value = get_text(req, "state")
    if value is None:
        return None
    if value.lower() not in STATE_NAMES:
        raise invalid("state", f"Expected one of {', '.join(STATE_NAMES)}.")
    return StreamState[value.upper()]


def get_limit(req: falcon.Request, maximum: int) -> int:
    """The ``limit`` parameter: 0 to ``maximum``, default 200 (or the maximum)."""
    limit = req.get_param_as_int("limit", min_value=0, max_value=maximum)
    return min(DEFAULT_LIMIT, maximum) if limit is None else limit


def get_mark(req: falcon.Request) -> Mark | None:
    """The ``mark`` parameter: ``[+|-]<hex id>``."""
    value = get_text(req, "mark")
    if value is None:
        return None
    # An unescaped "+" in a query string arrives as a space: take it as "+".
    ascending = value[:1] in ("+", " ")
    digits = value[1:] if value[:1] in ("+", "-", " ") else value
    try:
        if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError(digits)
        number = int(digits, 16)
    except ValueError:
        raise invalid(
            "mark", "Expected a row's _mark: a hex id, '+' before it for ascending."
        ) from None
    return Mark(min(number, MAX_ID), ascending)


def _typed(kind: str, text: str) -> Any:
    if kind == "text":
        return text
    if kind == "int":
        return int(text)
    if kind == "float":
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    return _timestamp(text)


def parse_traits(text: str) -> tuple[TraitFilter, ...]:
    """``name:value;name:type:value`` -> filters; ``ValueError`` saying what is
    wrong."""
    filters = []
    for item in text.split(";"):
        if not item.strip():
            continue
        name, sep, rest = item.partition(":")
        if not sep or not name:
            raise ValueError(f"{item[:64]!r} is not name:value")
        kind, sep, typed = rest.partition(":")
        if sep and kind in TRAIT_TYPES:
            try:
                value = _typed(kind, typed)
            except Exception:
                raise ValueError(f"{typed[:64]!r} is not a {kind}") from None
            filters.append(TraitFilter(name, (value,)))
        else:
            values: list[Any] = [rest]
            with contextlib.suppress(Exception):
                values = readings(rest)
            filters.append(TraitFilter(name, tuple(values)))
    return tuple(filters)


def get_traits(req: falcon.Request, name: str) -> tuple[TraitFilter, ...]:
    """A ``name:value;...`` filter parameter."""
    value = get_text(req, name)
    if value is None:
        return ()
    try:
        return parse_traits(value)
    except ValueError as exc:
        raise invalid(
            name,
            f"Expected name:value or name:type:value (type: {', '.join(TRAIT_TYPES)})"
            f", separated by ';': {exc}.",
        ) from None
