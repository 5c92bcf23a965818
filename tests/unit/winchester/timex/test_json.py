"""Typed JSON of timex values, through stacktach.jsonutil."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from stacktach import jsonutil
from winchester import timex
from winchester.timex import PinnedTimeRange, TimeRange, Timestamp

BEGIN = datetime(2014, 8, 1, tzinfo=UTC)
END = datetime(2014, 8, 2, tzinfo=UTC)
PIN = datetime(2014, 8, 1, 2, 10, 23, 550, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _registered() -> None:
    timex.register_json()


def test_typed_json_shapes() -> None:
    assert TimeRange(BEGIN, END).to_typed_json() == {
        "__type__": "timex.TimeRange",
        "begin": BEGIN,
        "end": END,
    }
    assert Timestamp(PIN).to_typed_json() == {
        "__type__": "timex.Timestamp",
        "timestamp": PIN,
    }


def test_encoded_text_tags_the_datetimes() -> None:
    assert json.loads(jsonutil.dumps(TimeRange(BEGIN, END))) == {
        "__type__": "timex.TimeRange",
        "begin": {
            "__type__": "datetime",
            "datetime": "2014-08-01T00:00:00.000000+00:00",
        },
        "end": {"__type__": "datetime", "datetime": "2014-08-02T00:00:00.000000+00:00"},
    }


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        (Timestamp(PIN), Timestamp(PIN)),
        (TimeRange(BEGIN, END), TimeRange(BEGIN, END)),
        # a pinned range travels as the plain range it covers
        (PinnedTimeRange(BEGIN, END, PIN, "day"), TimeRange(BEGIN, END)),
        (timex.compile("day")(timestamp=PIN), TimeRange(BEGIN, END)),
        (
            {"distinguishing_traits": {"timestamp": TimeRange(BEGIN, END)}, "n": 1},
            {"distinguishing_traits": {"timestamp": TimeRange(BEGIN, END)}, "n": 1},
        ),
    ],
)
def test_round_trip(value: Any, decoded: Any) -> None:
    result = jsonutil.loads(jsonutil.dumps(value))
    assert result == decoded
    assert type(result) is type(decoded)


def test_decoders_accept_plain_strings() -> None:
    text = json.dumps(
        {"__type__": "timex.TimeRange", "begin": "2014-08-01", "end": "2014-08-02"}
    )
    assert jsonutil.loads(text) == TimeRange(BEGIN, END)


def test_register_json_is_idempotent() -> None:
    timex.register_json()
    timex.register_json()
    assert jsonutil.loads(jsonutil.dumps(Timestamp(PIN))) == Timestamp(PIN)
