"""yagi-event with a real broker, on every database: bad notifications never hold it.

Each kind of notification the database cannot hold is mixed with good traffic:
every good one is stored, each bad one is dead-lettered with a reason naming the
field and its length, and the consumer keeps running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.test_yagi_processes import Setup, stop

pytestmark = [pytest.mark.mysql, pytest.mark.rabbitmq, pytest.mark.slow]


@pytest.fixture
def setup(
    tmp_path: Path, rabbitmq_url: str, database_url: str, corpus_config: Path
) -> Iterator[Setup]:
    """SQLite, MariaDB and PostgreSQL in turn (``database_url`` is parametrised)."""
    world = Setup(tmp_path, rabbitmq_url, database_url, corpus_config)
    yield world
    world.cleanup()


def bad(n: int, **changes: Any) -> bytes:
    body: dict[str, Any] = {
        "event_type": "compute.instance.update",
        "message_id": f"bad-{n}",
        "timestamp": "2024-01-15 10:00:00",
        "publisher_id": "compute.h1",
        "payload": {"instance_id": "i-bad", "memory_mb": 512},
    }
    payload = changes.pop("payload", {})
    body.update(changes)
    body["payload"].update(payload)
    return json.dumps(body).encode()


def test_bad_notifications_are_dead_lettered_and_the_rest_stored(setup: Setup) -> None:
    lines = setup.notifications(1500)
    want = setup.expected(lines)
    poison = {
        bad(1, message_id="m" * 300): ("message_id", "300 characters"),
        bad(2, event_type="compute.instance." + "x" * 300): ("event type", "317"),
        bad(3, payload={"instance_id": "k" * 70_000}): ("distinguishing", "bytes"),
        bad(4, payload={"display_name": "d" * (2 * 1024 * 1024)}): (
            "max_notification_size",
            "bytes",
        ),
    }
    mixed = lines[:500] + list(poison) + lines[500:]
    setup.publish(mixed)
    consumer = setup.start(setup.write_config())
    setup.wait_for(len(want))
    deadline = time.monotonic() + 60
    failed: list[tuple[bytes, dict[str, Any]]] = []
    while len(failed) < len(poison) and time.monotonic() < deadline:
        failed.extend(setup.drain_failed())
        time.sleep(0.5)
    assert consumer.poll() is None  # still running
    stop(consumer)
    stored = setup.stored()
    assert len(stored) == len(set(stored)) and set(stored) == want
    assert sorted(body for body, _ in failed) == sorted(poison)
    for body, headers in failed:
        reason = headers["x-reject-reason"]
        for part in poison[body]:
            assert part in reason, reason
