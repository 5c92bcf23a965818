from datetime import UTC, date, datetime, timedelta, timezone

import orjson
import pytest

from notabene import codec


def test_dicts_become_json_bytes() -> None:
    body = codec.encode({"event_type": "compute.instance.create.end", "n": 1})
    assert isinstance(body, bytes)
    assert orjson.loads(body) == {"event_type": "compute.instance.create.end", "n": 1}


def test_bytes_pass_through_unchanged() -> None:
    raw = b'{"already": "encoded"}'
    assert codec.encode(raw) is raw
    assert codec.encode(bytearray(raw)) == raw


def test_str_is_refused_as_ambiguous() -> None:
    with pytest.raises(TypeError, match="not str"):
        codec.encode('{"a": 1}')


def test_datetimes_are_written_like_oslo_in_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    body = codec.encode(
        {
            "naive": datetime(2014, 5, 1, 0, 44, 59, 805827),
            "aware": datetime(2014, 5, 1, 2, 0, tzinfo=plus2),
            "utc": datetime(2014, 5, 1, tzinfo=UTC),
            "day": date(2014, 5, 1),
        }
    )
    assert orjson.loads(body) == {
        "naive": "2014-05-01 00:44:59.805827",
        "aware": "2014-05-01 00:00:00.000000",
        "utc": "2014-05-01 00:00:00.000000",
        "day": "2014-05-01",
    }


def test_unencodable_values_raise_type_error() -> None:
    with pytest.raises(TypeError):
        codec.encode({"x": object()})


def test_message_id_is_taken_from_dicts_only() -> None:
    assert codec.message_id_of({"message_id": "abc"}) == "abc"
    assert codec.message_id_of({"message_id": 5}) is None
    assert codec.message_id_of(b'{"message_id": "abc"}') is None
