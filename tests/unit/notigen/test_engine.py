"""The simulation loop: ordering, windows, fleet size, programmatic use."""

from __future__ import annotations

import gc
from collections import Counter, defaultdict
from typing import Any

import pytest

from notigen import Engine, Renderer, SimConfig, generate_lines
from notigen.clock import DAY, HOUR, oslo
from notigen.pipeline import without_gc


def test_notifications_come_in_timestamp_order() -> None:
    config = SimConfig(seed=9, duration=6 * HOUR, ops_per_hour=400)
    stamps = [m["timestamp"] for m, _ in Engine(config)]
    assert stamps == sorted(stamps)


TERMINAL = {
    "compute.instance.exists",  # a delete's closing .exists
    "terminate_instance",
    "rescue_instance",
    "snapshot_instance",
    "scheduler.run_instance",  # no valid host: the build is over
}


def _finished(message: dict[str, Any]) -> bool:
    kind = message["event_type"]
    if kind.endswith(".end") or kind in TERMINAL:
        return True
    # A delete that failed leaves the instance in error; so does a failed build
    # of a never-launched instance without an .exists to close it.
    return kind == "compute.instance.update" and message["payload"]["state"] in (
        "error",
        "deleted",
    )


def test_operations_start_inside_the_window_and_run_to_their_end() -> None:
    config = SimConfig(seed=9, duration=2 * HOUR, ops_per_hour=300)
    operations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message, _ in Engine(config):
        if message["_context_user_id"] is not None:  # not the periodic audit
            operations[message["_context_request_id"]].append(message)
    end = oslo(config.start + 2 * HOUR)
    assert len(operations) > 400
    for messages in operations.values():
        assert messages[0]["timestamp"] <= end
        assert _finished(messages[-1]), [m["event_type"] for m in messages]


def test_the_fleet_stays_near_its_size() -> None:
    engine = Engine(
        SimConfig(seed=4, duration=4 * DAY, instances=150, ops_per_hour=200)
    )
    for _ in engine:
        pass
    assert 100 < len(engine.world.instances) < 220


def test_no_operations_means_only_audits() -> None:
    config = SimConfig(seed=1, duration=2 * DAY, instances=7, ops_per_hour=0)
    kinds = Counter(m["event_type"] for m, _ in Engine(config))
    assert kinds == Counter({"compute.instance.exists": 14})


def test_count_stops_an_unbounded_simulation() -> None:
    engine = Engine(SimConfig(seed=1, duration=None))
    lines = list(generate_lines(engine, Renderer(), count=1234))
    assert len(lines) == 1234


@pytest.mark.parametrize(
    "config",
    [
        SimConfig(ops_per_hour=-1),
        SimConfig(instances=-1),
        SimConfig(duration=0),
        SimConfig(hosts=0),
        SimConfig(tenants=0),
    ],
)
def test_impossible_configurations_are_refused(config: SimConfig) -> None:
    with pytest.raises(ValueError):
        Engine(config)


def test_without_gc_restores_the_collector() -> None:
    assert gc.isenabled()
    with without_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
