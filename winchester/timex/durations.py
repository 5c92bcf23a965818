"""Durations, and the calendar arithmetic they drive.

A :class:`Duration` holds up to seven unit fields (``year`` ... ``microsecond``),
each ``None`` when absent, plus ``unknown``: the value of a *bare number*, whose
unit is only known once the duration meets a range. Absent and zero differ for
``@`` (``@ 0h`` sets the hour, a duration without hours leaves it alone).

Arithmetic on an instant (calendar helpers in :mod:`~winchester.timex.periods`):

* ``+``/``-``: the exact fields (days and below) as one ``timedelta``, then years
  and months together as a number of calendar months, the day of month clamped to
  the target month's length (Jan 31 + 1mo = Feb 28, or 29 in a leap year).
* ``@``: the given fields replace the instant's, the day clamped the same way
  (``@ 31d`` in April is April 30th).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from winchester.timex.errors import TimexEvaluationError
from winchester.timex.periods import RANGE_UNITS, add_months, days_in_month

__all__ = ["UNITS", "UNIT_NAMES", "Duration"]

#: Unit fields, largest first.
UNITS = ("year", "month", "day", "hour", "minute", "second", "microsecond")

#: Spellings the language accepts (exactly the original lexer's) -> unit field.
UNIT_NAMES = {
    "us": "microsecond",
    "s": "second",
    "sec": "second",
    "m": "minute",
    "min": "minute",
    "h": "hour",
    "hr": "hour",
    "d": "day",
    "mo": "month",
    "y": "year",
    "yr": "year",
}

_SYMBOLS = {
    "year": "y",
    "month": "mo",
    "day": "d",
    "hour": "h",
    "minute": "m",
    "second": "s",
    "microsecond": "us",
}
_COARSE = {unit: UNITS[: UNITS.index(unit) + 1] for unit in RANGE_UNITS}
_REPLACE_LIMITS = {
    "year": (1, 9999),
    "month": (1, 12),
    "day": (1, 31),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
    "microsecond": (0, 999_999),
}


class Duration:
    """An amount of time in calendar units; immutable and hashable.

    ``Duration(day=1, hour=2)`` is ``1d 2h``; ``Duration(unknown=5)`` is the bare
    number ``5``. Raises ``ValueError`` when a field is not an int or the exact
    part does not fit a ``timedelta``.
    """

    __slots__ = (
        "_delta",
        "_fields",
        "_months",
        "_problem",
        "_resolved",
        "_splits",
        "day",
        "hour",
        "microsecond",
        "minute",
        "month",
        "second",
        "unknown",
        "year",
    )

    year: int | None
    month: int | None
    day: int | None
    hour: int | None
    minute: int | None
    second: int | None
    microsecond: int | None
    unknown: int | None
    _fields: dict[str, int]
    _delta: timedelta
    _months: int
    _problem: str | None
    _resolved: dict[str, Duration]
    _splits: dict[str, tuple[Duration | None, Duration | None]]

    def __init__(
        self,
        *,
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        hour: int | None = None,
        minute: int | None = None,
        second: int | None = None,
        microsecond: int | None = None,
        unknown: int | None = None,
    ) -> None:
        given = {
            "year": year,
            "month": month,
            "day": day,
            "hour": hour,
            "minute": minute,
            "second": second,
            "microsecond": microsecond,
            "unknown": unknown,
        }
        for name, value in given.items():
            if value is not None and (type(value) is not int):
                raise ValueError(f"duration {name} must be an int, got {value!r}")
            object.__setattr__(self, name, value)
        fields = {u: v for u in UNITS if (v := given[u]) is not None}
        try:
            delta = timedelta(
                days=day or 0,
                hours=hour or 0,
                minutes=minute or 0,
                seconds=second or 0,
                microseconds=microsecond or 0,
            )
        except OverflowError:
            text = _format(fields, unknown)
            raise ValueError(f"duration '{text}' is too large") from None
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_delta", delta)
        object.__setattr__(self, "_months", 12 * (year or 0) + (month or 0))
        object.__setattr__(self, "_problem", _replace_problem(fields))
        object.__setattr__(self, "_resolved", {})
        object.__setattr__(self, "_splits", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Duration is immutable (cannot set {name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Duration is immutable (cannot delete {name})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.as_dict,))

    @property
    def ambiguous(self) -> bool:
        """True when the duration holds a bare number (``unknown``)."""
        return self.unknown is not None

    @property
    def as_dict(self) -> dict[str, int]:
        """The fields that are set, ``unknown`` included, as keyword arguments."""
        result = dict(self._fields)
        if self.unknown is not None:
            result["unknown"] = self.unknown
        return result

    @property
    def replace_problem(self) -> str | None:
        """Why ``@`` cannot use this duration (a field out of range), or None."""
        return self._problem

    def __add__(self, other: object) -> Duration:
        if not isinstance(other, Duration):
            return NotImplemented
        result = self.as_dict
        for name, value in other.as_dict.items():
            result[name] = result.get(name, 0) + value
        return Duration(**result)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Duration):
            return NotImplemented
        return self.as_dict == other.as_dict

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.as_dict.items())))

    def _key(self, other: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if not isinstance(other, Duration):
            raise TypeError(f"cannot compare Duration with {type(other).__name__}")
        if self.ambiguous or other.ambiguous:
            raise TypeError("a bare-number duration has no size until it meets a range")
        return (
            tuple(self._fields.get(u, 0) for u in UNITS),
            tuple(other._fields.get(u, 0) for u in UNITS),
        )

    # Ordering is field by field from the largest unit, absent fields counting as
    # zero: exact for durations written with each field below its natural limit.
    def __lt__(self, other: object) -> bool:
        mine, theirs = self._key(other)
        return mine < theirs

    def __le__(self, other: object) -> bool:
        mine, theirs = self._key(other)
        return mine <= theirs

    def __gt__(self, other: object) -> bool:
        mine, theirs = self._key(other)
        return mine > theirs

    def __ge__(self, other: object) -> bool:
        mine, theirs = self._key(other)
        return mine >= theirs

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.as_dict.items())
        return f"Duration({inner})"

    def __str__(self) -> str:
        return _format(self._fields, self.unknown)

    def resolve(self, unit: str) -> Duration:
        """This duration with its bare number counted in ``unit`` (added to it)."""
        if self.unknown is None:
            return self
        resolved = self._resolved.get(unit)
        if resolved is None:
            fields = dict(self._fields)
            fields[unit] = fields.get(unit, 0) + self.unknown
            resolved = self._resolved[unit] = Duration(**fields)
        return resolved

    def split(self, range_unit: str) -> tuple[Duration | None, Duration | None]:
        """``(coarse, fine)``: the fields at or above ``range_unit``, and the rest.

        Either part is None when it has no field. Bare numbers must be resolved.
        """
        parts = self._splits.get(range_unit)
        if parts is None:
            self._require_resolved()
            coarse = {u: v for u, v in self._fields.items() if u in _COARSE[range_unit]}
            fine = {u: v for u, v in self._fields.items() if u not in coarse}
            parts = self._splits[range_unit] = (
                Duration(**coarse) if coarse else None,
                Duration(**fine) if fine else None,
            )
        return parts

    def add_to(self, instant: datetime) -> datetime:
        """``instant + self``; raises ``OverflowError`` past year 9999."""
        if self.unknown is not None:
            self._require_resolved()
        if self._delta:
            instant = instant + self._delta
        if self._months:
            instant = add_months(instant, self._months)
        return instant

    def subtract_from(self, instant: datetime) -> datetime:
        """``instant - self``; raises ``OverflowError`` before year 1."""
        if self.unknown is not None:
            self._require_resolved()
        if self._delta:
            instant = instant - self._delta
        if self._months:
            instant = add_months(instant, -self._months)
        return instant

    def replace_in(self, instant: datetime) -> datetime:
        """``instant @ self``: the given fields replaced, the day clamped.

        Raises :class:`TimexEvaluationError` for a field out of range (``@ 25h``).
        """
        if self.unknown is not None:
            self._require_resolved()
        if self._problem is not None:
            raise TimexEvaluationError(self._problem)
        fields: dict[str, Any] = self._fields
        if "year" in fields or "month" in fields or "day" in fields:
            year = fields.get("year", instant.year)
            month = fields.get("month", instant.month)
            day = min(fields.get("day", instant.day), days_in_month(year, month))
            return instant.replace(**{**fields, "day": day})
        return instant.replace(**fields)

    def _require_resolved(self) -> None:
        if self.unknown is not None:
            raise TimexEvaluationError(
                f"the bare number {self.unknown} in duration '{self}' needs a unit: "
                "only a range gives bare numbers one"
            )


def _format(fields: dict[str, int], unknown: int | None) -> str:
    parts = [f"{value}{_SYMBOLS[unit]}" for unit, value in fields.items()]
    if unknown is not None:
        parts.append(str(unknown))
    return " ".join(parts) or "0s"


def _rebuild(fields: dict[str, int]) -> Duration:
    return Duration(**fields)


def _replace_problem(fields: dict[str, int]) -> str | None:
    for unit, value in fields.items():
        low, high = _REPLACE_LIMITS[unit]
        if not low <= value <= high:
            return f"@ cannot set {unit} to {value} (allowed: {low} to {high})"
    return None
