"""stacktach.gctuning.batch_gc: fewer young collections inside, cycles still
freed, and the collector's settings back as they were on the way out."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from stacktach.gctuning import GEN0_THRESHOLD, batch_gc


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_inside_young_collections_are_rarer_and_what_lived_before_is_frozen() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with batch_gc():
        assert gc.get_threshold() == (GEN0_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen  # never walked again inside
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_cycles_are_still_freed_inside_without_an_explicit_collect() -> None:
    with batch_gc():
        probe = _Node()
        gone = weakref.ref(probe)
        del probe
        kept = []
        for _ in range(3 * GEN0_THRESHOLD):  # live containers: the young count grows
            kept.append([])
            if gone() is None:
                break
        assert gone() is None, "no young collection ran"
        # far fewer than the default threshold would have needed
        assert len(kept) > 700


def test_nested_and_concurrent_uses_keep_the_outer_settings_until_the_last_leaves() -> (
    None
):
    before = gc.get_threshold()
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with batch_gc():
            inside.set()
            assert leave.wait(10)

    thread = threading.Thread(target=other)
    with batch_gc():
        with batch_gc():
            pass
        assert gc.get_threshold()[0] == GEN0_THRESHOLD  # the inner one left
        thread.start()
        assert inside.wait(10)
    assert gc.get_threshold()[0] == GEN0_THRESHOLD  # the thread is still inside
    leave.set()
    thread.join(10)
    assert gc.get_threshold() == before


def test_an_exception_inside_puts_the_settings_back() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with pytest.raises(ZeroDivisionError), batch_gc():
        _ = 1 / 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
