"""Lease renewal on every database: the renewer keeps, and detects lost, leases."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.unit.winchester.test_pipeline import T0, Recorder, World, engine
from winchester.lease_renewer import LeaseRenewer
from winchester.states import StreamState
from winchester.storage import lifecycle, schema
from winchester.storage.engine import run_transaction

__all__ = ["engine"]  # the fixture, re-exported for pytest

LEASE = timedelta(seconds=30)


def lease_of(engine: Engine, stream_id: int) -> tuple[str | None, Any]:
    stream = schema.stream
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(stream.c.lease_owner, stream.c.lease_expires).where(
                stream.c.id == stream_id
            )
        ).one()
    return row.lease_owner, row.lease_expires


def claim(engine: Engine, owner: str = "w1") -> list[lifecycle.Claimed]:
    return run_transaction(
        engine,
        lambda c: lifecycle.claim(
            c, "fire", now=T0, wall=T0, owner=owner, lease=LEASE, limit=10
        ),
    )


def test_renew_extends_held_leases_and_names_the_lost(engine: Engine) -> None:
    world = World(engine)
    world.add(1, "compute.instance.exists", instance="i-1")
    world.add(2, "compute.instance.exists", instance="i-2")
    first, second = claim(engine)
    with engine.begin() as conn:  # another worker took the second one over
        conn.execute(
            schema.stream.update()
            .where(schema.stream.c.id == second.id)
            .values(lease_owner="w2")
        )
    later = T0 + timedelta(seconds=20)
    lost = run_transaction(
        engine,
        lambda c: lifecycle.renew(
            c, [first.id, second.id], owner="w1", wall=later, lease=LEASE
        ),
    )
    assert lost == {second.id}
    assert lease_of(engine, first.id) == ("w1", later + LEASE)
    assert lease_of(engine, second.id) == ("w2", T0 + LEASE)  # untouched


def test_the_background_renewer_keeps_a_slow_pipelines_lease(engine: Engine) -> None:
    """The handler waits until the renewer has moved the lease in the database."""
    world = World(engine, lease=LEASE, renew_every=0.05)
    world.add(1, "compute.instance.exists")
    [stream] = world.streams()
    renewed: list[Any] = []

    class Slow(Recorder):
        def handle_events(
            self, events: list[dict[str, Any]], env: dict[str, Any]
        ) -> list[dict[str, Any]]:
            world.wall = T0 + timedelta(seconds=25)  # the claim's lease nearly over
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                owner, expires = lease_of(engine, stream["id"])
                if expires == world.wall + LEASE:
                    renewed.append((owner, expires))
                    break
                time.sleep(0.02)
            return super().handle_events(events, env)

    slow = Slow()
    world.worker.pipelines = {"fire": [slow], "expire": [world.expire]}
    assert world.worker.run_once() == 1
    assert renewed == [("w1", T0 + timedelta(seconds=25) + LEASE)]
    assert ("commit", None) in slow.calls and world.streams() == []
    assert world.worker.totals["fired"] == 1 and world.worker.totals["lost_leases"] == 0


def test_a_lease_taken_over_mid_pipeline_is_not_committed(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(engine, lease=LEASE, renew_every=0)  # no thread: the commit check
    world.add(1, "compute.instance.exists")
    [stream] = world.streams()

    class TakenOver(Recorder):
        def handle_events(
            self, events: list[dict[str, Any]], env: dict[str, Any]
        ) -> list[dict[str, Any]]:
            world.wall = T0 + timedelta(seconds=40)  # our lease lapsed ...
            with engine.begin() as conn:  # ... and another worker took the stream
                conn.execute(
                    schema.stream.update()
                    .where(schema.stream.c.id == stream["id"])
                    .values(lease_owner="w2", lease_expires=world.wall + LEASE)
                )
            return super().handle_events(events, env)

    handler = TakenOver()
    world.worker.pipelines = {"fire": [handler], "expire": [world.expire]}
    with caplog.at_level(logging.WARNING):
        world.worker.run_once()
    assert ("commit", None) not in handler.calls
    assert ("rollback", None) in handler.calls
    [left] = world.streams()
    assert left["state"] == StreamState.FIRING and left["lease_owner"] == "w2"
    assert world.worker.totals["lost_leases"] == 1
    assert world.worker.totals["commits_skipped"] == 1
    assert any("lost the lease of 1 streams" in r.message for r in caplog.records)


def test_a_lost_stream_is_skipped_before_it_runs(engine: Engine) -> None:
    world = World(engine)
    world.add(1, "compute.instance.exists")
    [claimed] = claim(engine)
    renewer = LeaseRenewer(engine, owner="w9", lease=LEASE, wall=lambda: T0)
    renewer.hold([claimed.id], T0 + LEASE)
    renewer.renew_now()  # w9 never held it
    assert renewer.is_lost(claimed.id) and not renewer.still_held(claimed.id)
    assert renewer.take_lost_count() == 1 and renewer.take_lost_count() == 0


def test_a_released_stream_is_never_reported_lost(engine: Engine) -> None:
    world = World(engine)
    world.add(1, "compute.instance.exists")
    [claimed] = claim(engine)
    renewer = LeaseRenewer(engine, owner="w1", lease=LEASE, wall=lambda: T0)
    renewer.hold([claimed.id], T0 + LEASE)
    renewer.release([claimed.id])
    run_transaction(
        engine, lambda c: lifecycle.complete(c, [claimed.id], owner="w1", purge=True)
    )
    renewer.hold([], T0)
    renewer.renew_now()
    assert not renewer.is_lost(claimed.id) and renewer.take_lost_count() == 0


def test_statistics_say_period_and_totals(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(engine)
    world.add(1, "compute.instance.exists")
    with caplog.at_level(logging.INFO, logger="winchester.pipeline"):
        world.worker.run_once()
        world.worker.report()
        world.worker.report()
    first, second = (r.getMessage() for r in caplog.records[-2:])
    assert "w1: in the last " in first and "fired 1" in first.split(";")[0]
    assert "; totals since start: loaded 1, fired 1," in first
    assert (
        "fired 0" in second.split(";")[0]
        and "totals since start: loaded 1, fired 1" in second
    )


def test_a_stream_lost_before_completion_stores_none_of_its_events(
    engine: Engine,
) -> None:
    """Found at completion (no renewal saw it): only the held streams' new events."""
    world = World(engine)
    world.fire.emit = True
    world.add(1, "compute.instance.exists", instance="i-1")
    world.add(2, "compute.instance.exists", instance="i-2")
    first, second = (s["id"] for s in world.streams())

    class Thief(Recorder):
        def commit(self) -> None:
            super().commit()
            with engine.begin() as conn:  # the second stream changes hands
                conn.execute(
                    schema.stream.update()
                    .where(schema.stream.c.id == second)
                    .values(lease_owner="w2")
                )

    world.worker.pipelines = {"fire": [world.fire, Thief()], "expire": [world.expire]}
    world.worker.run_once()
    left = {s["id"]: s for s in world.streams()}
    assert left[second]["lease_owner"] == "w2" and first not in left
    [audit] = [s for s in left.values() if s["trigger_name"] == "audit_results"]
    with engine.connect() as conn:
        emitted = set(
            conn.execute(
                sa.select(schema.event.c.message_id).where(
                    schema.event.c.message_id.like("audit-%")
                )
            ).scalars()
        )
    assert emitted == {"audit-m-1"} and '"i-1"' in str(audit["distinguishing_traits"])
    assert world.worker.totals["lost_leases"] == 1
    assert world.worker.totals["fired"] == 1


def test_a_malformed_emitted_event_fails_the_stream_before_its_commit(
    engine: Engine,
) -> None:
    world = World(engine, max_attempts=1)

    class Emitter(Recorder):
        def handle_events(
            self, events: list[dict[str, Any]], env: dict[str, Any]
        ) -> list[dict[str, Any]]:
            super().handle_events(events, env)
            return [*events, {"event_type": "audit.done", "message_id": "no-time"}]

    handler = Emitter()
    world.worker.pipelines = {"fire": [handler], "expire": [world.expire]}
    world.add(1, "compute.instance.exists")
    world.worker.run_once()
    [stream] = world.streams()
    assert stream["state"] == StreamState.ERROR
    assert "KeyError in handle_events" in stream["last_error"]
    assert ("commit", None) not in handler.calls
