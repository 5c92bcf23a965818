"""What an expression evaluates to: a timestamp or a range of time.

All three classes are immutable, hashable and slotted, hold aware UTC datetimes
(naive ones are taken as UTC, others converted), and share one interface:
``.timestamp``, ``.begin``, ``.end``, ``.is_range``, ``match(dt)`` / ``dt in value``,
``+ duration``, ``- duration`` and ``replace(duration)`` (the language's ``@``).

* :class:`Timestamp` matches only its own instant; ``.begin`` and ``.end`` are it.
* :class:`TimeRange` matches ``begin <= dt < end``; ``.timestamp`` is ``begin``; it
  is false when empty (``begin >= end``). Operations apply to both ends.
* :class:`PinnedTimeRange` is a range one hour, day, month or year long that
  remembers the instant it was made for (``pinned_to``); operations keep it one
  unit long and containing its pin (see :mod:`winchester.timex` for the rules).
  Equality and hashing look at ``begin`` and ``end`` only, so a pinned range equals
  the plain range it covers - ``day`` gives equal keys for every event of a day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from winchester.timex.durations import Duration
from winchester.timex.periods import (
    RANGE_UNITS,
    bare_unit_for_length,
    bare_unit_for_range,
    period_containing,
    period_of,
)

__all__ = [
    "PinnedTimeRange",
    "TimeRange",
    "Timestamp",
    "as_utc",
    "new_range",
    "new_timestamp",
    "period_function",
]

_set = object.__setattr__
_new = object.__new__


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive means UTC); TypeError otherwise."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__} {value!r}")
    tz = value.tzinfo
    if tz is UTC:
        return value
    if tz is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _instant(value: datetime) -> datetime:
    # match() is on hot paths: only naive values need work (aware ones compare
    # correctly whatever their zone).
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__} {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _Value:
    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable (cannot set {name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


class Timestamp(_Value):
    """One instant, with the same interface as the ranges."""

    __slots__ = ("timestamp",)
    timestamp: datetime

    def __init__(self, timestamp: datetime) -> None:
        _set(self, "timestamp", as_utc(timestamp))

    @property
    def begin(self) -> datetime:
        """The instant (as for a range's first instant)."""
        return self.timestamp

    @property
    def end(self) -> datetime:
        """The instant (so a Timestamp works where a range's end is read)."""
        return self.timestamp

    @property
    def is_range(self) -> bool:
        """False: a Timestamp is a single instant."""
        return False

    def total_seconds(self) -> float:
        """0.0: an instant has no length."""
        return 0.0

    def match(self, dt: datetime) -> bool:
        """True when ``dt`` is this very instant (naive ``dt`` means UTC)."""
        return _instant(dt) == self.timestamp

    __contains__ = match

    def __bool__(self) -> bool:
        return True

    def __add__(self, other: object) -> Timestamp:
        if not isinstance(other, Duration):
            return NotImplemented
        return new_timestamp(other.add_to(self.timestamp))

    def __sub__(self, other: object) -> Timestamp:
        if not isinstance(other, Duration):
            return NotImplemented
        return new_timestamp(other.subtract_from(self.timestamp))

    def replace(self, duration: Duration) -> Timestamp:
        """The ``@`` operation: the duration's fields replace the instant's."""
        return new_timestamp(duration.replace_in(self.timestamp))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timestamp):
            return NotImplemented
        return self.timestamp == other.timestamp

    def __hash__(self) -> int:
        return hash(self.timestamp)

    def __repr__(self) -> str:
        return f"Timestamp({self.timestamp!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Timestamp, (self.timestamp,))

    def to_typed_json(self) -> dict[str, Any]:
        """``{"__type__": "timex.Timestamp", "timestamp": <datetime>}``."""
        return {"__type__": "timex.Timestamp", "timestamp": self.timestamp}


class TimeRange(_Value):
    """The instants from ``begin`` (included) to ``end`` (excluded)."""

    __slots__ = ("begin", "end")
    begin: datetime
    end: datetime

    def __init__(self, begin: datetime, end: datetime) -> None:
        _set(self, "begin", as_utc(begin))
        _set(self, "end", as_utc(end))

    @property
    def timestamp(self) -> datetime:
        """The range's first instant (as the original)."""
        return self.begin

    @property
    def is_range(self) -> bool:
        """True."""
        return True

    def total_seconds(self) -> float:
        """Length of the range in seconds (negative when ``end < begin``)."""
        return (self.end - self.begin).total_seconds()

    def match(self, dt: datetime) -> bool:
        """True when ``begin <= dt < end`` (naive ``dt`` means UTC)."""
        dt = _instant(dt)
        return self.begin <= dt < self.end

    __contains__ = match

    def __bool__(self) -> bool:
        return self.begin < self.end

    def _resolved(self, duration: Duration) -> Duration:
        if duration.unknown is None:
            return duration
        return duration.resolve(bare_unit_for_length(self.total_seconds()))

    def __add__(self, other: object) -> TimeRange:
        if not isinstance(other, Duration):
            return NotImplemented
        d = self._resolved(other)
        return new_range(d.add_to(self.begin), d.add_to(self.end))

    def __sub__(self, other: object) -> TimeRange:
        if not isinstance(other, Duration):
            return NotImplemented
        d = self._resolved(other)
        return new_range(d.subtract_from(self.begin), d.subtract_from(self.end))

    def replace(self, duration: Duration) -> TimeRange:
        """The ``@`` operation, applied to ``begin`` and ``end`` separately."""
        d = self._resolved(duration)
        return new_range(d.replace_in(self.begin), d.replace_in(self.end))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TimeRange):
            return NotImplemented
        return self.begin == other.begin and self.end == other.end

    def __hash__(self) -> int:
        return hash((self.begin, self.end))

    def __repr__(self) -> str:
        return f"TimeRange({self.begin!r}, {self.end!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (TimeRange, (self.begin, self.end))

    def to_typed_json(self) -> dict[str, Any]:
        """``{"__type__": "timex.TimeRange", "begin": <datetime>, "end": ...}``."""
        return {"__type__": "timex.TimeRange", "begin": self.begin, "end": self.end}


_Operation = Callable[[Duration, datetime], datetime]


class PinnedTimeRange(TimeRange):
    """A range one ``unit`` long (hour, day, month, year) pinned to an instant.

    Made by ``hour()``, ``day()``, ``month()`` and ``year()``. ``+``, ``-`` and
    ``replace`` move the pin by the duration's fields at or above ``unit`` (none
    for ``day + 6h``: the pin stays), apply the whole duration to ``begin``, then
    step the range by whole units until it contains the pin again. A bare number
    counts in the unit below ``unit``. JSON encodes it as a plain TimeRange.
    """

    __slots__ = ("pinned_to", "unit")
    pinned_to: datetime
    unit: str

    def __init__(
        self, begin: datetime, end: datetime, pinned_to: datetime, unit: str
    ) -> None:
        if unit not in RANGE_UNITS:
            raise ValueError(f"unit must be one of {', '.join(RANGE_UNITS)}: {unit!r}")
        super().__init__(begin, end)
        _set(self, "pinned_to", as_utc(pinned_to))
        _set(self, "unit", unit)

    def _apply(self, duration: Duration, operation: _Operation) -> PinnedTimeRange:
        unit = self.unit
        if duration.unknown is not None:
            duration = duration.resolve(bare_unit_for_range(unit))
        coarse, _fine = duration.split(unit)
        pin = self.pinned_to
        if coarse is not None:
            pin = operation(coarse, pin)
        begin, end = period_containing(operation(duration, self.begin), unit, pin)
        return _new_pinned(begin, end, pin, unit)

    def __add__(self, other: object) -> PinnedTimeRange:
        if not isinstance(other, Duration):
            return NotImplemented
        return self._apply(other, Duration.add_to)

    def __sub__(self, other: object) -> PinnedTimeRange:
        if not isinstance(other, Duration):
            return NotImplemented
        return self._apply(other, Duration.subtract_from)

    def replace(self, duration: Duration) -> PinnedTimeRange:
        """The ``@`` operation, wrapped to keep containing the pin."""
        return self._apply(duration, Duration.replace_in)

    def __repr__(self) -> str:
        return (
            f"PinnedTimeRange({self.begin!r}, {self.end!r}, "
            f"pinned_to={self.pinned_to!r}, unit={self.unit!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (PinnedTimeRange, (self.begin, self.end, self.pinned_to, self.unit))


# The slots' own setters: the fastest way past the immutability guard, for the
# constructors below that evaluation calls once per node.
_set_timestamp = Timestamp.__dict__["timestamp"].__set__
_set_begin = TimeRange.__dict__["begin"].__set__
_set_end = TimeRange.__dict__["end"].__set__
_set_pin = PinnedTimeRange.__dict__["pinned_to"].__set__
_set_unit = PinnedTimeRange.__dict__["unit"].__set__


def new_timestamp(timestamp: datetime) -> Timestamp:
    """A Timestamp without checks: ``timestamp`` must already be aware UTC."""
    value = _new(Timestamp)
    _set_timestamp(value, timestamp)
    return value


def new_range(begin: datetime, end: datetime) -> TimeRange:
    """A TimeRange without checks: both must already be aware UTC."""
    value = _new(TimeRange)
    _set_begin(value, begin)
    _set_end(value, end)
    return value


def _new_pinned(
    begin: datetime, end: datetime, pinned_to: datetime, unit: str
) -> PinnedTimeRange:
    value = _new(PinnedTimeRange)
    _set_begin(value, begin)
    _set_end(value, end)
    _set_pin(value, pinned_to)
    _set_unit(value, unit)
    return value


def period_function(unit: str) -> Callable[[datetime], PinnedTimeRange]:
    """The range function ``hour``/``day``/``month``/``year`` for aware UTC input.

    The result is the whole ``unit`` containing the instant, pinned to it.
    """
    if unit not in RANGE_UNITS:
        raise ValueError(f"unknown range function {unit!r}")

    def period(instant: datetime) -> PinnedTimeRange:
        begin, end = period_of(instant, unit)
        return _new_pinned(begin, end, instant, unit)

    return period
