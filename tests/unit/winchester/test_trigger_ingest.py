"""The original's trigger behaviours, end to end through ingest (sandbox triggers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from distiller import Event
from stacktach import jsonutil
from winchester.clock import FixedClock
from winchester.config.triggers import build_triggers, load_triggers
from winchester.ingest import TriggerManager
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade
from winchester.timex import register_json

DAY = datetime(2024, 3, 10, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = connect(database_url)
    upgrade(engine)
    register_json()
    yield engine
    engine.dispose()


def event(n: int, event_type: str, at: datetime, **traits: Any) -> Event:
    return Event(event_type, f"m-{n}", at, {"instance_id": "i-1", **traits})


def exists(n: int, day: datetime, **traits: Any) -> Event:
    """An end-of-day exists, sent a few minutes after the midnight ending ``day``."""
    return event(
        n,
        "compute.instance.exists",
        day + timedelta(days=1, minutes=5),
        audit_period_beginning=day,
        audit_period_ending=day + timedelta(days=1),
        **traits,
    )


def stream_rows(engine: Engine) -> list[dict[str, Any]]:
    stream, link, ev = schema.stream, schema.stream_event, schema.event
    with engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                sa.select(stream).order_by(stream.c.first_event, stream.c.id)
            ).mappings()
        ]
        for row in rows:
            row["messages"] = sorted(
                conn.execute(
                    sa.select(ev.c.message_id)
                    .join(link, link.c.event_id == ev.c.id)
                    .where(link.c.stream_id == row["id"])
                ).scalars()
            )
            row["key"] = jsonutil.loads(row["distinguishing_traits"])
    return rows


def test_sandbox_trigger_one_stream_per_instance_day_and_eod_exists_joins_the_day(
    engine: Engine, corpus_config: Path
) -> None:
    triggers = load_triggers(corpus_config / "triggers.yaml")
    manager = TriggerManager(engine, triggers, FixedClock(DAY))
    manager.add_events(
        [
            event(1, "compute.instance.update", DAY + timedelta(hours=3)),
            event(2, "compute.instance.resize.start", DAY + timedelta(hours=9)),
            event(3, "compute.instance.update", DAY + timedelta(days=1, minutes=1)),
        ]
    )
    assert [r["messages"] for r in stream_rows(engine)] == [["m-1", "m-2"], ["m-3"]]
    assert all(r["fire_timestamp"] is None for r in stream_rows(engine))
    # the end-of-day exists arrives after midnight, yet maps to the day it audits
    result = manager.add_events([exists(4, DAY)])
    assert result.ready_to_fire == 1
    day, next_day = stream_rows(engine)
    assert day["messages"] == ["m-1", "m-2", "m-4"]
    assert day["fire_timestamp"] == DAY  # now + fire_delay 0
    assert next_day["fire_timestamp"] is None
    assert day["key"]["timestamp"].begin == DAY  # a day range as the key
    # expiry follows $last + 2d, recomputed on every event
    assert day["expire_timestamp"] == DAY + timedelta(days=3, minutes=5)


def test_fire_criteria_are_anded_and_counted_with_number(engine: Engine) -> None:
    triggers = build_triggers(
        [
            {
                "name": "two_of_each",
                "distinguished_by": ["instance_id"],
                "expiration": "$last + 1h",
                "fire_pipeline": "p",
                "match_criteria": [
                    {"event_type": "compute.*"},
                    {"event_type": "image.*"},
                ],
                "fire_criteria": [
                    {"event_type": "compute.instance.exists", "number": 2},
                    {"event_type": "image.upload"},
                ],
            }
        ]
    )
    manager = TriggerManager(engine, triggers, FixedClock(DAY))
    at = DAY + timedelta(hours=1)
    assert (
        manager.add_events([event(1, "compute.instance.exists", at)]).ready_to_fire == 0
    )
    assert (
        manager.add_events([event(2, "image.upload", at)]).ready_to_fire == 0
    )  # OR match
    assert (
        manager.add_events([event(3, "volume.attach", at)]).saved == 1
    )  # matches nothing
    assert (
        manager.add_events([event(4, "compute.instance.exists", at)]).ready_to_fire == 1
    )
    [stream] = stream_rows(engine)
    assert stream["messages"] == ["m-1", "m-2", "m-4"]
    assert stream["fire_counts"] == "2,1"


def test_typed_trait_criteria_and_missing_distinguishing_trait(engine: Engine) -> None:
    triggers = build_triggers(
        [
            {
                "name": "big",
                "distinguished_by": ["instance_id"],
                "expiration": "$last + 1h",
                "fire_pipeline": "p",
                "match_criteria": [
                    {
                        "event_type": "compute.*",
                        "traits": {"memory_mb": {"int": "> 4096"}},
                    }
                ],
                "fire_criteria": [{"event_type": "compute.instance.exists"}],
            }
        ]
    )
    manager = TriggerManager(engine, triggers, FixedClock(DAY))
    at = DAY + timedelta(hours=1)
    manager.add_events(
        [
            event(1, "compute.instance.update", at, memory_mb=8192),
            event(2, "compute.instance.update", at, memory_mb=4096),
            event(3, "compute.instance.update", at, memory_mb="8192"),  # text, not int
            Event("compute.instance.update", "m-4", at, {"memory_mb": 8192}),  # no key
        ]
    )
    assert [r["messages"] for r in stream_rows(engine)] == [["m-1"]]


def test_debug_counters_with_reasons(engine: Engine, corpus_config: Path) -> None:
    triggers = load_triggers(corpus_config / "triggers.yaml")  # debug_level: 2
    manager = TriggerManager(engine, triggers, FixedClock(DAY))
    manager.add_events(
        [
            event(1, "compute.instance.update", DAY),
            Event("image.upload", "m-2", DAY, {"instance_id": "i-1"}),
        ]
    )
    with engine.connect() as conn:
        counters = {
            name: value
            for name, value in conn.execute(
                sa.select(
                    schema.trigger_counter.c.counter, schema.trigger_counter.c.value
                )
            )
        }
    assert counters["matched"] == 1
    assert counters["new stream"] == 1
    assert sum(v for k, v in counters.items() if k.startswith("mismatch: ")) == 1
