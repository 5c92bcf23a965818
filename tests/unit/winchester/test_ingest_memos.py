"""The memos on ingest's hot path give exactly what the uncached functions give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from distiller.convert import TraitConversionError, to_datetime
from winchester import stream_math
from winchester.batch import _stream_key
from winchester.storage.limits import Limits, check_event

T0 = datetime(2024, 1, 15, tzinfo=UTC)


def test_stream_keys_of_equal_values_of_other_types_differ() -> None:
    for key in [(("a", 1),), (("a", 1.0),), (("a", "1"),)]:
        for _ in range(2):  # computed, then memoised
            assert _stream_key("t", key) == stream_math.stream_key("t", key)
    assert len({_stream_key("t", (("a", v),)) for v in (1, 1.0, "1")}) == 3
    assert _stream_key("t", (("a", 1),)) != _stream_key("u", (("a", 1),))


def test_an_unhashable_key_value_is_computed_every_time() -> None:
    class Unhashable(str):
        __hash__ = None  # type: ignore[assignment]

    with pytest.raises(TypeError):  # _canonical refuses it, as before the memo
        _stream_key("t", (("a", Unhashable("x")),))


def test_parsed_datetimes_are_memoised_and_bad_ones_still_refused() -> None:
    text = "2024-01-15 00:00:00.000000"
    assert to_datetime(text) == T0 and to_datetime(text) is to_datetime(text)
    assert to_datetime("") is None
    for _ in range(2):
        with pytest.raises(TraitConversionError):
            to_datetime("not a time")


def test_a_bad_trait_name_is_refused_after_good_ones_were_remembered() -> None:
    limits = Limits()
    good = {"host": "h", "tenant_id": "t"}
    for _ in range(2):
        assert check_event(limits, "m", "e", T0, good, "{}") is None
    long_name = "x" * 300
    problem = check_event(limits, "m", "e", T0, {**good, long_name: 1}, "{}")
    assert problem is not None and "300 characters" in problem
    assert check_event(limits, "m", "e", T0, {"nul\x00": 1}, "{}") is not None
