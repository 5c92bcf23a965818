"""Errors: syntax errors name the problem and point at it; evaluation errors name
the variable. Both are TimexError, a ValueError."""

from datetime import UTC, datetime

import pytest

from stacktach.exceptions import StackTachError
from winchester import timex
from winchester.timex import TimexError, TimexEvaluationError, TimexSyntaxError

# (expression, 0-based offset of the problem, part of the reason)
SYNTAX_ERRORS = [
    ("", 0, "empty expression"),
    ("   ", 0, "empty expression"),
    ("$", 0, "expected a variable name right after '$'"),
    ("$ last", 0, "expected a variable name right after '$'"),
    (
        "$last + ",
        8,
        "expected a duration after '+' (e.g. '1h'), found end of expression",
    ),
    ("$a + 1d @", 9, "expected a duration after '@'"),
    ("$a + -1d", 5, "expected a duration after '+' (e.g. '1h'), found '-'"),
    ("$last + 1h)", 10, "unbalanced ')'"),
    ("($last + 1h", 11, "expected ')', found end of expression"),
    ("day($a", 6, "expected ')', found end of expression"),
    ("day(", 4, "found end of expression"),
    ("day()", 4, "expected a '$variable', a function or '(', found ')'"),
    ("()", 1, "found ')'"),
    ("$a to", 5, "found end of expression"),
    ("to", 0, "found 'to'"),
    ("$a $b", 3, "expected '+', '-', '@', 'to' or the end, found '$b'"),
    (
        "$last + 1x",
        9,
        "unknown unit 'x' (units: us, s, sec, m, min, h, hr, d, mo, y, yr",
    ),
    ("$last + 1d2h", 9, "unknown unit 'd2h'"),
    ("$a + 1D", 6, "unknown unit 'D'"),
    ("$a + 1 week", 7, "unknown unit 'week'"),
    ("$a + 1.5h", 6, "unexpected character '.'"),
    ("$a # 1d", 3, "unexpected character '#'"),
    (
        "$last + 2",
        8,
        "the bare number 2 needs a unit: only a range gives bare numbers one",
    ),
    ("$last - 1d 3", 11, "the bare number 3 needs a unit"),
    ("$last + 1h 2h", 11, "the duration gives hours twice"),
    ("$last + 1h 60m 1hr", 15, "the duration gives hours twice"),
    ("day + 1 2", 8, "the duration has two bare numbers"),
    ("$a + 99999999999d", 5, "duration '99999999999d' is too large"),
    ("1d", 0, "a duration must follow '+', '-' or '@'"),
    ("d", 0, "unit 'd' without a number before it"),
    ("week", 0, "unknown function 'week' (functions: hour, day, month, year"),
    ("week($a)", 0, "unknown function 'week'"),
    ("Day", 0, "unknown function 'Day'"),
    ("day to $a", 0, "the left side of 'to' must be a timestamp, not a range"),
    ("(day + 1h) to $b", 1, "the left side of 'to' must be a timestamp"),
    ("$a to day", 6, "the right side of 'to' must be a timestamp, not a range"),
    ("$a + 1d to day", 11, "the right side of 'to' must be a timestamp"),
    ("$a to $b to $c", 9, "'to' needs timestamps on both sides"),
    ("day(day)", 4, "the argument of day() must be a timestamp, not a range"),
    ("day($a to $b)", 4, "the argument of day() must be a timestamp"),
    ("$a @ 24h", 5, "@ cannot set hour to 24 (allowed: 0 to 23)"),
    ("$a @ 13mo", 5, "@ cannot set month to 13 (allowed: 1 to 12)"),
    ("$a @ 0d", 5, "@ cannot set day to 0 (allowed: 1 to 31)"),
    ("$a @ 32d", 5, "@ cannot set day to 32"),
    ("$a @ 0y", 5, "@ cannot set year to 0 (allowed: 1 to 9999)"),
    ("$a @ 60m", 5, "@ cannot set minute to 60"),
    ("$a @ 60s", 5, "@ cannot set second to 60"),
    ("$a @ 1000000us", 5, "@ cannot set microsecond to 1000000"),
    # bare numbers on pinned ranges have a known unit: checked at compile time too
    ("day @ 24", 6, "@ cannot set hour to 24"),
    ("hour @ 60", 7, "@ cannot set minute to 60"),
    ("month @ 32", 8, "@ cannot set day to 32"),
    ("year @ 13", 7, "@ cannot set month to 13"),
    ("(" * 60 + "$a" + ")" * 60, 50, "expression nested too deeply"),
]


@pytest.mark.parametrize(("text", "position", "reason"), SYNTAX_ERRORS)
def test_syntax_errors(text: str, position: int, reason: str) -> None:
    with pytest.raises(TimexSyntaxError) as caught:
        timex.compile(text)
    error = caught.value
    assert reason in error.reason
    assert error.position == position
    assert error.text == text
    assert str(error).startswith(error.reason)


def test_syntax_error_message_shows_a_caret() -> None:
    with pytest.raises(TimexSyntaxError) as caught:
        timex.compile("$last + 1h 2h")
    assert str(caught.value) == (
        "the duration gives hours twice at column 12 of timex expression:\n"
        "    $last + 1h 2h\n"
        "               ^"
    )


def test_syntax_error_in_a_multi_line_expression_names_the_line() -> None:
    with pytest.raises(TimexSyntaxError) as caught:
        timex.compile("$a +\n  1x")
    assert str(caught.value).endswith(
        "at line 2, column 4 of timex expression:\n      1x\n       ^"
    )


def test_compile_needs_a_string() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        timex.compile(None)  # type: ignore[arg-type]


T = datetime(2014, 8, 1, tzinfo=UTC)

# (expression, variables, part of the message)
EVALUATION_ERRORS: list[tuple[str, dict[str, object], str]] = [
    ("$last + 1h", {}, "undefined variable $last in timex expression '$last + 1h'"),
    ("$first to $last", {"first": T}, "undefined variable $last"),
    # no implicit $timestamp = utcnow(): the caller passes its clock's time
    ("day", {}, "undefined variable $timestamp in timex expression 'day'"),
    (
        "$last + 1h",
        {"last": "2014-08-01"},
        "variable $last must be a datetime, got str",
    ),
    ("$last + 1h", {"last": None}, "variable $last must be a datetime, got NoneType"),
    ("$t + 1y", {"t": datetime(9999, 6, 1, tzinfo=UTC)}, "out of range"),
    ("$t - 1d", {"t": datetime(1, 1, 1, tzinfo=UTC)}, "out of range"),
    ("year", {"timestamp": datetime(9999, 6, 1, tzinfo=UTC)}, "out of range"),
    ("month + 1mo", {"timestamp": datetime(9999, 12, 1, tzinfo=UTC)}, "out of range"),
    # the unit of a bare number on a plain range is only known at run time
    ("($a to $a + 1d) @ 24", {"a": T}, "@ cannot set hour to 24"),
]


@pytest.mark.parametrize(("text", "variables", "message"), EVALUATION_ERRORS)
def test_evaluation_errors(
    text: str, variables: dict[str, object], message: str
) -> None:
    expression = timex.compile(text)
    with pytest.raises(TimexEvaluationError) as caught:
        expression.evaluate(variables)
    assert message in str(caught.value)


@pytest.mark.parametrize("error", [TimexSyntaxError, TimexEvaluationError])
def test_one_error_root(error: type[Exception]) -> None:
    assert issubclass(error, TimexError)
    assert issubclass(error, ValueError)
    assert issubclass(error, StackTachError)
