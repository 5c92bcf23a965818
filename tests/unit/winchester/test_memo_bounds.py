"""Ingest's memos stay bounded in entries and, all full together, in memory.

``winchester-db ingest`` and ``yagi-event`` must stay under 100 MB however long
they run: every memo on the ingest path empties itself when full, and full
they hold about 10 MB together, not the 140 MB the old sizes allowed.
"""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from distiller import convert
from distiller.plugins import split
from winchester import batch
from winchester.storage import bulk, values
from winchester.timex.values import period_function

DAY = period_function("day")
START = datetime(2024, 1, 1, tzinfo=UTC)


def _ids(n: int) -> Iterator[str]:
    return (str(uuid.uuid4()) for _ in range(n))


def _hash_values(n: int) -> None:
    for text in _ids(n):
        values.value_hash(text)


def _stream_keys(n: int) -> None:
    for i, text in enumerate(_ids(n)):
        when = DAY(START + timedelta(seconds=i * 37))
        batch._stream_key("test_trigger", (("instance_id", text), ("timestamp", when)))


def _timestamps(n: int) -> None:
    for i in range(n):
        moment = START + timedelta(seconds=i * 7, microseconds=i)
        convert.to_datetime(moment.strftime("%Y-%m-%d %H:%M:%S.%f"))


def _pieces(n: int) -> None:
    plugin = split.SplitPlugin(separator=".", segment=1, max_split=1)
    for text in _ids(n):
        plugin.trait_value([("publisher_id", f"compute.{text}.example.com")])


def _rows(n: int) -> None:
    for i in range(0, n, 20):
        bulk.row_pieces([(name, i * 7919 + name) for name in range(20)])


#: (memo, its size limit, what fills it with n new entries)
MEMOS: list[tuple[dict[Any, Any], int, Callable[[int], None]]] = [
    (values._HASHES, values._HASH_CACHE_SIZE, _hash_values),
    (batch._KEYS, batch._KEYS_SIZE, _stream_keys),
    (convert._PARSED, convert._PARSED_SIZE, _timestamps),
    (bulk._ROW_TEXT, bulk._ROW_TEXT_SIZE, _rows),
]


@pytest.fixture(autouse=True)
def _empty_memos() -> Iterator[None]:
    for memo, _, _ in MEMOS:
        memo.clear()
    split._SHARED.clear()
    yield
    for memo, _, _ in MEMOS:
        memo.clear()
    split._SHARED.clear()


@pytest.mark.parametrize(
    "memo, limit, fill", MEMOS, ids=["hashes", "stream keys", "timestamps", "row text"]
)
def test_a_memo_never_holds_more_than_its_limit(
    memo: dict[Any, Any], limit: int, fill: Callable[[int], None]
) -> None:
    fill(limit + limit // 2)
    assert 0 < len(memo) <= limit


def test_plugins_that_split_alike_share_one_bounded_cache() -> None:
    first = split.SplitPlugin(separator=".", segment=1)
    second = split.SplitPlugin(separator=".", segment=1)
    other = split.SplitPlugin(separator=".", segment=0)
    assert first._pieces is second._pieces
    assert other._pieces is not first._pieces
    assert first.trait_value([("p", "compute.host1")]) == "host1"
    assert other.trait_value([("p", "compute.host1")]) == "compute"
    _pieces(split._PIECES_SIZE + 10)
    assert len(first._pieces) <= split._PIECES_SIZE


def test_every_memo_full_at_once_holds_under_14_megabytes() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _, limit, fill in MEMOS:
            fill(limit - 1)  # one short of full: emptying would hide the size
        _pieces(split._PIECES_SIZE - 1)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(len(memo) >= limit - 1 for memo, limit, _ in MEMOS)
    assert held < 14_000_000, f"the memos hold {held / 1e6:.1f} MB when full"
