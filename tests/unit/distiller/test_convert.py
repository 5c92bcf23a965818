from datetime import UTC, datetime
from typing import Any

import pytest

from distiller.convert import (
    TraitConversionError,
    to_datetime,
    to_float,
    to_int,
    to_text,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        ("", ""),  # empty text is a value for text traits
        (512, "512"),
        (1.5, "1.5"),
        (True, "true"),
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
    ],
)
def test_text(value: Any, expected: str) -> None:
    assert to_text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (512, 512),
        ("512", 512),
        (" 42 ", 42),
        ("512.0", 512),
        (3.0, 3),
        (True, 1),
        ("", None),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
    ],
)
def test_int(value: Any, expected: int | None) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("abc", "'abc' is not an integer"),
        ("1.5", "not a whole number"),
        (2.5, "not a whole number"),
        (float("nan"), "not a whole number"),
        (2**63, "does not fit in 64 bits"),
        ([1], "list [1] is not an integer"),
        (None, "NoneType"),
    ],
)
def test_int_failures(value: Any, fragment: str) -> None:
    with pytest.raises(
        TraitConversionError, match=fragment.replace("[", r"\[").replace("]", r"\]")
    ):
        to_int(value)


@pytest.mark.parametrize(
    ("value", "expected"), [(1.5, 1.5), (2, 2.0), ("2.25", 2.25), ("", None)]
)
def test_float(value: Any, expected: float | None) -> None:
    assert to_float(value) == expected


@pytest.mark.parametrize("value", ["abc", "inf", "nan", {"a": 1}])
def test_float_failures(value: Any) -> None:
    with pytest.raises(TraitConversionError):
        to_float(value)


def test_datetime() -> None:
    assert to_datetime("2014-05-01 00:45:00") == datetime(2014, 5, 1, 0, 45, tzinfo=UTC)
    assert to_datetime("") is None
    with pytest.raises(TraitConversionError, match="malformed timestamp"):
        to_datetime("2014-05-1510: 24: 56.335612")
    with pytest.raises(TraitConversionError, match="must be a string"):
        to_datetime(1400000000)
