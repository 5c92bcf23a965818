"""Trait filter syntax, marks and shapes (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quince.params import parse_traits
from quince.shapes import mark_of
from winchester.storage.queries import TraitFilter


def test_untyped_values_stand_for_every_reading() -> None:
    (memory,) = parse_traits("memory_mb:512")
    assert memory == TraitFilter("memory_mb", ("512", 512, 512.0))
    assert memory.matches({"memory_mb": 512}) and memory.matches({"memory_mb": "512"})
    assert not memory.matches({"memory_mb": 513}) and not memory.matches({})
    (when,) = parse_traits("launched_at:2026-12-01T00:00:00Z")
    assert when.matches({"launched_at": datetime(2026, 12, 1, tzinfo=UTC)})


def test_explicit_types_and_several_filters() -> None:
    filters = parse_traits("a:int:5;b:float:0.5;c:text:5;d:datetime:2026-12-01;;")
    assert [f.values for f in filters] == [
        (5,),
        (0.5,),
        ("5",),
        (datetime(2026, 12, 1, tzinfo=UTC),),
    ]
    assert not filters[0].matches({"a": "5"}) and not filters[0].matches({"a": 5.0})
    # A colon in the value (not a type) stays in it.
    assert parse_traits("url:http://x")[0].values[0] == "http://x"


@pytest.mark.parametrize(
    "text", ["novalue", ":5", "a:int:x", "a:float:nan", "a:datetime:soon"]
)
def test_malformed_filters(text: str) -> None:
    with pytest.raises(ValueError):
        parse_traits(text)


def test_marks() -> None:
    assert mark_of(26) == "1a" and mark_of(26, ascending=True) == "+1a"
