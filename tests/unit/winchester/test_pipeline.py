"""The pipeline worker on every database: firing, failures, leases, retention."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from distiller import Event
from winchester import timex
from winchester.clock import FixedClock
from winchester.config.triggers import build_triggers
from winchester.handlers.base import PipelineHandler
from winchester.ingest import TriggerManager
from winchester.pipeline import PipelineWorker, TrimSettings
from winchester.states import StreamState
from winchester.storage import lifecycle, schema
from winchester.storage.engine import connect, run_transaction
from winchester.storage.lifecycle import Backoff
from winchester.storage.migrate import upgrade

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)

TRIGGERS = [
    {
        "name": "per_instance",
        "distinguished_by": ["instance_id"],
        "expiration": "$last + 1h",
        "fire_pipeline": "fire",
        "expire_pipeline": "expire",
        "match_criteria": [{"event_type": "compute.*"}],
        "fire_criteria": [{"event_type": "compute.instance.exists"}],
    },
    {
        "name": "audit_results",
        "distinguished_by": ["instance_id"],
        "expiration": "$last + 1h",
        "fire_pipeline": "fire",
        "match_criteria": [{"event_type": "audit.*"}],
        "fire_criteria": [{"event_type": "audit.done"}],
    },
]


@dataclass
class Recorder(PipelineHandler):
    """Records calls; can fail, and can emit a new event per stream."""

    fail_handle: bool = False
    fail_commit: bool = False
    emit: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def handle_events(
        self, events: list[dict[str, Any]], env: dict[str, Any]
    ) -> list[dict[str, Any]]:
        self.calls.append(
            (
                "handle",
                (
                    env["stream_id"],
                    env["stream_state"],
                    [e["message_id"] for e in events],
                ),
            )
        )
        if self.fail_handle:
            raise ValueError("bad stream")
        if self.emit:
            last = events[-1]
            return [
                *events,
                {
                    "event_type": "audit.done",
                    "message_id": f"audit-{last['message_id']}",
                    "timestamp": last["timestamp"],
                    "instance_id": last["instance_id"],
                    "ok": True,
                },
            ]
        return events

    def commit(self) -> None:
        self.calls.append(("commit", None))
        if self.fail_commit:
            raise ConnectionError("publish failed")

    def rollback(self) -> None:
        self.calls.append(("rollback", None))


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = connect(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


class World:
    def __init__(self, engine: Engine, **worker_options: Any) -> None:
        self.engine = engine
        self.triggers = build_triggers(TRIGGERS)
        self.clock = FixedClock(T0)
        self.wall = T0
        self.manager = TriggerManager(engine, self.triggers, self.clock)
        self.fire = Recorder()
        self.expire = Recorder()
        self.worker = self.make_worker("w1", **worker_options)

    def make_worker(self, name: str, **options: Any) -> PipelineWorker:
        options.setdefault("pipelines", {"fire": [self.fire], "expire": [self.expire]})
        return PipelineWorker(
            self.engine,
            triggers={t.name: t for t in self.triggers},
            clock=self.clock,
            manager=self.manager,
            name=name,
            backoff=Backoff(base=10, cap=60),
            wall=lambda: self.wall,
            **options,
        )

    def add(
        self, n: int, event_type: str = "compute.instance.update", instance: str = "i-1"
    ) -> None:
        self.manager.add_events(
            [
                Event(
                    event_type,
                    f"m-{n}",
                    T0 + timedelta(seconds=n),
                    {"instance_id": instance},
                )
            ]
        )

    def streams(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            stream = schema.stream
            return [
                dict(r)
                for r in conn.execute(
                    sa.select(stream).order_by(stream.c.id)
                ).mappings()
            ]


def test_a_ready_stream_fires_once_and_is_purged(engine: Engine) -> None:
    world = World(engine)
    world.add(1)
    world.add(2, "compute.instance.exists")
    world.add(3, instance="i-2")  # not ready: stays
    assert world.worker.run_once() == 1
    assert world.fire.calls == [
        ("handle", (1, "firing", ["m-1", "m-2"])),
        ("commit", None),
    ]
    assert [s["state"] for s in world.streams()] == [StreamState.ACTIVE]
    assert world.worker.run_once() == 0  # nothing fires twice
    with engine.connect() as conn:  # events are kept, links of the purged stream go
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.event)).scalar()
            == 3
        )
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(schema.stream_event)
            ).scalar()
            == 1
        )


def test_completed_streams_are_kept_when_purge_is_off(engine: Engine) -> None:
    world = World(engine, purge_completed=False)
    world.add(1, "compute.instance.exists")
    world.worker.run_once()
    [stream] = world.streams()
    assert stream["state"] == StreamState.COMPLETED and stream["lease_owner"] is None


def test_events_a_handler_emits_are_stored_and_matched(engine: Engine) -> None:
    world = World(engine)
    world.fire.emit = True
    world.add(1, "compute.instance.exists")
    world.worker.run_once()  # fires per_instance, emits audit.done
    [audit] = world.streams()
    assert audit["trigger_name"] == "audit_results" and audit["fire_timestamp"] == T0
    world.fire.emit = False
    world.worker.run_once()  # the new stream fires in turn
    assert world.fire.calls[-2] == ("handle", (audit["id"], "firing", ["audit-m-1"]))


def test_expired_streams_run_the_expire_pipeline(engine: Engine) -> None:
    world = World(engine)
    world.add(1)
    assert world.worker.run_once() == 0
    world.clock.set(T0 + timedelta(hours=2))
    assert world.worker.run_once() == 1
    assert world.expire.calls[0] == ("handle", (1, "expiring", ["m-1"]))
    assert world.fire.calls == []


def test_a_failing_pipeline_retries_with_backoff_then_errors(engine: Engine) -> None:
    world = World(engine, max_attempts=2)
    world.fire.fail_handle = True
    world.add(1, "compute.instance.exists")
    world.worker.run_once()
    [stream] = world.streams()
    assert stream["state"] == StreamState.RETRY_FIRE
    assert stream["retry_after"] == T0 + timedelta(seconds=10)
    assert "ValueError in handle_events: bad stream" in stream["last_error"]
    assert ("rollback", None) in world.fire.calls and (
        "commit",
        None,
    ) not in world.fire.calls
    assert world.worker.run_once() == 0  # backing off
    world.wall = T0 + timedelta(seconds=11)
    world.worker.run_once()
    [stream] = world.streams()
    assert stream["state"] == StreamState.ERROR and stream["attempts"] == 2


def test_commit_failure_is_an_error_and_a_reset_fires_again(engine: Engine) -> None:
    world = World(engine, max_attempts=1)
    world.fire.fail_commit = True
    world.add(1, "compute.instance.exists")
    world.worker.run_once()
    [stream] = world.streams()
    assert stream["state"] == StreamState.ERROR
    assert (
        stream["last_error"]
        == "commit of Recorder failed: ConnectionError: publish failed"
    )
    world.fire.fail_commit = False
    assert (
        run_transaction(engine, lambda c: lifecycle.reset(c, stream["id"]))
        == StreamState.RETRY_FIRE
    )
    assert run_transaction(engine, lambda c: lifecycle.reset(c, stream["id"])) is None
    assert world.worker.run_once() == 1
    assert world.streams() == []
    assert world.fire.calls.count(("commit", None)) == 2


def test_unknown_pipeline_or_trigger_errors_without_running(engine: Engine) -> None:
    world = World(engine)
    world.worker.pipelines = {"expire": [world.expire]}  # "fire" is gone
    world.add(1, "compute.instance.exists")
    world.worker.run_once()
    [stream] = world.streams()
    assert stream["state"] == StreamState.ERROR
    assert stream["last_error"] == "unknown pipeline 'fire' (trigger 'per_instance')"
    with engine.begin() as conn:
        conn.execute(
            schema.stream.update().values(
                trigger_name="gone", state=int(StreamState.RETRY_FIRE)
            )
        )
    world.worker.run_once()
    [stream] = world.streams()
    assert (
        stream["state"] == StreamState.ERROR
        and "unknown trigger 'gone'" in stream["last_error"]
    )
    assert world.fire.calls == [] and world.expire.calls == []


def test_a_lapsed_lease_is_taken_back_and_another_worker_completes(
    engine: Engine,
) -> None:
    world = World(engine, lease=timedelta(seconds=30))
    world.add(1, "compute.instance.exists")
    # worker w1 claims, then "dies" before finishing
    claimed = run_transaction(
        engine,
        lambda c: lifecycle.claim(
            c,
            "fire",
            now=T0,
            wall=T0,
            owner="w1",
            lease=timedelta(seconds=30),
            limit=10,
        ),
    )
    assert len(claimed) == 1 and world.streams()[0]["state"] == StreamState.FIRING
    other = world.make_worker("w2", lease=timedelta(seconds=30))
    assert other.run_once() == 0  # the lease still holds
    world.wall = T0 + timedelta(seconds=31)
    other.run_once()  # takes it back: retry_fire after a backoff
    assert world.streams()[0]["state"] == StreamState.RETRY_FIRE
    world.wall = T0 + timedelta(seconds=50)
    assert other.run_once() == 1
    assert world.streams() == []
    # the dead worker cannot finish what it no longer holds
    assert (
        run_transaction(
            engine,
            lambda c: lifecycle.complete(c, [claimed[0].id], owner="w1", purge=True),
        )
        == []
    )


def test_claiming_closes_the_key_so_late_events_open_a_new_stream(
    engine: Engine,
) -> None:
    world = World(engine)
    world.add(1, "compute.instance.exists")
    run_transaction(
        engine,
        lambda c: lifecycle.claim(
            c, "fire", now=T0, wall=T0, owner="w1", lease=timedelta(minutes=5), limit=10
        ),
    )
    result = world.manager.add_events(
        [Event("compute.instance.update", "m-9", T0, {"instance_id": "i-1"})]
    )
    assert result.streams_created == 1 and result.late_events == 1
    firing, new = world.streams()
    assert firing["event_count"] == 1 and new["event_count"] == 1


def test_trim_deletes_old_events_of_finished_streams_only(engine: Engine) -> None:
    world = World(
        engine,
        purge_completed=False,
        trim=TrimSettings(timex.compile("$timestamp - 1d"), 100),
    )
    world.add(1, "compute.instance.exists")
    world.add(2, instance="i-2")  # an open stream: its event stays
    world.worker.run_once()
    world.clock.set(T0 + timedelta(days=2))
    world.worker.trim = None
    world.worker.run_once()  # i-2's stream expires: the expire pipeline completes it
    world.worker.trim = TrimSettings(timex.compile("$timestamp - 1d"), 100)
    with engine.begin() as conn:  # reopen i-2's stream to check open streams are safe
        conn.execute(
            schema.stream.update()
            .where(
                schema.stream.c.trigger_name == "per_instance", schema.stream.c.id == 2
            )
            .values(state=int(StreamState.ACTIVE))
        )
    assert world.worker.trim_events() == 1
    with engine.connect() as conn:
        left = conn.execute(sa.select(schema.event.c.message_id)).scalars().all()
        index = conn.execute(
            sa.select(sa.func.count()).select_from(schema.trait_index)
        ).scalar()
    assert left == ["m-2"]
    assert index == 1  # m-1's index row went with it


def test_a_stream_ready_to_fire_fires_even_when_past_its_expiry(engine: Engine) -> None:
    world = World(engine, batch_size=1)
    world.add(1, "compute.instance.exists")
    world.clock.set(T0 + timedelta(hours=5))  # past $last + 1h as well
    world.worker.run_once()
    handled = [call[1][1] for call in world.fire.calls if call[0] == "handle"]
    assert handled == ["firing"]
    assert world.expire.calls == []
