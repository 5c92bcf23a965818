"""Waiting for a condition instead of sleeping: ``wait_for(predicate, timeout, what)``.

A bare ``time.sleep`` before an assertion races the thing it waits for (an
interpreter starting, a consumer connecting, a row being committed); polling
the condition itself is both faster and reliable on a loaded machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

__all__ = ["wait_for"]


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    what: str = "the condition",
    *,
    interval: float = 0.05,
) -> T:
    """Poll ``predicate()`` until it returns something true; return that.

    Fails the test with "timed out after N s waiting for WHAT" otherwise.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
