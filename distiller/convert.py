"""Converting a matched field value to its trait type.

Each converter returns the converted value, ``None`` when the value counts as
absent (an empty string for a non-text trait: nova sends ``''`` for dates it has
not got), or raises :class:`TraitConversionError` saying why the value does not fit.
The distiller drops just that trait and counts the problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from distiller.event import TraitType, TraitValue
from stacktach.exceptions import TimestampError
from stacktach.timeutils import parse_timestamp

__all__ = ["CONVERTERS", "TraitConversionError"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class TraitConversionError(ValueError):
    """A field value cannot be converted to its trait's type."""


def to_text(value: Any) -> TraitValue | None:
    """Text: strings as they are; objects and lists as compact JSON; others str()."""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError as exc:  # nested too deep (or not JSON)
            raise TraitConversionError(f"cannot render as JSON text: {exc}") from None
    return str(value)


def to_int(value: Any) -> TraitValue | None:
    """A 64-bit integer from an int, an integral float or a numeric string."""
    if type(value) is int:
        result = value
    elif value == "":
        return None
    elif isinstance(value, bool):
        result = int(value)
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise TraitConversionError(f"{value!r} is not a whole number")
        result = int(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            result = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise TraitConversionError(f"{value!r} is not an integer") from None
            if not math.isfinite(number) or not number.is_integer():
                raise TraitConversionError(f"{value!r} is not a whole number") from None
            result = int(number)
    else:
        raise TraitConversionError(
            f"{type(value).__name__} {value!r} is not an integer"
        )
    if not INT64_MIN <= result <= INT64_MAX:
        raise TraitConversionError(f"{value!r} does not fit in 64 bits")
    return result


def to_float(value: Any) -> TraitValue | None:
    """A finite float from a number or a numeric string."""
    if type(value) is float:
        result = value
    elif value == "":
        return None
    elif isinstance(value, (int, str)):
        try:
            result = float(value)
        except ValueError:
            raise TraitConversionError(f"{value!r} is not a number") from None
    else:
        raise TraitConversionError(f"{type(value).__name__} {value!r} is not a number")
    if not math.isfinite(result):
        raise TraitConversionError(f"{value!r} is not a finite number")
    return result


#: Parsed timestamp strings: an instance's launched_at, created_at, audit
#: period... repeat in every notification about it (datetimes are immutable).
#: Emptied when full: about 145 bytes an entry, so at most about 1.5 MB.
_PARSED: dict[str, TraitValue] = {}
_PARSED_SIZE = 10_000
#: A timestamp string's value if it was converted before, else None.
cached_datetime: Callable[[str], TraitValue | None] = _PARSED.get


def to_datetime(value: Any) -> TraitValue | None:
    """An aware UTC datetime from a timestamp string (see stacktach.timeutils)."""
    if value.__class__ is str:
        parsed = _PARSED.get(value)
        if parsed is not None:
            return parsed
    if value == "":
        return None
    try:
        parsed = parse_timestamp(value)
    except TimestampError as exc:
        raise TraitConversionError(str(exc)) from None
    if len(_PARSED) >= _PARSED_SIZE:
        _PARSED.clear()
    _PARSED[value] = parsed
    return parsed


CONVERTERS: dict[TraitType, Callable[[Any], TraitValue | None]] = {
    TraitType.TEXT: to_text,
    TraitType.INT: to_int,
    TraitType.FLOAT: to_float,
    TraitType.DATETIME: to_datetime,
}
