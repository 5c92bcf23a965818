"""The timex parser: tokens to a typed syntax tree (recursive descent).

Every node knows statically whether it yields a timestamp or a range (and, for
ranges made by ``hour()``/``day()``/``month()``/``year()``, the pinned unit), so
mistakes the original only found while evaluating - or never - are syntax errors
here: a range where a timestamp is needed, a bare number on a timestamp, an
unknown function or unit, a repeated unit, ``@`` with a value out of range.
"""

from __future__ import annotations

from winchester.timex.durations import UNIT_NAMES, Duration
from winchester.timex.errors import TimexSyntaxError
from winchester.timex.lexer import Token, tokenize
from winchester.timex.periods import RANGE_UNITS, bare_unit_for_range

__all__ = ["Node", "Operation", "RangeFunction", "Span", "Variable", "parse"]

TIMESTAMP = "timestamp"
RANGE = "range"
_UNIT_LIST = "us, s, sec, m, min, h, hr, d, mo, y, yr"
_MAX_DEPTH = 50  # parentheses and function calls; deeper would risk RecursionError


class Node:
    """A syntax-tree node: ``kind`` is ``"timestamp"`` or ``"range"``.

    ``pinned`` is the unit of a pinned range, else None; ``position`` is the offset
    where the node starts in the expression.
    """

    __slots__ = ("kind", "pinned", "position")

    def __init__(self, kind: str, pinned: str | None, position: int) -> None:
        self.kind = kind
        self.pinned = pinned
        self.position = position


class Variable(Node):
    """``$name``: a timestamp."""

    __slots__ = ("name",)

    def __init__(self, name: str, position: int) -> None:
        super().__init__(TIMESTAMP, None, position)
        self.name = name


class RangeFunction(Node):
    """``day`` or ``day(<timestamp>)``: a range pinned to the argument."""

    __slots__ = ("argument",)

    def __init__(self, unit: str, argument: Node, position: int) -> None:
        super().__init__(RANGE, unit, position)
        self.argument = argument


class Span(Node):
    """``<timestamp> to <timestamp>``: a plain range."""

    __slots__ = ("begin", "end")

    def __init__(self, begin: Node, end: Node, position: int) -> None:
        super().__init__(RANGE, None, position)
        self.begin = begin
        self.end = end


class Operation(Node):
    """``<operand> + - @ <duration>``: the operand's kind."""

    __slots__ = ("duration", "operand", "operator")

    def __init__(self, operator: str, operand: Node, duration: Duration) -> None:
        super().__init__(operand.kind, operand.pinned, operand.position)
        self.operator = operator
        self.operand = operand
        self.duration = duration


def parse(text: str) -> tuple[Node, frozenset[str]]:
    """Parse ``text``; return the tree and the names of the variables it reads.

    Raises :class:`TimexSyntaxError`.
    """
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.variables: set[str] = set()

    # -- helpers ---------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, reason: str, position: int) -> TimexSyntaxError:
        return TimexSyntaxError(reason, self.text, position)

    def unexpected(self, token: Token, wanted: str) -> TimexSyntaxError:
        if token.kind == "end":
            found = "end of expression"
        elif token.kind == "var":
            found = repr("$" + token.text)
        else:
            found = repr(token.text)
        return self.error(f"expected {wanted}, found {found}", token.position)

    def is_to(self, token: Token) -> bool:
        return token.kind == "name" and token.text == "to"

    # -- grammar ---------------------------------------------------------------

    def parse(self) -> tuple[Node, frozenset[str]]:
        if self.peek().kind == "end":
            raise self.error("empty expression", 0)
        node = self.expression()
        token = self.peek()
        if token.kind != "end":
            wanted = "'+', '-', '@', 'to' or the end"
            if token.kind == ")":
                wanted = "the end (unbalanced ')')"
            elif node.kind == RANGE and self.is_to(token):
                wanted = "the end ('to' needs timestamps on both sides)"
            raise self.unexpected(token, wanted)
        return node, frozenset(self.variables)

    def expression(self) -> Node:
        """expression := additive ['to' additive]"""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("expression nested too deeply", self.peek().position)
        try:
            return self.span()
        finally:
            self.depth -= 1

    def span(self) -> Node:
        left = self.additive()
        token = self.peek()
        if not self.is_to(token):
            return left
        self.advance()
        right = self.additive()
        for side, operand in (("left", left), ("right", right)):
            if operand.kind != TIMESTAMP:
                raise self.error(
                    f"the {side} side of 'to' must be a timestamp, not a range",
                    operand.position,
                )
        return Span(left, right, left.position)

    def additive(self) -> Node:
        """additive := primary { ('+' | '-' | '@') duration }"""
        node = self.primary()
        while self.peek().kind in ("+", "-", "@"):
            operator = self.advance()
            start = self.peek().position
            duration, bare_position = self.duration(operator)
            if duration.ambiguous and node.kind == TIMESTAMP:
                raise self.error(
                    f"the bare number {duration.unknown} needs a unit: only a "
                    f"range gives bare numbers one (e.g. write '{duration.unknown}h')",
                    bare_position,
                )
            if operator.kind == "@":
                checked = duration
                if node.pinned is not None:
                    checked = duration.resolve(bare_unit_for_range(node.pinned))
                problem = checked.replace_problem
                if problem is not None:
                    raise self.error(problem, start)
            node = Operation(operator.kind, node, duration)
        return node

    def primary(self) -> Node:
        """primary := VAR | FUNCTION ['(' expression ')'] | '(' expression ')'"""
        token = self.advance()
        if token.kind == "var":
            self.variables.add(token.text)
            return Variable(token.text, token.position)
        if token.kind == "(":
            node = self.expression()
            closing = self.advance()
            if closing.kind != ")":
                raise self.unexpected(closing, "')'")
            return node
        if token.kind == "name" and token.text in RANGE_UNITS:
            return self.range_function(token)
        if token.kind == "name" and token.text in UNIT_NAMES:
            raise self.error(
                f"unit {token.text!r} without a number before it", token.position
            )
        if token.kind == "name" and not self.is_to(token):
            raise self.error(
                f"unknown function {token.text!r} (functions: hour, day, month, "
                "year; variables start with '$')",
                token.position,
            )
        if token.kind == "number":
            raise self.error("a duration must follow '+', '-' or '@'", token.position)
        raise self.unexpected(token, "a '$variable', a function or '('")

    def range_function(self, name: Token) -> Node:
        if self.peek().kind != "(":
            self.variables.add("timestamp")
            return RangeFunction(
                name.text, Variable("timestamp", name.position), name.position
            )
        self.advance()
        argument = self.expression()
        if argument.kind != TIMESTAMP:
            raise self.error(
                f"the argument of {name.text}() must be a timestamp, not a range",
                argument.position,
            )
        closing = self.advance()
        if closing.kind != ")":
            raise self.unexpected(closing, "')'")
        return RangeFunction(name.text, argument, name.position)

    def duration(self, operator: Token) -> tuple[Duration, int]:
        """duration := NUMBER [UNIT] { NUMBER [UNIT] }

        Returns the duration and the offset of its bare number (or -1).
        """
        fields: dict[str, int] = {}
        bare_position = -1
        start = self.peek().position
        while self.peek().kind == "number":
            number = self.advance()
            unit_token = self.peek()
            if unit_token.kind == "name" and not self.is_to(unit_token):
                unit = UNIT_NAMES.get(unit_token.text)
                if unit is None:
                    raise self.error(
                        f"unknown unit {unit_token.text!r} (units: {_UNIT_LIST}; "
                        "separate chained durations with spaces, e.g. '1d 2h')",
                        unit_token.position,
                    )
                self.advance()
                if unit in fields:
                    raise self.error(
                        f"the duration gives {unit}s twice", number.position
                    )
                fields[unit] = int(number.text)
            else:
                if bare_position >= 0:
                    raise self.error(
                        "the duration has two bare numbers", number.position
                    )
                bare_position = number.position
                fields["unknown"] = int(number.text)
        if not fields:
            raise self.unexpected(
                self.peek(), f"a duration after '{operator.text}' (e.g. '1h')"
            )
        try:
            return Duration(**fields), bare_position
        except ValueError as exc:
            raise self.error(str(exc), start) from None
