"""Scenario data: operations on existing instances.

Reboot, power off/on, rebuild, resize (prep, migration, finish, then confirm or
revert), rescue/unrescue and snapshot, plus the failing rescue and snapshot that
raise. Modelled on the captured nova sequences; format in
:mod:`notigen.scenarios.model`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCENARIOS"]

UPDATE = "compute.instance.update"
_START = [0.0, 0.0]

# Nova closes the current usage period before operations that change what the
# instance is billed for (rebuild, resize); the audit period runs from midnight.
_EXISTS_NOW = {
    "event": "compute.instance.exists",
    "kind": "exists",
    "when": "launched",
    "after": [0.1, 0.6],
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "reboot": {
        "weight": 10,
        "needs": ["active"],
        "steps": [
            {
                "event": UPDATE,
                "update": ["active", "active", "rebooting", None, "rebooting"],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "rebooting", None, "rebooting"],
                "after": [0.3, 0.9],
            },
            {
                "event": "compute.instance.reboot.start",
                "show": ["active", "rebooting"],
                "after": [0.2, 0.6],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "rebooting", None, "rebooting"],
                "after": [0.2, 0.6],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "", "rebooting", None],
                "after": [15.0, 150.0],
            },
            {
                "event": "compute.instance.reboot.end",
                "show": ["active", ""],
                "after": [0.02, 0.05],
            },
        ],
    },
    "power_off": {
        "weight": 4,
        "needs": ["active"],
        "steps": [
            {
                "event": UPDATE,
                "update": ["active", "active", "powering-off", None, "powering-off"],
                "after": _START,
            },
            {
                "event": "compute.instance.power_off.start",
                "show": ["active", "powering-off"],
                "after": [0.1, 0.3],
            },
            {
                "event": UPDATE,
                "update": ["stopped", "active", "", "powering-off", None],
                "after": [0.5, 40.0],
            },
            {
                "event": "compute.instance.power_off.end",
                "show": ["stopped", ""],
                "after": [0.02, 0.05],
            },
        ],
    },
    "power_on": {
        "weight": 4,
        "needs": ["stopped"],
        "steps": [
            {
                "event": UPDATE,
                "update": ["stopped", "stopped", "powering-on", None, "powering-on"],
                "after": _START,
            },
            {
                "event": "compute.instance.power_on.start",
                "show": ["stopped", "powering-on"],
                "after": [0.1, 0.3],
            },
            {
                "event": UPDATE,
                "update": ["active", "stopped", "", "powering-on", None],
                "after": [2.0, 45.0],
            },
            {
                "event": "compute.instance.power_on.end",
                "show": ["active", ""],
                "after": [0.02, 0.05],
            },
        ],
    },
    "rebuild": {
        "weight": 4,
        "needs": ["active"],
        "steps": [
            {
                "event": UPDATE,
                "update": ["active", "active", "rebuilding", None, "rebuilding"],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": ["active", None, "", None, None],
                "after": [0.05, 0.15],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "rebuilding", None, "rebuilding"],
                "after": [0.5, 2.5],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "rebuilding", None, "rebuilding"],
                "after": [0.3, 0.9],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "rebuilding", None, "rebuilding"],
                "after": [0.1, 0.3],
                "repeat": [1, 2],
            },
            {**_EXISTS_NOW, "show": ["active", "rebuilding"]},
            {
                "event": "compute.instance.rebuild.start",
                "show": ["active", "rebuilding"],
                "with": ["image_name"],
                "effect": "new_image",
                "after": [0.02, 0.05],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "rebuilding", None, "rebuilding"],
                "after": [0.2, 0.5],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "rebuild_block_device_mapping",
                    "rebuilding",
                    "rebuild_block_device_mapping",
                ],
                "after": [3.0, 12.0],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "rebuild_spawning",
                    "rebuild_block_device_mapping",
                    "rebuild_spawning",
                ],
                "after": [0.1, 0.3],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    None,
                    "rebuild_spawning",
                    None,
                    "rebuild_spawning",
                ],
                "after": [0.1, 20.0],
                "repeat": [3, 10],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "", "rebuild_spawning", None],
                "after": [0.3, 40.0],
                "effect": "relaunch",
            },
            {
                "event": "compute.instance.rebuild.end",
                "show": ["active", ""],
                "with": ["image_name", "fixed_ips"],
                "after": [0.02, 0.05],
            },
        ],
    },
    "resize": {
        "weight": 5,
        "needs": ["active"],
        "then": [["resize_confirm", 0.8], ["resize_revert", 0.2]],
        "then_after": [120, 14_400],
        "steps": [
            {
                "event": UPDATE,
                "update": ["active", "active", "resize_prep", None, "resize_prep"],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": ["active", None, "", None, None],
                "after": [0.2, 0.5],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "resize_prep", None, "resize_prep"],
                "after": [0.03, 0.1],
            },
            {**_EXISTS_NOW, "show": ["active", "resize_prep"]},
            {
                "event": UPDATE,
                "update": ["active", None, "resize_prep", None, "resize_prep"],
                "after": [0.1, 0.2],
            },
            {
                "event": "compute.instance.resize.prep.start",
                "show": ["active", "resize_prep"],
                "after": [0.03, 0.06],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "resize_prep", None, "resize_prep"],
                "after": [0.15, 0.3],
            },
            {
                "event": "compute.instance.resize.prep.end",
                "show": ["active", "resize_prep"],
                "with": ["new_flavor"],
                "after": [0.3, 0.6],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "resize_migrating",
                    "resize_prep",
                    "resize_migrating",
                ],
                "after": [0.4, 0.8],
            },
            {
                "event": "compute.instance.resize.start",
                "show": ["active", "resize_migrating"],
                "with": ["fixed_ips"],
                "after": [0.02, 0.05],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    None,
                    "resize_migrating",
                    None,
                    "resize_migrating",
                ],
                "after": [0.1, 900.0],
                "repeat": [1, 4],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "resize_migrated",
                    "resize_migrating",
                    "resize_migrated",
                ],
                "after": [1.0, 5.0],
            },
            {
                "event": "compute.instance.resize.end",
                "show": ["active", "resize_migrated"],
                "with": ["fixed_ips"],
                "after": [0.02, 0.06],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "resize_migrated", None, "resize_migrated"],
                "after": [0.2, 0.4],
                "effect": "finish_resize",
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "resize_finish",
                    "resize_migrated",
                    "resize_finish",
                ],
                "after": [0.3, 0.6],
            },
            {
                "event": "compute.instance.finish_resize.start",
                "show": ["active", "resize_finish"],
                "with": ["fixed_ips"],
                "after": [0.02, 0.05],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "resize_finish", None, "resize_finish"],
                "after": [5.0, 300.0],
            },
            {
                "event": UPDATE,
                "update": ["resized", "active", "", "resize_finish", None],
                "after": [0.2, 0.4],
                "effect": "relaunch",
            },
            {
                "event": "compute.instance.finish_resize.end",
                "show": ["resized", ""],
                "with": ["fixed_ips"],
                "after": [0.02, 0.05],
            },
        ],
    },
    "resize_confirm": {
        "weight": 0,
        "needs": ["resized"],
        "steps": [
            {
                "event": "compute.instance.resize.confirm.start",
                "show": ["resized", ""],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": ["resized", None, "", None, None],
                "after": [0.2, 0.4],
            },
            {
                "event": UPDATE,
                "update": ["active", "resized", "", None, None],
                "after": [1.0, 5.0],
            },
            {
                "event": "compute.instance.resize.confirm.end",
                "show": ["active", ""],
                "with": ["fixed_ips"],
                "after": [0.02, 0.05],
            },
        ],
    },
    "resize_revert": {
        "weight": 0,
        "needs": ["resized"],
        "steps": [
            {
                "event": UPDATE,
                "update": [
                    "resized",
                    "resized",
                    "resize_reverting",
                    None,
                    "resize_reverting",
                ],
                "after": _START,
            },
            # Our choice, not nova's: close the usage period before the flavor goes
            # back, so the audit compares the revert with an .exists of its own.
            {**_EXISTS_NOW, "show": ["resized", "resize_reverting"]},
            {
                "event": "compute.instance.resize.revert.start",
                "show": ["resized", "resize_reverting"],
                "with": ["fixed_ips"],
                "after": [0.05, 0.2],
            },
            {
                "event": UPDATE,
                "update": [
                    "resized",
                    None,
                    "resize_reverting",
                    None,
                    "resize_reverting",
                ],
                "after": [2.0, 60.0],
                "effect": "revert",
            },
            {
                "event": UPDATE,
                "update": ["active", "resized", "", "resize_reverting", None],
                "after": [2.0, 30.0],
            },
            {
                "event": "compute.instance.resize.revert.end",
                "show": ["active", ""],
                "with": ["fixed_ips"],
                "after": [0.02, 0.05],
            },
        ],
    },
    "rescue": {
        "weight": 2,
        "needs": ["active"],
        "then": [["unrescue", 1.0]],
        "then_after": [300, 10_800],
        "steps": [
            {
                "event": UPDATE,
                "update": ["active", "active", "rescuing", None, "rescuing"],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": ["active", None, "", None, None],
                "after": [0.1, 0.3],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "rescuing", None, "rescuing"],
                "after": [0.1, 0.2],
            },
            {
                "event": "compute.instance.rescue.start",
                "show": ["active", ""],
                "with": ["fixed_ips", "rescue_image_name"],
                "after": [0.6, 1.2],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "rescuing", None, "rescuing"],
                "after": [5.0, 60.0],
            },
            {
                "event": UPDATE,
                "update": ["rescued", "active", "", "rescuing", None],
                "after": [0.2, 0.5],
                "effect": "relaunch",
            },
            {
                "event": "compute.instance.rescue.end",
                "show": ["rescued", ""],
                "with": ["fixed_ips", "rescue_image_name"],
                "after": [0.02, 0.05],
            },
        ],
    },
    "unrescue": {
        "weight": 0,
        "needs": ["rescued"],
        "steps": [
            {
                "event": UPDATE,
                "update": ["rescued", "rescued", "unrescuing", None, "unrescuing"],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": ["rescued", None, "", None, None],
                "after": [0.1, 0.2],
            },
            {
                "event": UPDATE,
                "update": ["rescued", "rescued", "unrescuing", None, "unrescuing"],
                "after": [0.03, 0.08],
            },
            {
                "event": "compute.instance.unrescue.start",
                "show": ["rescued", ""],
                "with": ["fixed_ips"],
                "after": [0.4, 0.8],
            },
            {
                "event": UPDATE,
                "update": ["active", "rescued", "", "unrescuing", None],
                "after": [10.0, 60.0],
            },
            {
                "event": "compute.instance.unrescue.end",
                "show": ["active", ""],
                "with": ["fixed_ips"],
                "after": [0.02, 0.05],
            },
        ],
    },
    "rescue_failed": {
        "weight": 1,
        "needs": ["active"],
        "failure": "rescue",
        "steps": [
            {
                "event": UPDATE,
                "update": ["active", "active", "rescuing", None, "rescuing"],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": ["active", None, "", None, None],
                "after": [0.1, 0.3],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "rescuing", None, "rescuing"],
                "after": [0.1, 0.2],
            },
            {
                "event": "compute.instance.rescue.start",
                "show": ["active", ""],
                "with": ["fixed_ips", "rescue_image_name"],
                "after": [0.6, 1.2],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "", "rescuing", None],
                "after": [0.2, 0.4],
            },
            {
                "event": "rescue_instance",
                "kind": "exception",
                "priority": "ERROR",
                "fault": "reason",
                "after": [0.05, 0.1],
            },
        ],
    },
    "snapshot": {
        "weight": 8,
        "needs": ["active"],
        "steps": [
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "image_snapshot_pending",
                    None,
                    "image_snapshot_pending",
                ],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "image_snapshot_pending",
                    None,
                    "image_snapshot_pending",
                ],
                "after": [0.1, 0.3],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "image_snapshot",
                    "image_snapshot_pending",
                    "image_snapshot",
                ],
                "after": [0.1, 0.3],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "image_snapshot", None, "image_snapshot"],
                "after": [0.3, 0.6],
            },
            {
                "event": "compute.instance.snapshot.start",
                "show": ["active", "image_snapshot"],
                "after": [0.02, 0.05],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "image_pending_upload",
                    "image_snapshot",
                    "image_pending_upload",
                ],
                "after": [1.0, 4.0],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "image_uploading",
                    "image_pending_upload",
                    "image_uploading",
                ],
                "after": [1.0, 10.0],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "", "image_uploading", None],
                "after": [30.0, 1800.0],
            },
            {
                "event": "compute.instance.snapshot.end",
                "show": ["active", ""],
                "after": [0.05, 0.1],
            },
        ],
    },
    "snapshot_failed": {
        "weight": 1,
        "needs": ["active"],
        "failure": "snapshot",
        "steps": [
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "image_snapshot_pending",
                    None,
                    "image_snapshot_pending",
                ],
                "after": _START,
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "image_snapshot",
                    "image_snapshot_pending",
                    "image_snapshot",
                ],
                "after": [0.1, 0.4],
            },
            {
                "event": UPDATE,
                "update": ["active", None, "image_snapshot", None, "image_snapshot"],
                "after": [0.3, 0.6],
            },
            {
                "event": "compute.instance.snapshot.start",
                "show": ["active", "image_snapshot"],
                "after": [0.02, 0.05],
            },
            {
                "event": UPDATE,
                "update": [
                    "active",
                    "active",
                    "image_pending_upload",
                    "image_snapshot",
                    "image_pending_upload",
                ],
                "after": [1.0, 4.0],
            },
            {
                "event": UPDATE,
                "update": ["active", "active", "", "image_pending_upload", None],
                "after": [60.0, 3600.0],
            },
            {
                "event": "snapshot_instance",
                "kind": "exception",
                "priority": "ERROR",
                "args": ["image_id"],
                "fault": "code",
                "after": [0.05, 0.1],
            },
        ],
    },
}
