"""stacktach.batchtuning.batch_tuning: fewer young collections and a shorter
switch interval inside, cycles still freed, and the interpreter's settings
back as they were on the way out."""

from __future__ import annotations

import gc
import sys
import threading
import weakref

import pytest

from stacktach.batchtuning import GEN0_THRESHOLD, SWITCH_INTERVAL, batch_tuning


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_inside_young_collections_are_rarer_and_what_lived_before_is_frozen() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    interval = sys.getswitchinterval()
    assert interval > SWITCH_INTERVAL  # CPython's default, 5 ms
    with batch_tuning():
        assert gc.get_threshold() == (GEN0_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen  # never walked again inside
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
    assert sys.getswitchinterval() == interval


def test_cycles_are_still_freed_inside_without_an_explicit_collect() -> None:
    with batch_tuning():
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
        with batch_tuning():
            inside.set()
            assert leave.wait(10)

    thread = threading.Thread(target=other)
    with batch_tuning():
        with batch_tuning():
            pass
        assert gc.get_threshold()[0] == GEN0_THRESHOLD  # the inner one left
        thread.start()
        assert inside.wait(10)
    assert gc.get_threshold()[0] == GEN0_THRESHOLD  # the thread is still inside
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    leave.set()
    thread.join(10)
    assert gc.get_threshold() == before
    assert sys.getswitchinterval() > SWITCH_INTERVAL


def test_an_exception_inside_puts_the_settings_back() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    interval = sys.getswitchinterval()
    with pytest.raises(ZeroDivisionError), batch_tuning():
        _ = 1 / 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
    assert sys.getswitchinterval() == interval
