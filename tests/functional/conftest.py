"""Fixtures for tests against real services.

A service that does not answer skips its tests, except in CI (``CI=true``) where
every service must be there and a missing one fails the run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

#: Override with STACKTACH_RABBITMQ_URL (tox passes STACKTACH_* through).
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: services are required)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """URL of a RabbitMQ that answers; skip (fail in CI) when there is none."""
    import notabene

    url = os.environ.get("STACKTACH_RABBITMQ_URL", DEFAULT_RABBITMQ_URL)
    conn: Any = notabene.connect(url, connect_timeout=3)
    try:
        conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)
    except Exception as exc:  # any failure means "no usable RabbitMQ"
        _unavailable(f"RabbitMQ not reachable at {notabene.redact_url(url)}: {exc}")
    finally:
        conn.release()
    return url
