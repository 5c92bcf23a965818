import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from stacktach import jsonutil


def test_datetime_is_tagged_in_utc() -> None:
    east = timezone(timedelta(hours=2))
    text = jsonutil.dumps({"when": datetime(2014, 5, 1, 2, 0, tzinfo=east)})
    assert json.loads(text) == {
        "when": {"__type__": "datetime", "datetime": "2014-05-01T00:00:00.000000+00:00"}
    }


def test_round_trip_restores_datetimes_and_keeps_numbers() -> None:
    value = {
        "when": datetime(2014, 5, 1, 0, 44, 59, 805827, UTC),
        "memory_mb": 512,
        "ratio": 0.5,
        "nested": [{"at": datetime(2015, 1, 1, tzinfo=UTC)}],
    }
    assert jsonutil.loads(jsonutil.dumps(value)) == value


def test_unknown_tags_pass_through_untouched() -> None:
    raw = {"__type__": "martian", "x": 1}
    assert jsonutil.loads(json.dumps(raw)) == raw


def test_a_type_key_that_is_not_a_tag_is_data() -> None:
    # An OpenAPI schema has "__type__": {...}; a list or number is no tag either.
    for value in ({"type": "string"}, ["datetime"], 5):
        text = jsonutil.dumps({"__type__": value, "x": 1})
        assert jsonutil.loads(text) == {"__type__": value, "x": 1}


def test_objects_with_to_typed_json_and_registered_decoder() -> None:
    class Span:
        def __init__(self, begin: int, end: int) -> None:
            self.begin, self.end = begin, end

        def to_typed_json(self) -> dict[str, Any]:
            return {"__type__": "test.Span", "begin": self.begin, "end": self.end}

    jsonutil.register_decoder("test.Span", lambda d: (d["begin"], d["end"]))
    assert jsonutil.loads(jsonutil.dumps([Span(1, 2)])) == [(1, 2)]


def test_unserialisable_objects_raise_type_error() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        jsonutil.dumps({1, 2})
