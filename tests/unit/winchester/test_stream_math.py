"""Stream arithmetic, table-driven: counts, readiness, fire time, spans, expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from distiller import Event
from winchester import stream_math
from winchester.states import StreamState
from winchester.stream_math import Pending

T0 = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Crit:
    number: int


class Trig:
    name = "t"

    def __init__(self, *numbers: int, delay: float = 0) -> None:
        self.fire_criteria = tuple(Crit(n) for n in numbers)
        self.fire_delay = delay

    def expires_at(self, first: datetime, last: datetime) -> datetime:
        return last + timedelta(hours=1)


def ev(seconds: int) -> Event:
    return Event("e", f"m{seconds}", T0 + timedelta(seconds=seconds), {})


@pytest.mark.parametrize(
    ("text", "size", "counts"),
    [
        ("", 2, [0, 0]),
        ("3", 1, [3]),
        ("1,2", 3, [1, 2, 0]),  # a criterion was added: padded
        ("1,2,3", 2, [1, 2]),  # a criterion was removed: cut
        ("0", 0, []),
    ],
)
def test_parse_counts(text: str, size: int, counts: list[int]) -> None:
    assert stream_math.parse_counts(text, size) == counts
    assert stream_math.parse_counts(stream_math.format_counts(counts), size) == counts


@pytest.mark.parametrize(
    ("numbers", "counts", "ready"),
    [
        ((1,), [0], False),
        ((1,), [1], True),
        ((1,), [5], True),
        ((2, 1), [2, 0], False),
        ((2, 1), [2, 1], True),
        ((), [], True),  # no criterion: ready at once
    ],
)
def test_ready(numbers: tuple[int, ...], counts: list[int], ready: bool) -> None:
    assert stream_math.ready(Trig(*numbers), counts) is ready


@pytest.mark.parametrize(
    ("delay", "expected"),
    [(0, T0), (30, T0 + timedelta(seconds=30)), (0.5, T0 + timedelta(seconds=0.5))],
)
def test_fire_at(delay: float, expected: datetime) -> None:
    assert stream_math.fire_at(Trig(1, delay=delay), T0) == expected


@pytest.mark.parametrize(
    ("expire", "now", "expired"),
    [
        (None, T0, False),
        (T0 + timedelta(seconds=1), T0, False),
        (T0, T0, True),  # at its expiry it takes no more events
        (T0 - timedelta(seconds=1), T0, True),
    ],
)
def test_expired(expire: datetime | None, now: datetime, expired: bool) -> None:
    assert stream_math.expired(expire, now) is expired


@pytest.mark.parametrize(
    ("members", "first", "last", "counts"),
    [
        ([(0, (True,))], 5, 5, [1]),
        ([(0, (False,)), (1, (True,)), (2, (True,))], 1, 9, [2]),
        ([(2, (False,))], 1, 1, [0]),
    ],
)
def test_aggregate(
    members: list[tuple[int, tuple[bool, ...]]],
    first: int,
    last: int,
    counts: list[int],
) -> None:
    events = [ev(5), ev(9), ev(1)]
    got = [0]
    span = stream_math.aggregate(members, events, got)
    assert span == (T0 + timedelta(seconds=first), T0 + timedelta(seconds=last))
    assert got == counts


def test_new_stream_row_and_extend() -> None:
    trigger = Trig(2, delay=10)
    entry = Pending(trigger, (("instance_id", "i-1"),), "k" * 64)
    events = [ev(5), ev(3), ev(9)]
    row = stream_math.new_stream_row(entry, [(0, (True,)), (1, (False,))], events, T0)
    assert row["state"] == int(StreamState.ACTIVE)
    assert row["dist_key"] == row["open_key"] == "k" * 64
    assert row["distinguishing_traits"] == '{"instance_id":"i-1"}'
    assert (row["first_event"], row["last_event"]) == (
        T0 + timedelta(seconds=3),
        T0 + timedelta(seconds=5),
    )
    assert row["expire_timestamp"] == T0 + timedelta(seconds=5, hours=1)
    assert (row["fire_counts"], row["fire_timestamp"], row["event_count"]) == (
        "1",
        None,
        2,
    )
    stored = {**row, "id": 7}
    later = T0 + timedelta(minutes=1)
    update = stream_math.extend(entry, stored, [(2, (True,))], events, later)
    assert update["b_id"] == 7
    assert update["last_event"] == T0 + timedelta(seconds=9)
    assert update["first_event"] == T0 + timedelta(seconds=3)
    assert (update["fire_counts"], update["event_count"]) == ("2", 3)
    assert update["fire_timestamp"] == later + timedelta(seconds=10)
    # once set, the fire time never moves
    fired = {**stored, **update, "id": 7}
    again = stream_math.extend(
        entry, fired, [(2, (True,))], events, later + timedelta(hours=1)
    )
    assert again["fire_timestamp"] == update["fire_timestamp"]


def test_stream_key_is_typed() -> None:
    assert stream_math.stream_key("t", [("n", 512)]) != stream_math.stream_key(
        "t", [("n", "512")]
    )
    assert len(stream_math.stream_key("t", [("n", 512)])) == 64
