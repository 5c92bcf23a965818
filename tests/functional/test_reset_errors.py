"""A trigger removed from triggers.yaml while its streams are open, and
``pipeline-worker --reset-errors`` once it is back - through the real command.

Its streams go to error (ready to fire) or expire_error (expired) with the
reason, logged at WARNING once for the trigger with the count; the reset puts
them back and the next run completes them, each commit exactly once.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from distiller import Event
from tests.support.handlers import create_table, runs
from winchester.clock import FixedClock
from winchester.config.triggers import build_triggers
from winchester.ingest import TriggerManager
from winchester.states import StreamState
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
KEPT = """- name: per_instance
  distinguished_by: [instance_id]
  expiration: $last + 1h
  fire_pipeline: effects
  expire_pipeline: effects
  match_criteria: [{event_type: 'compute.*'}]
  fire_criteria: [{event_type: compute.instance.exists}]
"""
GONE = """- name: gone
  distinguished_by: [tenant_id]
  expiration: $last + 1h
  fire_pipeline: effects
  expire_pipeline: effects
  match_criteria: [{event_type: 'identity.*'}]
  fire_criteria: [{event_type: identity.done}]
"""


def prepare(url: str) -> dict[str, list[int]]:
    """1 stream of per_instance, 4 of gone ready to fire and 1 of gone expired."""
    import yaml

    engine = connect(url)
    upgrade(engine)
    create_table(engine)
    triggers = build_triggers(yaml.safe_load(KEPT) + yaml.safe_load(GONE))
    manager = TriggerManager(engine, triggers, FixedClock(T0))
    events = [Event("compute.instance.exists", "c-1", T0, {"instance_id": "i-1"})]
    for n in range(4):
        events.append(Event("identity.done", f"g-{n}", T0, {"tenant_id": f"t-{n}"}))
    events.append(Event("identity.update", "g-x", T0, {"tenant_id": "t-x"}))
    manager.add_events(events)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(schema.stream.c.id, schema.stream.c.trigger_name)
        ).all()
    engine.dispose()
    found: dict[str, list[int]] = {}
    for stream_id, trigger in rows:
        found.setdefault(trigger, []).append(stream_id)
    return found


def states(url: str) -> dict[int, tuple[int, str | None]]:
    engine = connect(url)
    stream = schema.stream
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(stream.c.id, stream.c.state, stream.c.last_error)
        ).all()
    engine.dispose()
    return {row.id: (row.state, row.last_error) for row in rows}


def write_config(tmp_path: Path, url: str, triggers: str) -> Path:
    (tmp_path / "triggers.yaml").write_text(triggers)
    (tmp_path / "pipelines.yaml").write_text(
        f"effects:\n  - name: effects\n    params: {{url: '{url}'}}\n"
    )
    config = tmp_path / "winchester.yaml"
    config.write_text(
        f"database: {{url: '{url}'}}\n"
        "trigger_definitions: triggers.yaml\n"
        "pipeline_config: pipelines.yaml\n"
        "pipeline_handlers: {effects: 'tests.support.handlers:SideEffectHandler'}\n"
        "pipeline_worker_batch_size: 2\n"
        "pipeline_worker_delay: 0.1\n"
        "log_level: WARNING\n"
    )
    return config


def pipeline_worker(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "winchester.worker_cli", "-c", str(config), *args],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_streams_of_a_removed_trigger_error_then_reset(
    database_url: str, tmp_path: Path
) -> None:
    streams = prepare(database_url)
    config = write_config(tmp_path, database_url, KEPT)  # "gone" was removed

    done = pipeline_worker(config, "--once", "--name", "w1")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "'gone'" in line]
    assert len(warnings) == 1, done.stderr  # once for the trigger, not per stream
    assert " WARNING " in warnings[0] and "--reset-errors --trigger gone" in warnings[0]
    assert "of its streams put in error" in warnings[0]
    left = states(database_url)
    assert set(left) == set(streams["gone"])  # per_instance completed
    assert sorted(state for state, _ in left.values()) == [StreamState.ERROR] * 4 + [
        StreamState.EXPIRE_ERROR
    ]
    assert all(
        "unknown trigger 'gone'" in (reason or "") for _, reason in left.values()
    )
    assert set(runs(database_url)) == set(streams["per_instance"])

    # Still undefined: resetting it is refused in one line; a reset of all keeps it.
    refused = pipeline_worker(config, "--reset-errors", "--trigger", "gone")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "not defined" in refused.stderr
    kept = pipeline_worker(config, "--reset-errors")
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.splitlines()[0] == "reset 0 errored streams"
    assert "trigger gone: 5 streams stay in error" in kept.stdout

    (tmp_path / "triggers.yaml").write_text(KEPT + GONE)  # the definition returns
    reset = pipeline_worker(config, "--reset-errors", "--trigger", "gone")
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.splitlines() == [
        "reset 5 errored streams",
        "  trigger gone: 4 to retry_fire, 1 to retry_expire",
    ]
    assert sorted(state for state, _ in states(database_url).values()) == [
        StreamState.RETRY_FIRE
    ] * 4 + [StreamState.RETRY_EXPIRE]

    again = pipeline_worker(config, "--once", "--name", "w1")
    assert again.returncode == 0, again.stderr
    assert states(database_url) == {}
    assert runs(database_url) == dict.fromkeys(
        streams["per_instance"] + streams["gone"], 1
    )


def test_trigger_without_reset_errors_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'w.db'}", KEPT)
    done = pipeline_worker(config, "--trigger", "gone")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1  # one line, no traceback
    assert ": --trigger needs --reset-errors" in done.stderr
