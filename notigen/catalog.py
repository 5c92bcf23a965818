"""Static tables of the simulated deployment: flavors, images, roles, failures.

Modelled on what the captured nova traffic shows (public-cloud flavor names, xenapi
style image properties, the role sets of API users), written as our own data. The
world draws from these tables; nothing here is random.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAILURES",
    "FLAVORS",
    "FLAVORS_BY_ID",
    "IMAGES",
    "ROLE_SETS",
    "Failure",
    "Flavor",
    "ImageSpec",
]


@dataclass(frozen=True, slots=True)
class Flavor:
    """An instance type as nova's legacy payloads describe it."""

    id: int
    flavorid: str
    name: str
    memory_mb: int
    root_gb: int
    ephemeral_gb: int
    vcpus: int
    swap: int
    rxtx_factor: float
    vcpu_weight: int
    weight: int
    extra_specs: dict[str, str] = field(default_factory=dict)

    @property
    def disk_gb(self) -> int:
        """Root plus ephemeral disk, nova's ``disk_gb``."""
        return self.root_gb + self.ephemeral_gb


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """A base image; the world gives each one a uuid."""

    name: str
    os_type: str
    org_distro: str
    version: str
    distro: str | None
    vm_mode: str
    auto_disk_config: str
    min_disk: int
    min_ram: int
    size: int
    weight: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A way an operation fails: what nova logs and what it raises."""

    exception: str
    message: str
    code: int


#: Flavors, smallest first. ``weight`` is the relative popularity for new servers.
FLAVORS: tuple[Flavor, ...] = (
    Flavor(2, "2", "512MB Standard Instance", 512, 20, 0, 1, 512, 80.0, 10, 30),
    Flavor(3, "3", "1GB Standard Instance", 1024, 40, 0, 1, 1024, 120.0, 10, 25),
    Flavor(4, "4", "2GB Standard Instance", 2048, 80, 0, 2, 2048, 240.0, 20, 15),
    Flavor(5, "5", "4GB Standard Instance", 4096, 160, 0, 2, 2048, 400.0, 40, 8),
    Flavor(6, "6", "8GB Standard Instance", 8192, 320, 0, 4, 2048, 600.0, 80, 4),
    Flavor(7, "7", "15GB Standard Instance", 15360, 620, 0, 6, 2048, 800.0, 150, 2),
    Flavor(
        10,
        "performance1-1",
        "1 GB Performance",
        1024,
        20,
        0,
        1,
        0,
        200.0,
        10,
        10,
        {"class": "performance1", "disk_io_index": "40"},
    ),
    Flavor(
        11,
        "performance1-4",
        "4 GB Performance",
        4096,
        40,
        40,
        4,
        0,
        800.0,
        40,
        4,
        {"class": "performance1", "disk_io_index": "40", "number_of_data_disks": "1"},
    ),
    Flavor(
        12,
        "performance1-8",
        "8 GB Performance",
        8192,
        40,
        80,
        8,
        0,
        1600.0,
        80,
        2,
        {"class": "performance1", "disk_io_index": "40", "number_of_data_disks": "1"},
    ),
)

FLAVORS_BY_ID: dict[int, Flavor] = {flavor.id: flavor for flavor in FLAVORS}

#: Base images. ``distro`` is ``None`` where the image sets no ``os_distro``.
IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec(
        "Ubuntu 12.04 LTS (Precise Pangolin)",
        "linux",
        "com.ubuntu",
        "12.04",
        "ubuntu",
        "hvm",
        "True",
        20,
        512,
        388_112_384,
        30,
    ),
    ImageSpec(
        "Ubuntu 14.04 LTS (Trusty Tahr)",
        "linux",
        "com.ubuntu",
        "14.04",
        "ubuntu",
        "hvm",
        "True",
        20,
        512,
        412_504_821,
        25,
    ),
    ImageSpec(
        "Debian 7 (Wheezy)",
        "linux",
        "org.debian",
        "7",
        "debian",
        "hvm",
        "disabled",
        20,
        512,
        301_998_080,
        15,
    ),
    ImageSpec(
        "CentOS 6.5",
        "linux",
        "org.centos",
        "6.5",
        "centos",
        "xen",
        "True",
        20,
        512,
        352_321_536,
        15,
    ),
    ImageSpec(
        "Fedora 20 (Heisenbug)",
        "linux",
        "org.fedoraproject",
        "20",
        "fedora",
        "hvm",
        "disabled",
        20,
        512,
        279_969_792,
        5,
    ),
    ImageSpec(
        "Windows Server 2008 R2 SP1",
        "windows",
        "com.microsoft.server",
        "2008.2",
        None,
        "hvm",
        "False",
        40,
        1024,
        6_442_450_944,
        10,
    ),
)

#: Role lists API users carry in their request context.
ROLE_SETS: tuple[tuple[str, ...], ...] = (
    ("checkmate", "object-store:default", "compute:default", "identity:user-admin"),
    ("identity:user-admin", "object-store:default", "compute:default"),
    ("admin", "compute:default", "object-store:default", "identity:default"),
    ("compute:default", "identity:default"),
)

#: Failures by the operation that suffers them.
FAILURES: dict[str, tuple[Failure, ...]] = {
    "build": (
        Failure("InstanceDeployFailure", "VDI too big for requested resize up.", 500),
        Failure(
            "RescheduledException",
            "Failed to spawn: timed out waiting for the network to plug",
            500,
        ),
        Failure(
            "InstanceDeployFailure", "Image download failed: checksum mismatch", 500
        ),
    ),
    "schedule": (
        Failure(
            "NoValidHost",
            "No valid host was found. Exceeded max scheduling "
            "attempts 3 for instance {instance_id}",
            500,
        ),
    ),
    "terminate": (
        Failure(
            "InstanceTerminationFailure",
            "Failed to terminate instance: VM is locked by a running task",
            500,
        ),
    ),
    "rescue": (
        Failure(
            "InstanceNotRescuable",
            "Driver Error: [Errno 104] Connection reset by peer",
            400,
        ),
    ),
    "snapshot": (
        Failure("ImageNotAuthorized", "Glance upload failed: 401 Unauthorized", 500),
        Failure("InternalError", "Snapshot upload timed out after 3 attempts", 500),
    ),
}


def flavor_record(flavor: Flavor) -> dict[str, Any]:
    """The ``instance_type`` dict of a scheduler request spec."""
    return {
        "ephemeral_gb": flavor.ephemeral_gb,
        "extra_specs": dict(flavor.extra_specs),
        "flavorid": flavor.flavorid,
        "id": flavor.id,
        "memory_mb": flavor.memory_mb,
        "name": flavor.name,
        "root_gb": flavor.root_gb,
        "rxtx_factor": flavor.rxtx_factor,
        "swap": flavor.swap,
        "vcpu_weight": flavor.vcpu_weight,
        "vcpus": flavor.vcpus,
    }
