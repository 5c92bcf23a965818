"""Fixtures for notabene unit tests: unique names and a consumer run in a thread."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

import notabene

MEMORY = "memory://"


@pytest.fixture
def name() -> str:
    """A name no other test uses (the memory transport is shared per process)."""
    return f"t{uuid.uuid4().hex[:10]}"


RunConsumer = Callable[[notabene.BatchConsumer], threading.Thread]


@pytest.fixture
def run_consumer() -> Iterator[RunConsumer]:
    """Start ``consumer.run()`` in a thread; at teardown stop it and check it ended."""
    started: list[tuple[notabene.BatchConsumer, threading.Thread]] = []
    errors: list[BaseException] = []

    def start(consumer: notabene.BatchConsumer) -> threading.Thread:
        def target() -> None:
            try:
                consumer.run()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        started.append((consumer, thread))
        return thread

    yield start
    for consumer, thread in started:
        consumer.stop()
        thread.join(10)
        assert not thread.is_alive(), "consumer did not stop"
    assert not errors, errors
