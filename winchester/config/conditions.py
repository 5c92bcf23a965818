"""Trait conditions of criteria, and the event accessors criteria share.

A trait condition is a constant (type-aware equality) or a single-key mapping
naming its type: ``{text: v}`` / ``{string: v}``, ``{int: "> 4096"}`` /
``{float: ...}`` (operators ``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=``; a bare
number means ``=``) or ``{datetime: "<timex>"}`` (the trait must be in the
result). :func:`build_condition` compiles one into a :class:`Condition` whose
``check(event)`` is a single closure; any other type key is a ``ConfigError``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from distiller.event import Event
from winchester import timex
from winchester.config.diagnostics import did_you_mean, fail, kind

__all__ = [
    "CONDITION_TYPES",
    "MISSING",
    "Condition",
    "build_condition",
    "compile_timex",
    "event_getter",
    "in_expression",
    "timex_variables",
]

CONDITION_TYPES = ("datetime", "float", "int", "string", "text")
#: What :func:`event_getter`'s functions return for an absent trait.
MISSING: Any = object()
_NUMBERS = frozenset((int, float))
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}
_NUMERIC = re.compile(r"\s*(>=|<=|!=|=|>|<)?\s*(\S.*?)\s*\Z", re.DOTALL)
Getter = Callable[[Event], Any]


def event_getter(name: str) -> Getter:
    """A function reading ``name`` from an event: the envelope keys, else a trait."""
    if name == "timestamp":
        return lambda event: event.timestamp
    if name == "event_type":
        return lambda event: event.event_type
    if name == "message_id":
        return lambda event: event.message_id
    return lambda event: event.traits.get(name, MISSING)


def timex_variables(event: Event, names: frozenset[str]) -> dict[str, object] | str:
    """The timex variables ``names`` from ``event``, or the name of a missing one."""
    env: dict[str, object] = {}
    for name in names:
        value = event.timestamp if name == "timestamp" else event.traits.get(name)
        if value.__class__ is not datetime:
            return name
        env[name] = value
    return env


def in_expression(value: datetime, expr: timex.Expression, event: Event) -> bool:
    """``value in expr`` with the event's datetimes; False if it cannot evaluate."""
    env = timex_variables(event, expr.variables)
    if isinstance(env, str):
        return False
    try:
        return value in expr.evaluate(env)
    except timex.TimexError:
        return False


class Condition:
    """One compiled trait condition: ``check(event)`` and a ``describe`` text."""

    __slots__ = ("check", "describe", "expression", "trait", "wanted")

    def __init__(
        self,
        trait: str,
        describe: str,
        check: Callable[[Event], bool],
        *,
        wanted: str | None = None,
        expression: timex.Expression | None = None,
    ) -> None:
        self.trait = trait
        self.describe = describe
        self.check = check
        self.wanted = wanted
        self.expression = expression

    def reason(self, event: Event) -> str | None:
        """Why ``event`` fails this condition, or None when it passes."""
        if self.check(event):
            return None
        value = event_getter(self.trait)(event)
        if value is MISSING:
            return f"no trait {self.trait!r}"
        if self.wanted == "number" and value.__class__ not in _NUMBERS:
            return f"trait {self.trait!r} is not a number"
        if self.wanted == "datetime" and value.__class__ is not datetime:
            return f"trait {self.trait!r} is not a datetime"
        if self.expression is not None:
            env = timex_variables(event, self.expression.variables)
            if isinstance(env, str):
                return f"no datetime trait {env!r} for trait {self.trait!r}"
        return f"trait {self.trait!r} fails {self.describe}"

    def __repr__(self) -> str:
        return f"Condition({self.trait!r}, {self.describe!r})"


def compile_timex(text: Any, where: dict[str, Any]) -> timex.Expression:
    """Compile a timex string; ``ConfigError`` at ``where`` (``fail`` keywords)."""
    if not isinstance(text, str):
        raise fail(f"expected a timex expression string, got {kind(text)}", **where)
    try:
        return timex.compile(text)
    except timex.TimexError as exc:
        raise fail(str(exc), **where) from None


def build_condition(
    name: Any, spec: Any, traits: Mapping[Any, Any], *, source: str, key: str
) -> Condition:
    """Compile the condition ``spec`` on trait ``name`` (an entry of ``traits``)."""
    where: dict[str, Any] = {
        "source": source,
        "key": key,
        "mapping": traits,
        "at": name,
    }
    if not isinstance(name, str) or not name:
        raise fail(f"trait name must be a string, got {kind(name)}", **where)
    get = event_getter(name)
    if not isinstance(spec, Mapping):
        constant = _constant(spec, where)
        return Condition(
            name, f"= {constant!r}", lambda event: bool(get(event) == constant)
        )
    if len(spec) != 1:
        raise fail(
            "a typed condition is a single-key mapping such as {int: '> 4096'}; "
            f"got keys {', '.join(map(str, spec)) or 'none'}",
            **where,
        )
    ctype, value = next(iter(spec.items()))
    where = {"source": source, "key": f"{key}.{ctype}", "mapping": spec, "at": ctype}
    if ctype in ("string", "text"):
        if value is None or isinstance(value, (bool, Mapping, list, date)):
            raise fail(f"expected text, got {kind(value)}", **where)
        text = str(value)
        return Condition(
            name, f"= {text!r}", lambda event: bool(get(event) == text), wanted="text"
        )
    if ctype in ("int", "float"):
        op_name, number = _numeric(value, ctype, where)
        op = _OPERATORS[op_name]

        def check_number(event: Event) -> bool:
            found = get(event)
            return found.__class__ in _NUMBERS and op(found, number)

        return Condition(name, f"{op_name} {number}", check_number, wanted="number")
    if ctype == "datetime":
        expr = compile_timex(value, where)

        def check_datetime(event: Event) -> bool:
            found = get(event)
            return found.__class__ is datetime and in_expression(found, expr, event)

        return Condition(
            name, f"in {expr.text}", check_datetime, wanted="datetime", expression=expr
        )
    raise fail(
        f"unknown condition type {ctype!r}{did_you_mean(ctype, CONDITION_TYPES)}",
        **where,
    )


def _constant(value: Any, where: dict[str, Any]) -> str | int | float | datetime:
    if isinstance(value, bool) or value is None or isinstance(value, list):
        raise fail(
            f"expected a constant (text, number or datetime) or a typed condition, "
            f"got {kind(value)}; quote it to compare as text",
            **where,
        )
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if isinstance(value, date):
        raise fail(
            f"got {kind(value)}; quote it to compare as text, or use "
            "{datetime: <timex expression>}",
            **where,
        )
    if isinstance(value, (str, int, float)):
        return value
    raise fail(f"unsupported constant {kind(value)}", **where)


def _numeric(value: Any, ctype: str, where: dict[str, Any]) -> tuple[str, int | float]:
    convert: Callable[[str], int | float] = int if ctype == "int" else float
    expected = "an integer" if ctype == "int" else "a number"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise fail(
            f"expected '<op> <number>' such as '> 4096', got {kind(value)}", **where
        )
    if not isinstance(value, str):
        if ctype == "int" and not isinstance(value, int):
            raise fail(f"expected {expected}, got {kind(value)}", **where)
        return "=", convert(str(value))
    found = _NUMERIC.match(value)
    if found is None:
        raise fail("expected '<op> <number>' such as '> 4096', got nothing", **where)
    op_name, text = found.group(1) or "=", found.group(2)
    try:
        number = convert(text)
    except ValueError:
        raise fail(
            f"expected {expected} after the operator ({', '.join(_OPERATORS)}), "
            f"got {text!r}",
            **where,
        ) from None
    if isinstance(number, float) and math.isnan(number):
        raise fail("NaN never compares equal; give a number", **where)
    return op_name, number
