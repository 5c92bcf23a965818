"""Legacy → versioned: what our scenarios look like in nova's versioned format.

Nova's versioned notifications (``instance.create.start`` and friends) carry a
``nova_object`` envelope per payload: ``nova_object.name``, ``.namespace``,
``.version`` and ``.data``. :func:`to_versioned` maps one legacy message of ours
to its versioned counterpart, or ``None`` where nova has no versioned equivalent
(``scheduler.run_instance.scheduled``, the doubled
``compute.instance.instance.create.error``).

The mapping, by legacy event type:

=========================================  =========================================
``compute.instance.<action>.<phase>``      ``instance.<action>.<phase>``
``compute.instance.resize.prep.*``         ``instance.resize_prep.*``
``compute.instance.finish_resize.*``       ``instance.resize_finish.*``
``compute.instance.resize.confirm/revert``  ``instance.resize_confirm/resize_revert.*``
``compute.instance.update``                ``instance.update``
``compute.instance.exists``                ``instance.exists``
``scheduler.run_instance.start/end``       ``scheduler.select_destinations.start/end``
``scheduler.run_instance`` (ERROR)         ``compute_task.build_instances.error``
``<method>`` exceptions (ERROR)            ``compute.exception``
=========================================  =========================================

Payload data is derived from the legacy payload; the few facts it lacks (the
target flavor of a resize, the snapshot image, the exception class) come from the
engine's hints. Payload versions are those of nova's notification samples.
The message keeps its ``_context_*`` keys, as oslo.messaging sends them; the
publisher becomes ``nova-compute:<host>`` (``nova-scheduler``, ``nova-conductor``).
"""

from __future__ import annotations

import functools
from typing import Any

from notigen.catalog import FLAVORS_BY_ID, Flavor

__all__ = ["to_versioned"]

_RENAMES = {
    "resize.prep": "resize_prep",
    "finish_resize": "resize_finish",
    "resize.confirm": "resize_confirm",
    "resize.revert": "resize_revert",
}
_PAYLOADS = {
    "create": ("InstanceCreatePayload", "1.13"),
    "rebuild": ("InstanceActionRebuildPayload", "1.10"),
    "rescue": ("InstanceActionRescuePayload", "1.4"),
    "resize_prep": ("InstanceActionResizePrepPayload", "1.4"),
    "snapshot": ("InstanceActionSnapshotPayload", "1.10"),
    "exists": ("InstanceExistsPayload", "2.1"),
    "update": ("InstanceUpdatePayload", "1.9"),
}
_ACTION = ("InstanceActionPayload", "1.9")
_POWER = {
    "building": "pending",
    "active": "running",
    "rescued": "running",
    "resized": "running",
    "stopped": "shutdown",
    "deleted": "nostate",
    "error": "nostate",
}
_TRACEBACK = (
    'Traceback (most recent call last):\n  File "nova/compute/manager.py", line ...'
)


def _obj(name: str, version: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "nova_object.data": data,
        "nova_object.name": name,
        "nova_object.namespace": "nova",
        "nova_object.version": version,
    }


def _iso(value: str | None) -> str | None:
    """``2014-05-01 00:45:00.3`` → ``2014-05-01T00:45:00Z``; ``''``/None → None."""
    if not value:
        return None
    return f"{value[:10]}T{value[11:19]}Z"


def _flavor(flavor: Flavor | None) -> dict[str, Any] | None:
    """The FlavorPayload of ``flavor`` (shared between messages: never mutate it)."""
    return None if flavor is None else _flavor_by_id(flavor.id)


@functools.lru_cache(maxsize=256)
def _flavor_by_id(flavor_id: int) -> dict[str, Any] | None:
    flavor = FLAVORS_BY_ID.get(flavor_id)
    if flavor is None:
        return None
    return _obj(
        "FlavorPayload",
        "1.4",
        {
            "description": None,
            "disabled": False,
            "ephemeral_gb": flavor.ephemeral_gb,
            "extra_specs": dict(flavor.extra_specs),
            "flavorid": flavor.flavorid,
            "is_public": True,
            "memory_mb": flavor.memory_mb,
            "name": flavor.name,
            "projects": None,
            "root_gb": flavor.root_gb,
            "rxtx_factor": flavor.rxtx_factor,
            "swap": flavor.swap,
            "vcpu_weight": flavor.vcpu_weight,
            "vcpus": flavor.vcpus,
        },
    )


def _ips(payload: dict[str, Any]) -> list[dict[str, Any]]:
    fixed = payload.get("fixed_ips")
    if not fixed:
        fixed = [
            {"address": payload[key], "label": "public", "version": version}
            for key, version in (("access_ip_v4", 4), ("access_ip_v6", 6))
            if payload.get(key)
        ]
    return [
        _obj(
            "IpPayload",
            "1.0",
            {
                "address": ip["address"],
                "device_name": None,
                "label": ip["label"],
                "mac": None,
                "meta": {},
                "port_uuid": None,
                "version": ip["version"],
            },
        )
        for ip in fixed
    ]


def _exception(fault: tuple[str, str, str] | None) -> dict[str, Any]:
    name, text, where = fault or ("NovaException", "An unknown exception occurred.", "")
    function = "_build_and_run_instance" if "create" in where else where
    return _obj(
        "ExceptionPayload",
        "1.1",
        {
            "exception": name,
            "exception_message": text,
            "function_name": function or "unknown",
            "module_name": "nova.compute.manager",
            "traceback": _TRACEBACK,
        },
    )


def _instance(message: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The InstancePayload fields every instance notification shares."""
    state = payload.get("state") or "active"
    launched = _iso(payload.get("launched_at"))
    meta = payload.get("image_meta") or {}
    return {
        "action_initiator_project": message.get("_context_project_id")
        or payload["tenant_id"],
        "action_initiator_user": message.get("_context_user_id") or payload["user_id"],
        "architecture": payload.get("architecture"),
        "auto_disk_config": "AUTO"
        if meta.get("auto_disk_config") == "True"
        else "MANUAL",
        "availability_zone": payload.get("availability_zone"),
        "block_devices": [],
        "created_at": _iso(payload.get("created_at")),
        "deleted_at": _iso(payload.get("deleted_at")),
        "display_description": payload.get("display_name"),
        "display_name": payload.get("display_name"),
        "fault": None,
        "flavor": _flavor_by_id(payload.get("instance_type_id", -1)),
        "host": payload.get("host"),
        "host_name": payload.get("hostname"),
        "image_uuid": meta.get("base_image_ref"),
        "ip_addresses": _ips(payload),
        "kernel_id": payload.get("kernel_id", ""),
        "key_name": None,
        "launched_at": launched,
        "locked": False,
        "locked_reason": None,
        "metadata": payload.get("metadata", {}),
        "node": payload.get("node"),
        "os_type": payload.get("os_type"),
        "power_state": _POWER.get(state, "nostate"),
        "progress": 100 if launched and state == "active" else 0,
        "ramdisk_id": payload.get("ramdisk_id", ""),
        "request_id": message.get("_context_request_id"),
        "reservation_id": payload.get("reservation_id"),
        "shares": [],
        "state": state,
        "task_state": payload.get("state_description") or None,
        "tenant_id": payload["tenant_id"],
        "terminated_at": _iso(payload.get("terminated_at")),
        "updated_at": _iso(message.get("timestamp")),
        "user_id": payload["user_id"],
        "uuid": payload["instance_id"],
    }


def _audit_period(payload: dict[str, Any]) -> dict[str, Any]:
    return _obj(
        "AuditPeriodPayload",
        "1.0",
        {
            "audit_period_beginning": _iso(payload.get("audit_period_beginning")),
            "audit_period_ending": _iso(payload.get("audit_period_ending")),
        },
    )


def _instance_event(
    action: str, message: dict[str, Any], hints: dict[str, Any] | None
) -> dict[str, Any]:
    payload = message["payload"]
    data = _instance(message, payload)
    hints = hints or {}
    name, version = _PAYLOADS.get(action, _ACTION)
    if action == "create":
        data["instance_name"] = f"instance-{payload['instance_id']}"
        data["keypairs"] = []
        data["tags"] = []
        data["trusted_image_certificates"] = None
        if message["priority"] == "ERROR":
            data["fault"] = _exception(hints.get("fault"))
    elif action == "rebuild":
        data["trusted_image_certificates"] = None
    elif action == "rescue":
        data["rescue_image_ref"] = hints.get("rescue_image_ref", data["image_uuid"])
    elif action == "resize_prep":
        data["new_flavor"] = _flavor(hints.get("new_flavor"))
    elif action == "snapshot":
        data["snapshot_image_id"] = hints.get("snapshot_image_id")
    elif action == "exists":
        del data["fault"]
        data["audit_period"] = _audit_period(payload)
    elif action == "update":
        del data["fault"]
        del data["shares"]
        data["state_update"] = _obj(
            "InstanceStateUpdatePayload",
            "1.0",
            {
                "new_task_state": payload.get("new_task_state"),
                "old_state": payload.get("old_state"),
                "old_task_state": payload.get("old_task_state"),
                "state": payload.get("state"),
            },
        )
        data["audit_period"] = _audit_period(payload)
        data["bandwidth"] = [
            _obj(
                "BandwidthPayload",
                "1.0",
                {"in_bytes": v["bw_in"], "network_name": k, "out_bytes": v["bw_out"]},
            )
            for k, v in sorted(payload.get("bandwidth", {}).items())
        ]
        data["old_display_name"] = payload.get("old_display_name")
        data["tags"] = []
    return _obj(name, version, data)


def _request_spec(spec: dict[str, Any], user_id: str | None) -> dict[str, Any]:
    image = spec.get("image", {})
    properties = image.get("properties", {})
    instance_uuid = (spec.get("instance_uuids") or [None])[0]
    return _obj(
        "RequestSpecPayload",
        "1.1",
        {
            "availability_zone": None,
            "flavor": _flavor_by_id(spec.get("instance_type", {}).get("id", -1)),
            "force_hosts": None,
            "force_nodes": None,
            "ignore_hosts": None,
            "image": _obj(
                "ImageMetaPayload",
                "1.0",
                {
                    "checksum": image.get("checksum"),
                    "container_format": image.get("container_format"),
                    "created_at": _iso(image.get("created_at")),
                    "direct_url": None,
                    "disk_format": image.get("disk_format"),
                    "id": image.get("id"),
                    "min_disk": image.get("min_disk", 0),
                    "min_ram": image.get("min_ram", 0),
                    "name": image.get("name"),
                    "owner": image.get("owner"),
                    "properties": _obj(
                        "ImageMetaPropsPayload",
                        "1.19",
                        {"hw_architecture": "x86_64"}
                        if properties.get("org.openstack__1__architecture") == "x64"
                        else {},
                    ),
                    "protected": False,
                    "size": image.get("size"),
                    "status": image.get("status"),
                    "tags": [],
                    "updated_at": _iso(image.get("updated_at")),
                    "virtual_size": None,
                    "visibility": "public",
                },
            ),
            "instance_group": None,
            "instance_uuid": instance_uuid,
            "num_instances": spec.get("num_instances", 1),
            "numa_topology": None,
            "pci_requests": _obj(
                "InstancePCIRequestsPayload",
                "1.0",
                {"instance_uuid": instance_uuid, "requests": []},
            ),
            "project_id": spec.get("instance_properties", {}).get("project_id"),
            "requested_destination": None,
            "retry": None,
            "scheduler_hints": {},
            "security_groups": list(spec.get("security_group", ["default"])),
            "user_id": user_id,
        },
    )


def _publisher(publisher_id: str, service: str | None = None) -> str:
    kind, _, host = publisher_id.partition(".")
    return f"nova-{service or kind}:{host or kind}"


def _versioned_event(event_type: str) -> str | None:
    """The versioned event type of a legacy one we emit, or ``None``."""
    if not event_type.startswith("compute.instance."):
        return None
    rest = event_type[len("compute.instance.") :]
    if rest in ("update", "exists"):
        return f"instance.{rest}"
    action, _, phase = rest.rpartition(".")
    action = _RENAMES.get(action, action)
    if not action or "." in action:
        return None
    return f"instance.{action}.{phase}"


def to_versioned(
    message: dict[str, Any], hints: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The versioned counterpart of one of our legacy messages, or ``None``."""
    event_type = message["event_type"]
    body = {k: v for k, v in message.items() if k[0] == "_"}
    body["message_id"] = message["message_id"]
    body["priority"] = message["priority"]
    body["timestamp"] = message["timestamp"]
    body["publisher_id"] = _publisher(message["publisher_id"])
    payload = message["payload"]
    if event_type.startswith("scheduler.run_instance"):
        spec = _request_spec(payload["request_spec"], message.get("_context_user_id"))
        if event_type in ("scheduler.run_instance.start", "scheduler.run_instance.end"):
            body["event_type"] = event_type.replace(
                "run_instance", "select_destinations"
            )
            body["payload"] = spec
            return body
        if event_type != "scheduler.run_instance":
            return None
        body["event_type"] = "compute_task.build_instances.error"
        body["publisher_id"] = _publisher(message["publisher_id"], "conductor")
        body["payload"] = _obj(
            "ComputeTaskPayload",
            "1.0",
            {
                "instance_uuid": payload["instance_id"],
                "reason": _exception((hints or {}).get("fault")),
                "request_spec": spec,
                "state": "error",
            },
        )
        return body
    if "args" in payload and "exception" in payload:
        body["event_type"] = "compute.exception"
        body["payload"] = _exception((hints or {}).get("fault"))
        return body
    versioned = _versioned_event(event_type)
    if versioned is None:
        return None
    action = versioned.split(".")[1]
    body["event_type"] = versioned
    body["payload"] = _instance_event(action, message, hints)
    return body
