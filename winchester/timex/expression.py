"""Compiled expressions: the syntax tree turned into closures, once.

:func:`compile` parses the text a single time and builds one closure per node;
calling the :class:`Expression` only runs those closures (a few microseconds),
never the parser. Timestamp nodes pass plain datetimes between them; the result
is wrapped in a :class:`~winchester.timex.values.Timestamp` at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from winchester.timex.errors import TimexError, TimexEvaluationError
from winchester.timex.parser import (
    TIMESTAMP,
    Node,
    Operation,
    RangeFunction,
    Span,
    Variable,
    parse,
)
from winchester.timex.values import (
    TimeRange,
    Timestamp,
    as_utc,
    new_range,
    new_timestamp,
    period_function,
)

__all__ = ["Expression", "compile"]

_Env = Mapping[str, object]
_TimestampFn = Callable[[_Env], datetime]
_RangeFn = Callable[[_Env], TimeRange]


class Expression:
    """A compiled timex expression; call it with the variables as datetimes.

    ``text`` is the source, ``variables`` the names it reads (``$timestamp`` for a
    bare ``day``), ``is_range`` whether it yields a range rather than a timestamp.
    """

    __slots__ = ("_evaluate", "is_range", "text", "variables")

    text: str
    variables: frozenset[str]
    is_range: bool

    def __init__(self, text: str) -> None:
        node, variables = parse(text)
        self.text = text
        self.variables = variables
        self.is_range = node.kind != TIMESTAMP
        self._evaluate: Callable[[_Env], Timestamp | TimeRange]
        if self.is_range:
            self._evaluate = _range_fn(node, text)
        else:
            timestamp = _timestamp_fn(node, text)
            self._evaluate = lambda env: new_timestamp(timestamp(env))

    def __call__(self, **variables: datetime) -> Timestamp | TimeRange:
        """Evaluate with keyword variables; see :meth:`evaluate`."""
        return self.evaluate(variables)

    def evaluate(self, variables: Mapping[str, object]) -> Timestamp | TimeRange:
        """Evaluate with ``variables`` (name -> datetime; extra names are ignored).

        Raises :class:`TimexEvaluationError` for a missing or non-datetime variable,
        an ``@`` value out of range, or a result outside years 1 to 9999.
        """
        try:
            return self._evaluate(variables)
        except TimexError:
            raise
        except (OverflowError, ValueError) as exc:
            raise TimexEvaluationError(
                f"{exc} evaluating timex expression {self.text!r}"
            ) from exc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Closures do not pickle; the text recompiles to the same expression.
        return (Expression, (self.text,))


def compile(text: str) -> Expression:
    """Parse ``text`` once into a reusable :class:`Expression`.

    Raises :class:`TimexSyntaxError` (showing the position) when it is not valid,
    and ``TypeError`` when it is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"a timex expression must be a string, got {text!r}")
    return Expression(text)


def _variable(name: str, text: str) -> _TimestampFn:
    def variable(env: _Env) -> datetime:
        try:
            value = env[name]
        except KeyError:
            raise TimexEvaluationError(
                f"undefined variable ${name} in timex expression {text!r}"
            ) from None
        if type(value) is datetime and value.tzinfo is UTC:
            return value
        if not isinstance(value, datetime):
            raise TimexEvaluationError(
                f"variable ${name} must be a datetime, got "
                f"{type(value).__name__} {value!r} (timex expression {text!r})"
            )
        return as_utc(value)

    return variable


def _timestamp_fn(node: Node, text: str) -> _TimestampFn:
    if isinstance(node, Variable):
        return _variable(node.name, text)
    if isinstance(node, Operation):
        operand = _timestamp_fn(node.operand, text)
        duration = node.duration
        if node.operator == "+":
            apply = duration.add_to
        elif node.operator == "-":
            apply = duration.subtract_from
        else:
            apply = duration.replace_in
        return lambda env: apply(operand(env))
    raise AssertionError(f"not a timestamp node: {node!r}")


def _range_fn(node: Node, text: str) -> _RangeFn:
    if isinstance(node, Span):
        begin = _timestamp_fn(node.begin, text)
        end = _timestamp_fn(node.end, text)
        return lambda env: new_range(begin(env), end(env))
    if isinstance(node, RangeFunction):
        argument = _timestamp_fn(node.argument, text)
        period = period_function(node.pinned or "")
        return lambda env: period(argument(env))
    if isinstance(node, Operation):
        operand = _range_fn(node.operand, text)
        duration = node.duration
        if node.operator == "+":
            return lambda env: operand(env) + duration
        if node.operator == "-":
            return lambda env: operand(env) - duration
        return lambda env: operand(env).replace(duration)
    raise AssertionError(f"not a range node: {node!r}")
