"""timex: the time-expression language of the trigger configs.

Our implementation of the language of the original ``stacktach-timex`` package
(hand-written tokenizer and recursive-descent parser, no PLY)::

    >>> from datetime import datetime, UTC
    >>> expiry = compile("$last + 1h")          # parse once, per definition
    >>> expiry(last=datetime(2014, 8, 1, 2, 10, tzinfo=UTC))
    Timestamp(datetime.datetime(2014, 8, 1, 3, 10, tzinfo=datetime.timezone.utc))

:func:`compile` raises :class:`TimexSyntaxError` (its message shows the position
with a caret). Calling the :class:`Expression` with datetimes as keyword variables
(or ``evaluate(mapping)``) returns a :class:`Timestamp` or a :class:`TimeRange` /
:class:`PinnedTimeRange`, or raises :class:`TimexEvaluationError` (a missing
variable, named). Both errors are :class:`TimexError`, a ``ValueError``.
``Expression.variables`` is the set of names read, ``Expression.is_range`` says
which kind of value comes out.

Grammar
-------
::

    expression := additive [ "to" additive ]              both sides timestamps
    additive   := primary { ("+" | "-" | "@") duration }   applied left to right
    primary    := VARIABLE
                | FUNCTION [ "(" expression ")" ]           argument: a timestamp
                | "(" expression ")"
    duration   := term { term }                             e.g. 6h 30m 15s
    term       := NUMBER [ UNIT ]                           no unit: a bare number
    VARIABLE   := "$" NAME          (no space after "$"; any NAME, even $d or $to)
    FUNCTION   := "hour" | "day" | "month" | "year"
    UNIT       := "us" | "s" | "sec" | "m" | "min" | "h" | "hr" | "d" | "mo"
                | "y" | "yr"        (microsecond ... year; case-sensitive)
    NAME       := [A-Za-z_][A-Za-z0-9_]*      NUMBER := [0-9]+

Whitespace separates tokens (``1d2h`` is an error: write ``1d 2h``). Precedence,
lowest first: ``to``, then ``+``/``-``, then ``@``; as the right operand of
``+ - @`` is always a duration they simply apply left to right, so
``$a + 1d to $b - 1h @ 0m`` is ``($a + 1d) to (($b - 1h) @ 0m)``. ``to`` does not
chain. A unit may appear once per duration, and at most one bare number.

Meaning
-------
* ``$name`` is the variable's datetime (naive means UTC; results are aware UTC).
  There is no implicit ``$timestamp``: callers pass it (time is injected).
* ``hour``, ``day``, ``month``, ``year`` (argument default ``$timestamp``) give the
  whole hour/day/month/year containing the instant, *pinned* to it.
* ``a to b`` is the range from ``a`` (included) to ``b`` (excluded).
* ``x + d`` / ``x - d``: the exact part of ``d`` (days and smaller) as a
  ``timedelta`` first, then years and months together as calendar months with
  the day clamped: Jan 31 + 1mo = Feb 28 (29 in leap years). On a plain range,
  both ends move.
* ``x @ d`` replaces the fields ``d`` gives, like ``datetime.replace``
  (``$ts @ 0h 0m 0s`` is the start of that day), the day clamped to the month
  (``@ 31d`` in April is the 30th). A value out of range (``@ 24h``, ``@ 13mo``)
  is a syntax error (an evaluation error for a bare number on a plain range,
  whose unit is known only then). On a plain range each end is replaced
  separately.
* A bare number takes a unit from the range it is applied to: one below a
  pinned range's unit (hour -> minutes, day -> hours, month -> days, year ->
  months); for a plain range by length, as the original: at least 365 days ->
  months, 28 days -> days, a day -> hours, an hour -> minutes, a minute ->
  seconds, less -> microseconds. Added to an explicit field of that unit. On a
  timestamp it is a syntax error.

Pinned ranges
-------------
A pinned range is one unit long and remembers its pin. For ``+``, ``-``, ``@``
with a duration ``d``: the fields of ``d`` at or above the range's unit (for
``day``: years, months, days) move the pin by the same operation; ``d`` as a
whole moves ``begin``; then the range is stepped by whole units until it
contains the pin again. So, with ``$start`` = 2014-08-01 01:00:

* ``day($start) + 6h`` is 07-31 06:00 to 08-01 06:00 (wrapped back: the pin stays);
* ``day($start) - 6h`` is 07-31 18:00 to 08-01 18:00; ``day($start) @ 6h`` as ``+ 6h``;
* ``day($start) + 30h`` wraps like ``+ 6h`` (no whole-day field: the pin stays,
  as in the original);
* ``day($start) + 1d`` is all of 08-02 (pinned to 08-02 01:00), ``- 1d`` all of
  07-31, ``day($start) + 1d 6h`` 08-01 06:00 to 08-02 06:00 (the 06:00-to-06:00
  day containing 08-02 01:00), ``day($start) @ 5d`` all of 08-05;
* ``month($t) + 1mo`` is next month (pin clamped: Jan 31 -> Feb 28).

Month and year ranges step by calendar months from their ``begin`` (clamped), so
they tile the time line and exactly one contains the pin.

Differences from the original (deliberate)
------------------------------------------
* Pinned range ``+ - @`` with a field at or above its unit: defined above (the
  original raised ``AttributeError``).
* Month/year arithmetic and ``@`` clamp the day (the original raised
  ``ValueError`` for Jan 31 + 1mo); years and months are added as one number of
  months, so Jan 29 2015 + 1y 1mo is Feb 29 2016.
* An empty range (``begin >= end``) is false (the original's ``__nonzero__`` is
  ignored by Python 3).
* Parsed once by :func:`compile`; the original rebuilt its PLY parser per call
  (about 3 ms).
* A bare number on a range shorter than a minute means microseconds (the original
  raised ``NameError``).
* No default ``$timestamp = utcnow()``: a missing ``$timestamp`` is an evaluation
  error like any other variable (StackTach injects its clock).
* More is caught at compile time: unknown function (the original failed when
  evaluating), ``@`` out of range (failed when evaluating), a unit given twice or
  two bare numbers (the original summed them: ``1h 2h`` was 3h).
* Variable names may be unit or keyword spellings (``$d``, ``$to``: a parse error
  in the original); ``$ name`` with a space is no longer accepted.
* Values are immutable, compared by value (the original compared identity); a
  pinned range equals the plain range it covers. ``replace(d)`` replaces the
  original's ``%`` operator; ``next()``, ``prev()`` and ``pin()`` are gone.
* ``Duration`` orders field by field from the year down, absent fields counting
  as zero; bare-number durations cannot be ordered.
* Errors: :class:`TimexSyntaxError` and :class:`TimexEvaluationError` replace
  ``TimexLexerError``, ``TimexParserError`` and ``TimexExpressionError``.

JSON
----
Values have ``to_typed_json()`` for :mod:`stacktach.jsonutil`; call
:func:`register_json` once to decode ``timex.TimeRange`` and ``timex.Timestamp``.
"""

from __future__ import annotations

from winchester.timex.codec import register_json
from winchester.timex.durations import Duration
from winchester.timex.errors import TimexError, TimexEvaluationError, TimexSyntaxError
from winchester.timex.expression import Expression, compile
from winchester.timex.values import PinnedTimeRange, TimeRange, Timestamp

__all__ = [
    "Duration",
    "Expression",
    "PinnedTimeRange",
    "TimeRange",
    "Timestamp",
    "TimexError",
    "TimexEvaluationError",
    "TimexSyntaxError",
    "compile",
    "register_json",
]
