"""A notigen day through ingest and ``pipeline-worker --once``, sample configs.

The sandbox's own triggers.yaml and pipelines.yaml (its notabene step re-pointed
at an exchange and queue of this test run, on the real RabbitMQ): every
instance-day stream closed by an end-of-day .exists fires once, and the usage
audit emits .verified for it - or, with notigen's usage anomalies, .failed.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

import notabene
from distiller import Distiller
from winchester.clock import EventClock
from winchester.config.triggers import load_triggers
from winchester.ingest import TriggerManager
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade
from winchester.storage.values import decode_traits

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

ROOT = Path(__file__).resolve().parents[2]


def run_day(
    tmp: Path, corpus_config: Path, rabbitmq_url: str, *faults: str
) -> tuple[int, Counter[str], list[dict]]:
    """(end-of-day streams, counts of audit event types, the .failed events)."""
    traffic = tmp / "day.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "notigen.cli",
            "--seed",
            "11",
            "--duration",
            "1d",
            "--instances",
            "50",
            "--out",
            str(traffic),
            *faults,
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    url = f"sqlite:///{tmp / 'winchester.db'}"
    engine = connect(url)
    upgrade(engine)
    triggers = load_triggers(corpus_config / "triggers.yaml")
    manager = TriggerManager(
        engine,
        triggers,
        EventClock(engine, refresh=0),
        distiller=Distiller.from_file(corpus_config / "event_definitions.yaml"),
    )
    lines = [line for line in traffic.read_bytes().splitlines() if line.strip()]
    for start in range(0, len(lines), 500):
        manager.add_notifications(lines[start : start + 500])
    with engine.connect() as conn:
        ready = conn.execute(
            sa.select(sa.func.count())
            .select_from(schema.stream)
            .where(schema.stream.c.fire_timestamp.is_not(None))
        ).scalar_one()
    exchange = f"stt_usage_{uuid.uuid4().hex[:8]}"
    pipelines = (corpus_config / "pipelines.yaml").read_text()
    pipelines = pipelines.replace("exchange: nova", f"exchange: {exchange}")
    pipelines = pipelines.replace(
        "queue_name: monitor.info", f"queue_name: {exchange}.info"
    )
    (tmp / "pipelines.yaml").write_text(pipelines)
    (tmp / "triggers.yaml").write_text((corpus_config / "triggers.yaml").read_text())
    (tmp / "event_definitions.yaml").write_text(
        (corpus_config / "event_definitions.yaml").read_text()
    )
    config = tmp / "winchester.yaml"
    config.write_text(
        f"database: {{url: '{url}'}}\n"
        "distiller_config: event_definitions.yaml\n"
        "trigger_definitions: triggers.yaml\n"
        "pipeline_config: pipelines.yaml\n"
        "clock: event\n"
        "log_level: WARNING\n"
    )
    try:
        worker = subprocess.run(
            [
                sys.executable,
                "-m",
                "winchester.worker_cli",
                "-c",
                str(config),
                "--once",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert worker.returncode == 0, worker.stderr[-3000:]
    finally:
        with notabene.connect(rabbitmq_url) as conn:
            channel = conn.channel()
            for queue in (f"{exchange}.info", f"{exchange}.info.failed"):
                channel.queue_delete(queue)
            channel.exchange_delete(exchange)
    event, types = schema.event, schema.event_type
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(types.c.name, event.c.traits)
            .join(types, types.c.id == event.c.event_type_id)
            .where(types.c.name.like("compute.instance.exists.%"))
        ).all()
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(schema.stream)
            .where(schema.stream.c.fire_timestamp.is_not(None))
        ).scalar_one()
    engine.dispose()
    assert left == 0  # every ready stream fired (and was purged)
    counts = Counter(name for name, _ in rows)
    failed = [
        decode_traits(t) for name, t in rows if name == "compute.instance.exists.failed"
    ]
    return ready, counts, failed


def test_a_clean_day_verifies_every_instance(
    tmp_path: Path, corpus_config: Path, rabbitmq_url: str
) -> None:
    ready, counts, failed = run_day(tmp_path, corpus_config, rabbitmq_url)
    assert ready >= 50  # one per instance alive at midnight
    assert failed == []
    assert counts["compute.instance.exists.verified"] >= ready


def test_usage_anomalies_are_reported_with_their_codes(
    tmp_path: Path, corpus_config: Path, rabbitmq_url: str
) -> None:
    ready, counts, failed = run_day(
        tmp_path, corpus_config, rabbitmq_url, "--anomalies", "0.3"
    )
    # every end-of-day stream got its verdict
    assert counts["compute.instance.exists.verified"] + len(failed) >= ready
    assert failed, "no anomaly was detected"
    codes = Counter(item["error_code"] for item in failed)
    assert set(codes) <= {"U0", "U2", "U5", "U6"}, codes
    for item in failed:
        assert item["error"] and item["original_message_id"]
