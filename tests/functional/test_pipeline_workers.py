"""pipeline-worker processes on MariaDB: many at once, and one killed mid-pipeline.

Each commit of the test handler inserts a row into its own table
(tests/support/handlers.py), so the tests count real side effects rather than
the workers' own bookkeeping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from distiller import Event
from tests.support.handlers import create_table, runs
from tests.support.waiting import wait_for
from winchester.clock import FixedClock
from winchester.config.triggers import build_triggers
from winchester.ingest import TriggerManager
from winchester.states import StreamState
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
TRIGGER = {
    "name": "per_instance",
    "distinguished_by": ["instance_id"],
    "expiration": "$last + 30d",
    "fire_pipeline": "effects",
    "match_criteria": [{"event_type": "compute.*"}],
    "fire_criteria": [{"event_type": "compute.instance.exists"}],
}


def prepare(url: str, streams: int, events_per_stream: int = 3) -> list[int]:
    """``streams`` streams ready to fire; returns their ids."""
    engine = connect(url)
    upgrade(engine)
    create_table(engine)
    manager = TriggerManager(engine, build_triggers([TRIGGER]), FixedClock(T0))
    batch: list[Event] = []
    for n in range(streams):
        for k in range(events_per_stream):
            kind = (
                "compute.instance.exists"
                if k == events_per_stream - 1
                else "compute.instance.update"
            )
            batch.append(
                Event(
                    kind,
                    f"m-{n}-{k}",
                    T0 + timedelta(seconds=k),
                    {"instance_id": f"i-{n}"},
                )
            )
        if len(batch) >= 1500:
            manager.add_events(batch)
            batch = []
    manager.add_events(batch)
    with engine.connect() as conn:
        ids = conn.execute(sa.select(schema.stream.c.id)).scalars().all()
    engine.dispose()
    assert len(ids) == streams
    return list(ids)


def write_config(
    tmp_path: Path, url: str, *, batch: int, lease: float, sleep: float = 0.0
) -> Path:
    (tmp_path / "triggers.yaml").write_text(
        "- name: per_instance\n"
        "  distinguished_by: [instance_id]\n"
        "  expiration: $last + 30d\n"
        "  fire_pipeline: effects\n"
        "  match_criteria: [{event_type: 'compute.*'}]\n"
        "  fire_criteria: [{event_type: compute.instance.exists}]\n"
    )
    (tmp_path / "pipelines.yaml").write_text(
        f"effects:\n  - name: effects\n    params: {{url: '{url}', sleep: {sleep}}}\n"
    )
    config = tmp_path / "winchester.yaml"
    config.write_text(
        f"database: {{url: '{url}'}}\n"
        "trigger_definitions: triggers.yaml\n"
        "pipeline_config: pipelines.yaml\n"
        "pipeline_handlers: {effects: 'tests.support.handlers:SideEffectHandler'}\n"
        f"pipeline_worker_batch_size: {batch}\n"
        "pipeline_worker_delay: 0.2\n"
        f"lease_seconds: {lease}\n"
        "max_attempts: 5\n"
        "log_level: WARNING\n"
    )
    return config


def worker(config: Path, name: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "winchester.worker_cli",
            "-c",
            str(config),
            "--name",
            name,
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def states(url: str) -> dict[int, int]:
    engine = connect(url)
    with engine.connect() as conn:
        found = dict(
            conn.execute(sa.select(schema.stream.c.id, schema.stream.c.state)).all()
        )
    engine.dispose()
    return found


def test_four_workers_run_each_stream_exactly_once(
    mysql_url: str, tmp_path: Path
) -> None:
    ids = prepare(mysql_url, 2000)
    config = write_config(tmp_path, mysql_url, batch=50, lease=300)
    processes = [worker(config, f"w{k}", "--once") for k in range(4)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
    assert runs(mysql_url) == dict.fromkeys(ids, 1)  # every pipeline committed once
    assert states(mysql_url) == {}  # all completed (and purged): none left firing


def test_a_worker_killed_mid_pipeline_is_taken_over(
    mysql_url: str, tmp_path: Path
) -> None:
    ids = prepare(mysql_url, 40)
    config = write_config(tmp_path, mysql_url, batch=10, lease=2, sleep=0.1)
    victim = worker(config, "victim")
    # Some batches committed (10 streams each, 0.1 s a stream) and inside another.
    wait_for(lambda: len(runs(mysql_url)) >= 15, 120, "the victim's first pipelines")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    before = runs(mysql_url)  # once it is dead: it ran on until the signal
    assert 0 < len(before) < len(ids)
    assert StreamState.FIRING in set(
        states(mysql_url).values()
    )  # held by the dead worker
    rescuer = worker(config, "rescuer")
    wait_for(lambda: not states(mysql_url), 120, "the rescuer to complete every stream")
    rescuer.send_signal(signal.SIGTERM)
    _, err = rescuer.communicate(timeout=60)
    assert rescuer.returncode == 0, err[-2000:]
    assert states(mysql_url) == {}  # the rescuer completed everything
    after = runs(mysql_url)
    assert set(after) == set(ids)
    repeated = {stream_id for stream_id, count in after.items() if count > 1}
    # A side effect repeats only by design: for streams the victim had committed
    # in its last, unfinished batch (at most one batch), and at most once more.
    assert all(after[s] == 2 for s in repeated)
    assert len(repeated) <= 10
    assert set(before) >= repeated or not repeated
