"""Legacy (unversioned) nova payloads, rendered from the world's state.

Shapes follow what nova's ``notify_about_instance_usage`` and friends sent in the
captured traffic: the flat instance payload (``info_from_instance``), its
``compute.instance.update`` and ``.exists`` extensions, the scheduler's
``request_spec`` and the ``args`` + ``exception`` payload of a failed, wrapped
manager method.

Speed matters (the generator aims at tens of thousands of notifications a second),
so the constant part of an instance payload is built once and cached on the
instance until it changes; a notification copies that dict (one shallow copy) and
adds its few own keys. Nested values (``image_meta`` and the like) are shared
between notifications and never mutated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notigen.catalog import Flavor, flavor_record
from notigen.clock import DAY, nova_str
from notigen.world import Image, Instance, World

__all__ = ["PayloadFactory"]

_POWER_STATES = {"building": 0, "active": 1, "rescued": 1, "resized": 1, "stopped": 4}


def _date(us: int | None) -> str:
    return "" if us is None else nova_str(us)


def _maybe(us: int | None) -> str | None:
    return None if us is None else nova_str(us)


class PayloadFactory:
    """Builds legacy payloads; caches what does not change per notification."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._image_meta: dict[str, dict[str, str]] = {}
        self._image_record: dict[str, dict[str, Any]] = {}
        self._system_metadata: dict[tuple[str, int], dict[str, Any]] = {}
        self._day = -1
        self._day_text = ""

    # ------------------------------------------------------------------ images

    def image_meta(self, image: Image) -> dict[str, str]:
        """The string-valued ``image_meta`` nova copies from the image properties."""
        meta = self._image_meta.get(image.id)
        if meta is None:
            spec = image.spec
            meta = {
                "auto_disk_config": spec.auto_disk_config,
                "base_image_ref": image.id,
                "cache_in_nova": "True",
                "container_format": "ovf",
                "disk_format": "vhd",
                "image_type": "base",
                "min_disk": str(spec.min_disk),
                "min_ram": str(spec.min_ram),
                "org.openstack__1__architecture": "x64",
                "org.openstack__1__os_distro": spec.org_distro,
                "org.openstack__1__os_version": spec.version,
                "os_type": spec.os_type,
                "vm_mode": spec.vm_mode,
            }
            if spec.distro is not None:
                meta["os_distro"] = spec.distro
            self._image_meta[image.id] = meta
        return meta

    def image_record(self, image: Image, tenant_id: str) -> dict[str, Any]:
        """Glance's view of the image, as the scheduler's request spec holds it."""
        record = self._image_record.get(image.id)
        if record is None:
            properties = dict(self.image_meta(image))
            for key in ("container_format", "disk_format", "min_disk", "min_ram"):
                del properties[key]
            record = {
                "checksum": image.checksum,
                "container_format": "ovf",
                "created_at": nova_str(image.created_at),
                "deleted": False,
                "deleted_at": None,
                "disk_format": "vhd",
                "id": image.id,
                "is_public": True,
                "min_disk": image.spec.min_disk,
                "min_ram": image.spec.min_ram,
                "name": image.spec.name,
                "owner": tenant_id,
                "properties": properties,
                "size": image.spec.size,
                "status": "active",
                "updated_at": nova_str(image.updated_at),
            }
            self._image_record[image.id] = record
        return record

    def image_ref_url(self, instance: Instance) -> str:
        """The glance URL of the instance's image."""
        return f"http://{instance.host.cell.glance}:9292/images/{instance.image.id}"

    # ------------------------------------------------------------------ instance

    def instance(self, instance: Instance) -> dict[str, Any]:
        """The constant part of the flat instance payload (cached, do not mutate)."""
        base = instance.cache
        if base is None:
            flavor = instance.flavor
            base = {
                "tenant_id": instance.tenant.tenant_id,
                "user_id": instance.user.user_id,
                "instance_id": instance.uuid,
                "display_name": instance.display_name,
                "reservation_id": instance.reservation_id,
                "hostname": instance.hostname,
                "instance_type": flavor.name,
                "instance_type_id": flavor.id,
                "instance_flavor_id": flavor.flavorid,
                "memory_mb": flavor.memory_mb,
                "disk_gb": flavor.disk_gb,
                "vcpus": flavor.vcpus,
                "root_gb": flavor.root_gb,
                "ephemeral_gb": flavor.ephemeral_gb,
                "host": instance.host.name,
                "node": instance.host.name,
                "availability_zone": None,
                "created_at": nova_str(instance.created_at),
                "launched_at": _date(instance.launched_at),
                "terminated_at": _date(instance.terminated_at),
                "deleted_at": _date(instance.deleted_at),
                "access_ip_v4": instance.access_ip_v4,
                "access_ip_v6": instance.access_ip_v6,
                "image_meta": self.image_meta(instance.image),
                "image_ref_url": self.image_ref_url(instance),
                "os_type": instance.image.spec.os_type,
                "architecture": "x64",
                "kernel_id": "",
                "ramdisk_id": "",
                "metadata": {},
            }
            instance.cache = base
        return base

    def bandwidth(self, instance: Instance) -> dict[str, Any]:
        """Cumulative traffic counters; empty until the instance has networking."""
        if not instance.network_info:
            return {}
        return {
            "private": {
                "bw_in": instance.bandwidth_in,
                "bw_out": instance.bandwidth_out,
            },
            "public": {
                "bw_in": instance.bandwidth_in // 7,
                "bw_out": instance.bandwidth_out // 3,
            },
        }

    def update(
        self, instance: Instance, now: int, shown: Sequence[str | None]
    ) -> dict[str, Any]:
        """``compute.instance.update``: state transition plus the current period.

        ``shown`` is ``(state, old_state, task, old_task, new_task)``.
        """
        state, old_state, task, old_task, new_task = shown
        payload = self.instance(instance).copy()
        payload["state"] = state
        payload["state_description"] = task or ""
        payload["old_state"] = old_state
        payload["old_task_state"] = old_task
        payload["new_task_state"] = new_task
        payload["audit_period_beginning"] = self._midnight(now)
        payload["audit_period_ending"] = nova_str(now)
        payload["bandwidth"] = self.bandwidth(instance)
        return payload

    def exists(
        self, instance: Instance, beginning: int, ending: int, state: str, task: str
    ) -> dict[str, Any]:
        """``compute.instance.exists`` for the audit period ``beginning``-``ending``."""
        payload = self.instance(instance).copy()
        payload["state"] = state
        payload["state_description"] = task
        payload["audit_period_beginning"] = nova_str(beginning)
        payload["audit_period_ending"] = nova_str(ending)
        payload["bandwidth"] = self.bandwidth(instance)
        return payload

    def _midnight(self, now: int) -> str:
        day = now // DAY
        if day != self._day:
            self._day = day
            self._day_text = nova_str(day * DAY)
        return self._day_text

    # ------------------------------------------------------------------ records

    def system_metadata(self, instance: Instance) -> dict[str, Any]:
        """The instance's ``system_metadata``: image properties and flavor copy."""
        key = (instance.image.id, instance.flavor.id)
        metadata = self._system_metadata.get(key)
        if metadata is None:
            spec = instance.image.spec
            metadata = {
                f"image_{name}": value
                for name, value in self.image_meta(instance.image).items()
            }
            metadata["image_min_disk"] = spec.min_disk
            metadata["image_min_ram"] = spec.min_ram
            for name, value in flavor_record(instance.flavor).items():
                if name != "extra_specs":
                    metadata[f"instance_type_{name}"] = str(value)
            self._system_metadata[key] = metadata
        return metadata

    def record(self, instance: Instance, now: int) -> dict[str, Any]:
        """The database-style instance dict (scheduler spec, exception args)."""
        tenant = instance.tenant
        launched = instance.launched_at is not None
        return {
            "access_ip_v4": instance.access_ip_v4,
            "access_ip_v6": instance.access_ip_v6,
            "architecture": "x64",
            "auto_disk_config": instance.image.spec.auto_disk_config == "True",
            "availability_zone": None,
            "cell_name": instance.host.cell.name,
            "cleaned": False,
            "config_drive": "",
            "created_at": nova_str(instance.created_at),
            "default_ephemeral_device": None,
            "default_swap_device": None,
            "deleted": False,
            "deleted_at": None,
            "disable_terminate": False,
            "display_description": instance.display_name,
            "display_name": instance.display_name,
            "ephemeral_gb": instance.flavor.ephemeral_gb,
            "ephemeral_key_uuid": None,
            "host": instance.host.name,
            "hostname": instance.hostname,
            "id": instance.db_id,
            "image_ref": instance.image.id,
            "info_cache": {
                "created_at": nova_str(instance.created_at),
                "deleted": False,
                "deleted_at": None,
                "instance_uuid": instance.uuid,
                "network_info": instance.network_info,
                "updated_at": _maybe(instance.launched_at),
            },
            "instance_type_id": instance.flavor.id,
            "kernel_id": "",
            "key_data": None,
            "key_name": "",
            "launch_index": 0,
            "launched_at": _maybe(instance.launched_at),
            "launched_on": instance.host.name if launched else None,
            "locked": False,
            "locked_by": None,
            "memory_mb": instance.flavor.memory_mb,
            "metadata": {},
            "name": f"instance-{instance.uuid}",
            "node": instance.host.name,
            "os_type": instance.image.spec.os_type,
            "power_state": _POWER_STATES.get(instance.vm_state, 0),
            "progress": 100 if launched else 0,
            "project_id": tenant.tenant_id,
            "ramdisk_id": "",
            "reservation_id": instance.reservation_id,
            "root_device_name": "/dev/xvda" if launched else None,
            "root_gb": instance.flavor.root_gb,
            "scheduled_at": nova_str(instance.created_at + 700_000),
            "security_groups": {"objects": [self._security_group(instance)]},
            "shutdown_terminate": False,
            "system_metadata": self.system_metadata(instance),
            "task_state": instance.task_state,
            "terminated_at": None,
            "updated_at": nova_str(now),
            "user_data": None,
            "user_id": instance.user.user_id,
            "uuid": instance.uuid,
            "vcpus": instance.flavor.vcpus,
            "vm_mode": instance.image.spec.vm_mode,
            "vm_state": instance.vm_state,
        }

    def _security_group(self, instance: Instance) -> dict[str, Any]:
        tenant = instance.tenant
        return {
            "created_at": nova_str(tenant.security_group_created),
            "deleted": False,
            "deleted_at": None,
            "description": "default",
            "id": tenant.security_group_id,
            "name": "default",
            "project_id": tenant.tenant_id,
            "updated_at": None,
            "user_id": instance.user.user_id,
        }

    def request_spec(self, instance: Instance, now: int) -> dict[str, Any]:
        """The scheduler's ``request_spec`` for building ``instance``."""
        image = instance.image
        return {
            "block_device_mapping": [
                {
                    "boot_index": 0,
                    "delete_on_termination": True,
                    "destination_type": "local",
                    "device_name": None,
                    "device_type": "disk",
                    "disk_bus": None,
                    "guest_format": None,
                    "image_id": image.id,
                    "instance_uuid": instance.uuid,
                    "no_device": None,
                    "snapshot_id": None,
                    "source_type": "image",
                    "volume_id": None,
                    "volume_size": None,
                }
            ],
            "image": self.image_record(image, instance.tenant.tenant_id),
            "instance_properties": self.record(instance, now),
            "instance_type": flavor_record(instance.flavor),
            "instance_uuids": [instance.uuid],
            "num_instances": 1,
            "security_group": ["default"],
        }

    def volume_bdms(
        self, instance: Instance, now: int, count: int
    ) -> list[dict[str, Any]]:
        """Attached volumes, as ``terminate_instance`` receives them."""
        ids = self.world.ids
        created = instance.created_at + 60_000_000
        return [
            {
                "created_at": nova_str(created),
                "delete_on_termination": False,
                "deleted": 0,
                "deleted_at": None,
                "device_name": f"/dev/xvd{'bcdefg'[number]}",
                "id": self.world.rng.randrange(10_000, 99_999),
                "instance_uuid": instance.uuid,
                "no_device": None,
                "snapshot_id": None,
                "updated_at": nova_str(min(now, created + 30_000_000)),
                "virtual_name": None,
                "volume_id": ids.uuid(),
                "volume_size": None,
            }
            for number in range(count)
        ]

    @staticmethod
    def new_flavor_fields(flavor: Flavor) -> dict[str, Any]:
        """The two keys ``resize.prep.end`` adds for the target flavor."""
        return {"new_instance_type": flavor.name, "new_instance_type_id": flavor.id}
