"""Helpers shared by notabene unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        event.wait(0.01)
    pytest.fail("condition not reached in time")
