"""Scenario data: building and deleting instances, with their failure paths.

Modelled on the order, states and timing of the captured nova sequences (build
with scheduling, networking, block devices and a long spawn; a build that fails
on a host and is rescheduled; delete with shutdown; a delete that raises). The
format is described in :mod:`notigen.scenarios.model`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BLOCKS", "SCENARIOS"]

UPDATE = "compute.instance.update"

BLOCKS: dict[str, list[dict[str, Any]]] = {
    # The scheduler picks a host and hands the request to it.
    "schedule": [
        {
            "event": "scheduler.run_instance.start",
            "kind": "request_spec",
            "after": [0.15, 0.6],
        },
        {
            "event": "scheduler.run_instance.scheduled",
            "kind": "scheduled",
            "after": [0.15, 0.45],
            "effect": "place",
        },
        {
            "event": "scheduler.run_instance.end",
            "kind": "request_spec",
            "after": [0.08, 0.2],
        },
        {
            "event": UPDATE,
            "update": ["building", "building", "", "scheduling", None],
            "after": [0.15, 0.4],
        },
    ],
    # The compute host prepares the server: network, disks, then the long spawn.
    "prepare": [
        {
            "event": "compute.instance.create.start",
            "show": ["building", "scheduling"],
            "with": ["image_name", "message"],
            "after": [0.2, 0.35],
        },
        {
            "event": UPDATE,
            "update": ["building", None, "", None, None],
            "after": [0.1, 0.2],
        },
        {
            "event": UPDATE,
            "update": ["building", "building", "networking", None, "networking"],
            "after": [0.1, 0.35],
        },
        {
            "event": UPDATE,
            "update": [
                "building",
                "building",
                "block_device_mapping",
                "networking",
                "block_device_mapping",
            ],
            "after": [0.1, 5.5],
        },
        {
            "event": UPDATE,
            "update": [
                "building",
                None,
                "block_device_mapping",
                None,
                "block_device_mapping",
            ],
            "after": [0.1, 0.25],
        },
        {
            "event": UPDATE,
            "update": [
                "building",
                "building",
                "spawning",
                "block_device_mapping",
                "spawning",
            ],
            "after": [0.15, 0.3],
        },
        {
            "event": UPDATE,
            "update": ["building", None, "spawning", None, "spawning"],
            "after": [0.2, 0.5],
        },
    ],
    # Progress updates while the hypervisor builds the server.
    "spawn": [
        {
            "event": UPDATE,
            "update": ["building", None, "spawning", None, "spawning"],
            "after": [0.1, 30.0],
            "repeat": [3, 11],
        },
    ],
    # The host gives up on the build and sends it back to the scheduler.
    "build_failure": [
        {
            "event": UPDATE,
            "update": ["building", None, "spawning", None, "spawning"],
            "after": [1.0, 240.0],
            "repeat": [1, 3],
        },
        {
            "event": "compute.instance.instance.create.error",
            "priority": "ERROR",
            "show": ["building", "scheduling"],
            "with": ["fault", "message"],
            "fault": "code",
            "message": "{reason}",
            "after": [0.3, 0.7],
        },
        {
            "event": "compute.instance.shutdown.start",
            "show": ["building", "scheduling"],
            "after": [0.02, 0.05],
        },
        {
            "event": "compute.instance.shutdown.end",
            "show": ["building", "scheduling"],
            "after": [0.5, 0.8],
        },
        {
            "event": UPDATE,
            "update": ["building", "building", "scheduling", "spawning", "scheduling"],
            "after": [0.1, 0.15],
        },
        {
            "event": "compute.instance.create.error",
            "priority": "ERROR",
            "show": ["building", "scheduling"],
            "with": ["image_name", "fault", "message"],
            "fault": "detail",
            "message": "Build of instance {instance_id} was re-scheduled: {reason}",
            "after": [0.03, 0.05],
        },
    ],
    # The build succeeds: the instance goes active and is launched.
    "launch": [
        {
            "event": UPDATE,
            "update": ["active", "building", "", "spawning", None],
            "after": [0.3, 60.0],
            "effect": "launch",
        },
        {
            "event": "compute.instance.create.end",
            "show": ["active", ""],
            "with": ["image_name", "message", "fixed_ips"],
            "message": "Success",
            "after": [0.02, 0.05],
        },
    ],
}

_ASKED = {
    "event": UPDATE,
    "update": ["building", None, "scheduling", None, "scheduling"],
    "after": [0.0, 0.0],
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "create": {
        "weight": 13,
        "steps": [
            _ASKED,
            {"use": "schedule"},
            {"use": "prepare"},
            {"use": "spawn"},
            {"use": "launch"},
        ],
    },
    "create_rescheduled": {
        "weight": 1.5,
        "failure": "build",
        "steps": [
            _ASKED,
            {"use": "schedule"},
            {"use": "prepare"},
            {"use": "build_failure"},
            {"use": "schedule"},
            {"use": "prepare"},
            {"use": "spawn"},
            {"use": "launch"},
        ],
    },
    "create_failed": {
        "weight": 0.5,
        "failure": "build",
        "steps": [
            _ASKED,
            {"use": "schedule"},
            {"use": "prepare"},
            {"use": "build_failure"},
            {"use": "schedule"},
            {"use": "prepare"},
            {"use": "build_failure"},
            {
                "event": "scheduler.run_instance.start",
                "kind": "request_spec",
                "after": [0.02, 0.05],
            },
            {
                "event": UPDATE,
                "update": ["error", "building", "", "scheduling", None],
                "after": [0.1, 0.2],
            },
            {
                "event": "scheduler.run_instance",
                "kind": "no_valid_host",
                "priority": "ERROR",
                "after": [0.02, 0.04],
            },
        ],
    },
    "delete": {
        "weight": 15,
        "needs": ["active", "stopped", "error"],
        "steps": [
            {
                "event": UPDATE,
                "update": ["$vm", "$vm", "deleting", None, "deleting"],
                "after": [0.0, 0.0],
            },
            {
                "event": UPDATE,
                "update": ["$vm", None, "", None, None],
                "after": [0.1, 0.3],
            },
            {
                "event": UPDATE,
                "update": ["$vm", "$vm", "deleting", None, "deleting"],
                "after": [0.2, 1.2],
            },
            {
                "event": "compute.instance.delete.start",
                "show": ["$vm", "deleting"],
                "after": [1.0, 3.5],
            },
            {
                "event": "compute.instance.shutdown.start",
                "show": ["$vm", "deleting"],
                "after": [0.02, 0.05],
            },
            {
                "event": "compute.instance.shutdown.end",
                "show": ["$vm", "deleting"],
                "after": [0.5, 25.0],
            },
            {
                "event": UPDATE,
                "update": ["deleted", "$vm", "", "deleting", None],
                "after": [0.1, 0.3],
                "effect": "terminate",
            },
            {
                "event": "compute.instance.delete.end",
                "show": ["deleted", ""],
                "after": [0.1, 0.3],
                "effect": "destroy",
            },
            # nova closes the usage of a deleted instance with an .exists for the
            # part of the day it lived (audit period: midnight to the deletion).
            {
                "event": "compute.instance.exists",
                "kind": "exists",
                "show": ["deleted", ""],
                "when": "launched",
                "after": [0.01, 0.05],
            },
        ],
    },
    "delete_failed": {
        "weight": 1,
        "needs": ["active", "stopped", "error"],
        "failure": "terminate",
        "steps": [
            {
                "event": UPDATE,
                "update": ["$vm", None, "", None, None],
                "after": [0.0, 0.0],
            },
            {
                "event": UPDATE,
                "update": ["$vm", "$vm", "deleting", None, "deleting"],
                "after": [0.03, 0.1],
            },
            {
                "event": UPDATE,
                "update": ["$vm", "$vm", "deleting", None, "deleting"],
                "after": [0.5, 1.5],
            },
            {
                "event": "compute.instance.delete.start",
                "show": ["$vm", "deleting"],
                "after": [1.0, 3.0],
            },
            {
                "event": "compute.instance.shutdown.start",
                "show": ["$vm", "deleting"],
                "after": [0.02, 0.05],
            },
            {
                "event": UPDATE,
                "update": ["$vm", None, "deleting", None, "deleting"],
                "after": [0.3, 0.6],
            },
            {
                "event": "terminate_instance",
                "kind": "exception",
                "priority": "ERROR",
                "args": ["bdms", "reservations"],
                "fault": "empty",
                "after": [0.05, 0.1],
            },
            {
                "event": UPDATE,
                "update": ["error", "$vm", "", "deleting", None],
                "after": [0.02, 0.1],
            },
        ],
    },
}
