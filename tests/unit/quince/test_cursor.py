"""The live stream's cursors: sets of ids not examined yet, and the poller's holes."""

from __future__ import annotations

import pytest

from quince.cursor import MAX_HOLES, Cursor, Tracker, Unseen, parse_cursor


def ids_in(unseen: Unseen, upto: int = 40) -> set[int]:
    return {i for i in range(1, upto + 1) if unseen.contains(i)}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Unseen(10), Unseen(20)),
        (Unseen(10, ((3, 5),)), Unseen(20, ((4, 8), (12, 12)))),
        (Unseen(30, ((1, 2), (10, 25))), Unseen(15, ((2, 11),))),
        (Unseen(0), Unseen(0)),
        (Unseen(20, ((5, 5), (7, 9))), Unseen(20, ((6, 8),))),
    ],
)
def test_intersect_is_the_ids_neither_examined(a: Unseen, b: Unseen) -> None:
    both = a.intersect(b)
    assert ids_in(both) == ids_in(a) & ids_in(b)
    assert both == b.intersect(a)


def test_upto_leaves_the_ids_above_unexamined() -> None:
    s = Unseen(20, ((3, 5), (12, 15)))
    assert ids_in(s.upto(13)) == ids_in(s) | set(range(14, 41))
    assert s.upto(25) == s


def test_text_round_trips_and_bad_text_is_refused() -> None:
    cursor = Cursor(Unseen(1234, ((1200, 1210), (1220, 1220))), Unseen(57))
    assert cursor.text() == "1234,1200-1210,1220-1220:57"
    assert parse_cursor(cursor.text()) == cursor
    for bad in ("", "12", "x:1", "5,6-9:1", "10,4-2:1", "10,1-5,3-4:0", "-1:0"):
        with pytest.raises(ValueError):
            parse_cursor(bad)


def test_tracker_keeps_holes_until_filled_or_settled() -> None:
    tracker = Tracker.from_ids([5, 6, 9], now=0.0)
    assert tracker.unseen() == Unseen(9, ((7, 8),))
    tracker.mark(12, now=1.0)  # 10, 11 may still commit
    tracker.mark(8, now=1.0)  # a late commit fills part of a hole
    assert tracker.unseen() == Unseen(12, ((7, 7), (10, 11)))
    tracker.settle(now=30.0, settle_seconds=29.5)  # the hole of t=0 is forgotten
    assert tracker.unseen() == Unseen(12, ((10, 11),))
    tracker.settle(now=60.0, settle_seconds=29.5)
    assert tracker.unseen() == Unseen(12)


def test_tracker_keeps_at_most_max_holes_the_newest() -> None:
    tracker = Tracker(0)
    for n in range(MAX_HOLES + 10):
        tracker.mark(2 * n + 2, now=float(n))
    tracker.settle(now=float(MAX_HOLES + 10), settle_seconds=1e9)
    holes = tracker.unseen().holes
    assert len(holes) == MAX_HOLES and holes[-1] == (2 * MAX_HOLES + 19,) * 2
