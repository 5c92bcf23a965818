"""Calendar arithmetic on instants: months with clamping, and unit periods.

The periods are those of the range functions: an hour, a day, a month, a year.
Months and years are counted in calendar months with the day of month clamped to
the target month's length (Jan 31 + 1 month = Feb 28, or 29 in a leap year).
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = [
    "RANGE_UNITS",
    "add_months",
    "bare_unit_for_length",
    "bare_unit_for_range",
    "days_in_month",
    "period_containing",
    "period_of",
]

#: Units of the pinned range functions ``hour()``, ``day()``, ``month()``, ``year()``.
RANGE_UNITS = ("hour", "day", "month", "year")

_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ONE_HOUR = timedelta(hours=1)
_ONE_DAY = timedelta(days=1)
_FIXED_PERIODS = {"hour": _ONE_HOUR, "day": _ONE_DAY}
_MONTH_PERIODS = {"month": 1, "year": 12}
_BELOW = {"year": "month", "month": "day", "day": "hour", "hour": "minute"}
_DAY = 86_400


def days_in_month(year: int, month: int) -> int:
    """Number of days in ``month`` of ``year`` (Gregorian)."""
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


def add_months(instant: datetime, months: int) -> datetime:
    """``instant`` moved by ``months`` calendar months, the day clamped.

    Raises ``OverflowError`` when the result is outside years 1 to 9999.
    """
    total = instant.year * 12 + instant.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise OverflowError(f"date value out of range (year {year})")
    day = instant.day
    if day > 28:
        day = min(day, days_in_month(year, month))
    return instant.replace(year=year, month=month, day=day)


def period_of(instant: datetime, unit: str) -> tuple[datetime, datetime]:
    """The whole hour, day, month or year containing ``instant``: (begin, end).

    Raises ``ValueError`` when the end would be past year 9999.
    """
    tz = instant.tzinfo
    year, month = instant.year, instant.month
    if unit == "day":
        begin = datetime(year, month, instant.day, tzinfo=tz)
        return begin, begin + _ONE_DAY
    if unit == "hour":
        begin = datetime(year, month, instant.day, instant.hour, tzinfo=tz)
        return begin, begin + _ONE_HOUR
    if unit == "month":
        begin = datetime(year, month, 1, tzinfo=tz)
        return begin, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


def period_containing(
    base: datetime, unit: str, instant: datetime
) -> tuple[datetime, datetime]:
    """The range ``[base + k*unit, base + (k+1)*unit)`` that contains ``instant``.

    Month and year steps are taken from ``base`` with the day clamped, so the
    ranges for successive ``k`` tile the time line: exactly one contains
    ``instant``.
    """
    size = _FIXED_PERIODS.get(unit)
    if size is not None:
        begin = base + ((instant - base) // size) * size
        return begin, begin + size
    step = _MONTH_PERIODS[unit]
    k = ((instant.year - base.year) * 12 + instant.month - base.month) // step
    begin = add_months(base, k * step)
    while begin > instant:
        k -= 1
        begin = add_months(base, k * step)
    end = add_months(base, (k + 1) * step)
    while end <= instant:
        k += 1
        begin, end = end, add_months(base, (k + 1) * step)
    return begin, end


def bare_unit_for_range(unit: str) -> str:
    """Unit of a bare number applied to a pinned range of ``unit``: one below."""
    return _BELOW[unit]


def bare_unit_for_length(seconds: float) -> str:
    """Unit of a bare number applied to a range ``seconds`` long (the original's)."""
    seconds = abs(seconds)
    if seconds >= 365 * _DAY:
        return "month"
    if seconds >= 28 * _DAY:
        return "day"
    if seconds >= _DAY:
        return "hour"
    if seconds >= 3600:
        return "minute"
    if seconds >= 60:
        return "second"
    return "microsecond"
