"""Column limits, table-driven: what is refused, and how the reason reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from winchester.storage.limits import Limits, check_event, check_stream_key
from winchester.storage.values import encode_traits

T0 = datetime(2024, 1, 15, tzinfo=UTC)
LIMITS = Limits()


@pytest.mark.parametrize(
    ("message_id", "event_type", "at", "traits", "expected"),
    [
        ("m" * 128, "e" * 255, T0, {"n" * 255: "v" * 1000}, None),
        (
            "m" * 129,
            "e",
            T0,
            {},
            "message_id is 129 characters long; the column holds 128",
        ),
        ("m", "e" * 256, T0, {}, "characters long; the column holds 255"),
        ("m", "e", T0, {"n" * 300: 1}, "trait name 'nnn"),
        ("m\x00", "e", T0, {}, "message_id contains a NUL character"),
        ("m", "e\ud83d", T0, {}, "is not valid UTF-8 text"),
        ("m", "e", T0, {"x\x00": 1}, "contains a NUL character"),
        ("m", "é" * 200, T0, {}, None),  # characters, not bytes
        ("m", "e", T0.replace(year=999), {}, "outside the years 1000-9999"),
        ("m", "e", datetime(9999, 12, 31, 23, 59, tzinfo=UTC), {}, None),
    ],
)
def test_check_event(
    message_id: str,
    event_type: str,
    at: datetime,
    traits: dict[str, Any],
    expected: str | None,
) -> None:
    problem = check_event(
        LIMITS, message_id, event_type, at, traits, encode_traits(traits)
    )
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("value", "limit", "refused"),
    [
        ("a" * 90, 100, False),
        ("a" * 120, 100, True),
        ("é" * 30, 100, False),  # 60 bytes
        ("é" * 60, 100, True),  # 120 bytes: bytes count, not characters
    ],
)
def test_traits_json_is_measured_in_bytes(
    value: str, limit: int, refused: bool
) -> None:
    traits = {"v": value}
    problem = check_event(
        Limits(traits_bytes=limit), "m", "e", T0, traits, encode_traits(traits)
    )
    assert (problem is not None) is refused
    if refused:
        assert (
            problem is not None
            and "trait 'v'" in problem
            and f"holds {limit}" in problem
        )


@pytest.mark.parametrize(
    ("encoded", "refused"),
    [('{"k":"v"}', False), ('{"k":"' + "v" * 70_000 + '"}', True)],
)
def test_check_stream_key(encoded: str, refused: bool) -> None:
    problem = check_stream_key(LIMITS, "trig", encoded)
    assert (problem is not None) is refused
    if problem is not None:
        assert "trigger 'trig'" in problem and f"{len(encoded)} bytes" in problem
