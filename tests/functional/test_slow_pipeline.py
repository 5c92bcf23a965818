"""Two pipeline-worker processes and a handler slower than the lease.

The handler's commit takes longer than ``lease_seconds``. Before leases were
renewed, the other worker took such streams back after the lease lapsed and ran
their side effects a second time; now every commit runs exactly once, on
SQLite, MariaDB and PostgreSQL. Side effects are counted in the handler's own
table (tests/support/handlers.py).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.functional.test_pipeline_workers import prepare, states, worker
from tests.support.handlers import runs
from winchester.states import StreamState

pytestmark = [pytest.mark.slow]

LEASE = 2.0
COMMIT_SLEEP = 3.0  # longer than the lease
UNFINISHED = {
    StreamState.ACTIVE,
    StreamState.FIRING,
    StreamState.EXPIRING,
    StreamState.RETRY_FIRE,
    StreamState.RETRY_EXPIRE,
}


def write_config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "triggers.yaml").write_text(
        "- name: per_instance\n"
        "  distinguished_by: [instance_id]\n"
        "  expiration: $last + 30d\n"
        "  fire_pipeline: effects\n"
        "  match_criteria: [{event_type: 'compute.*'}]\n"
        "  fire_criteria: [{event_type: compute.instance.exists}]\n"
    )
    (tmp_path / "pipelines.yaml").write_text(
        "effects:\n  - name: effects\n"
        f"    params: {{url: '{url}', commit_sleep: {COMMIT_SLEEP}}}\n"
    )
    config = tmp_path / "winchester.yaml"
    config.write_text(
        f"database: {{url: '{url}'}}\n"
        "trigger_definitions: triggers.yaml\n"
        "pipeline_config: pipelines.yaml\n"
        "pipeline_handlers: {effects: 'tests.support.handlers:SideEffectHandler'}\n"
        "pipeline_worker_batch_size: 2\n"
        "pipeline_worker_delay: 0.2\n"
        f"lease_seconds: {LEASE}\n"
        "max_attempts: 3\n"
        "log_level: WARNING\n"
    )
    return config


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_handler_slower_than_the_lease_commits_once(
    database_url: str, tmp_path: Path
) -> None:
    ids = prepare(database_url, 6)
    config = write_config(tmp_path, database_url)
    first = worker(config, "w1")
    # The second starts while the first is inside its first batch, whose leases
    # would have lapsed by then without renewal.
    wait_for(lambda: runs(database_url), 60, "the first commit")
    second = worker(config, "w2")
    try:
        wait_for(
            lambda: not UNFINISHED & set(states(database_url).values()),
            180,
            "every stream finished",
        )
    finally:
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=60) for process in (first, second)]
    for process, (_, err) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
    assert runs(database_url) == dict.fromkeys(ids, 1)  # every commit ran once
    assert states(database_url) == {}  # all completed, none in error
    assert "lost the lease" not in outputs[0][1] + outputs[1][1]
