"""Scenario data: valid, complete, and refused when malformed."""

from __future__ import annotations

from typing import Any

import pytest

from notigen.scenarios import ScenarioError, compile_scenarios, load_scenarios

REQUIRED = {
    "create",
    "create_rescheduled",
    "create_failed",
    "delete",
    "delete_failed",
    "reboot",
    "power_off",
    "power_on",
    "rebuild",
    "resize",
    "resize_confirm",
    "resize_revert",
    "rescue",
    "unrescue",
    "rescue_failed",
    "snapshot",
    "snapshot_failed",
}


def test_builtin_scenarios_cover_the_operations() -> None:
    scenarios = load_scenarios()
    assert set(scenarios) == REQUIRED
    events = {step.event for s in scenarios.values() for step in s.steps}
    for needed in (
        "scheduler.run_instance.start",
        "scheduler.run_instance.scheduled",
        "scheduler.run_instance.end",
        "compute.instance.create.error",
        "terminate_instance",
        "compute.instance.resize.prep.start",
        "compute.instance.finish_resize.end",
        "compute.instance.resize.confirm.end",
        "compute.instance.resize.revert.end",
        "compute.instance.power_on.end",
    ):
        assert needed in events


def test_error_steps_are_error_priority() -> None:
    for scenario in load_scenarios().values():
        for step in scenario.steps:
            if step.kind in ("exception", "no_valid_host") or step.event.endswith(
                ".error"
            ):
                assert step.priority == "ERROR", (scenario.name, step.event)
            if step.kind == "exception":
                assert "." not in step.event  # nova's bare method name


def test_follow_ups_exist_and_are_not_drawn_at_random() -> None:
    scenarios = load_scenarios()
    assert dict(scenarios["resize"].then) == {
        "resize_confirm": 0.8,
        "resize_revert": 0.2,
    }
    for name in ("resize_confirm", "resize_revert", "unrescue"):
        assert scenarios[name].weight == 0


def _one(**step: Any) -> dict[str, Any]:
    return {
        "create": {
            "weight": 1,
            "steps": [{"event": "x.y", "show": ["active", ""], **step}],
        }
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_one(after=[2, 1]), "after"),
        (_one(repeat=[0, 1]), "repeat"),
        (_one(effect="explode"), "effect"),
        (_one(priority="DEBUG"), "priority"),
        (_one(colour="red"), "unknown key"),
        (_one(show=["flying", ""]), "vm_state"),
        (_one(**{"with": ["nonsense"]}), "with"),
        ({"create": {"weight": 1, "steps": [{"use": "nowhere"}]}}, "block"),
        (
            {
                "create": {
                    "weight": 1,
                    "steps": [{"event": "a", "show": ["active", ""]}],
                    "then": [["missing", 1.0]],
                }
            },
            "follow-up",
        ),
        (
            {
                "reboot": {
                    "weight": 1,
                    "needs": ["active"],
                    "steps": [{"event": "a", "show": ["active", ""]}],
                }
            },
            "creates",
        ),
    ],
)
def test_malformed_scenarios_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        compile_scenarios(data, {})
