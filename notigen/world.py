"""The simulated deployment: cells, hosts, tenants and users, images, instances.

:class:`World` owns every entity and the one random generator that shapes them.
An :class:`Instance` is mutable simulation state (vm_state, host, flavor, the
times nova records); the payload module renders it and caches the rendering on
the instance until the next change (:meth:`Instance.touch`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from notigen.catalog import FLAVORS, IMAGES, ROLE_SETS, Flavor, ImageSpec
from notigen.clock import DAY, HOUR, SECOND
from notigen.ids import IdSource

__all__ = ["Cell", "Host", "Image", "Instance", "Tenant", "User", "World"]


@dataclass(slots=True)
class Image:
    """A base image of the deployment's glance."""

    spec: ImageSpec
    id: str
    checksum: str
    created_at: int
    updated_at: int


@dataclass(slots=True)
class User:
    """An API user; it sends every request of its tenant's operations."""

    user_id: str
    user_name: str
    roles: tuple[str, ...]
    is_admin: bool
    remote_address: str


@dataclass(slots=True)
class Tenant:
    """A project with its users and its default security group."""

    tenant_id: str
    users: list[User]
    security_group_id: int
    security_group_created: int


@dataclass(slots=True)
class Host:
    """A nova-compute host; its notifications come from ``compute.<name>``."""

    name: str
    cell: Cell
    address: str


@dataclass(slots=True)
class Cell:
    """A group of hosts with its own schedulers and glance endpoint."""

    name: str
    schedulers: list[str]
    glance: str
    hosts: list[Host] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Instance:
    """A server and the state nova keeps for it.

    Times are microseconds since the epoch (``None`` while unset). ``busy`` is set
    while an operation runs on the instance, so operations never overlap.
    ``index`` is the instance's slot in :attr:`World.instances` (``-1`` once gone).
    ``previous`` keeps the flavor and host a resize left, until it is confirmed or
    reverted.
    """

    uuid: str
    db_id: int
    tenant: Tenant
    user: User
    display_name: str
    hostname: str
    reservation_id: str
    flavor: Flavor
    image: Image
    host: Host
    created_at: int
    vm_state: str = "building"
    task_state: str | None = "scheduling"
    launched_at: int | None = None
    terminated_at: int | None = None
    deleted_at: int | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    fixed_ips: list[dict[str, Any]] = field(default_factory=list)
    network_info: list[dict[str, Any]] = field(default_factory=list)
    bandwidth_in: int = 0
    bandwidth_out: int = 0
    previous: tuple[Flavor, Host] | None = None
    busy: bool = False
    index: int = -1
    cache: dict[str, Any] | None = None

    def touch(self) -> None:
        """Forget the cached payload after a change to the instance's record."""
        self.cache = None

    @property
    def launched(self) -> bool:
        """Nova has launched it at least once and it is not deleted."""
        return self.launched_at is not None and self.terminated_at is None


class World:
    """Every entity of the simulation, built from one seeded generator.

    ``tenants``, ``hosts`` and ``cells`` give the size of the deployment. Raises
    ``ValueError`` when one of them is smaller than 1.
    """

    def __init__(
        self, ids: IdSource, *, tenants: int, hosts: int, cells: int, start: int
    ) -> None:
        if tenants < 1 or hosts < 1 or cells < 1:
            raise ValueError("tenants, hosts and cells must each be at least 1")
        self.ids = ids
        self.rng: random.Random = ids.rng
        self.start = start
        self.cells = [self._cell(number) for number in range(1, cells + 1)]
        self.hosts: list[Host] = []
        for number in range(hosts):
            cell = self.cells[number % cells]
            host = Host(self._host_name(cell, number), cell, ids.ipv4("10."))
            cell.hosts.append(host)
            self.hosts.append(host)
        self.tenants = [self._tenant() for _ in range(tenants)]
        self.images = [self._image(spec) for spec in IMAGES]
        self.public_net = {"id": ids.uuid(), "original_id": ids.uuid()}
        self.private_net = {"id": ids.uuid(), "original_id": ids.uuid()}
        self.dns = [ids.ipv4(), ids.ipv4()]
        self.instances: list[Instance] = []
        self._next_db_id = 300_000 + self.rng.randrange(100_000)
        self._flavor_weights = [flavor.weight for flavor in FLAVORS]
        self._image_weights = [image.spec.weight for image in self.images]

    # ------------------------------------------------------------------ building

    def _cell(self, number: int) -> Cell:
        schedulers = [f"scheduler-c{number}-{k:02d}" for k in (1, 2)]
        return Cell(f"cell{number:02d}", schedulers, self.ids.ipv4())

    def _host_name(self, cell: Cell, number: int) -> str:
        rack = 10 + number // 40
        return f"c-10-{cell.name[-2:].lstrip('0')}-{rack}-{100 + number % 40}"

    def _tenant(self) -> Tenant:
        ids = self.ids
        users = []
        for _ in range(self.rng.randint(1, 3)):
            numeric = self.rng.random() < 0.6
            name = ids.digits(6)
            users.append(
                User(
                    user_id=name if numeric else ids.hex32(),
                    user_name=name,
                    roles=self.rng.choice(ROLE_SETS),
                    is_admin=self.rng.random() < 0.3,
                    remote_address=ids.ipv4(),
                )
            )
        created = self.start - self.rng.randrange(30 * DAY, 900 * DAY)
        return Tenant(ids.digits(6), users, self.rng.randrange(10_000, 99_999), created)

    def _image(self, spec: ImageSpec) -> Image:
        created = self.start - self.rng.randrange(60 * DAY, 400 * DAY)
        updated = created + self.rng.randrange(HOUR, 30 * DAY)
        return Image(spec, self.ids.uuid(), self.ids.hex32(), created, updated)

    # ------------------------------------------------------------------ instances

    def new_instance(self, now: int) -> Instance:
        """A server a user has just asked for, placed on a random host.

        It joins :attr:`instances` at once, busy, in state ``building``.
        """
        rng = self.rng
        ids = self.ids
        tenant = rng.choice(self.tenants)
        self._next_db_id += 1
        instance = Instance(
            uuid=ids.uuid(),
            db_id=self._next_db_id,
            tenant=tenant,
            user=rng.choice(tenant.users),
            display_name=f"server-{ids.digits(6)}",
            hostname=f"server-{ids.digits(6)}",
            reservation_id=f"r-{ids.hex32()[:8]}",
            flavor=rng.choices(FLAVORS, self._flavor_weights)[0],
            image=rng.choices(self.images, self._image_weights)[0],
            host=rng.choice(self.hosts),
            created_at=now,
            busy=True,
        )
        self._add(instance)
        return instance

    def seed_instances(self, count: int) -> None:
        """Add ``count`` servers that were launched before the simulation starts."""
        rng = self.rng
        for _ in range(count):
            created = self.start - rng.randrange(HOUR, 400 * DAY)
            instance = self.new_instance(created)
            instance.busy = False
            state = rng.choices(("active", "stopped", "error"), (90, 8, 2))[0]
            instance.vm_state = state
            instance.task_state = None
            self.launch(instance, created + rng.randrange(40 * SECOND, 900 * SECOND))

    def launch(self, instance: Instance, now: int) -> None:
        """Record a (re)launch at ``now``: nova sets ``launched_at`` and networking."""
        instance.launched_at = now
        if not instance.network_info:
            self._plug_network(instance)
        instance.touch()

    def _plug_network(self, instance: Instance) -> None:
        ids = self.ids
        v4 = ids.ipv4()
        v6 = ids.ipv6()
        private = ids.ipv4("10.")
        instance.access_ip_v4 = v4
        instance.access_ip_v6 = v6
        instance.fixed_ips = [
            _fixed_ip(v6, "public", 6),
            _fixed_ip(v4, "public", 4),
            _fixed_ip(private, "private", 4),
        ]
        instance.network_info = [
            self._vif("public", "publicnet", self.public_net, [(v6, 6), (v4, 4)]),
            self._vif("private", "servicenet", self.private_net, [(private, 4)]),
        ]

    def _vif(
        self, label: str, bridge: str, net: dict[str, str], ips: list[tuple[str, int]]
    ) -> dict[str, Any]:
        subnets = []
        for address, version in ips:
            if version == 6:
                cidr = address.rsplit(":", 4)[0] + "::/64"
                gateway = "fe80::def"
            else:
                cidr = address.rsplit(".", 1)[0] + ".0/24"
                gateway = address.rsplit(".", 1)[0] + ".1"
            subnets.append(
                {
                    "cidr": cidr,
                    "dns": [_typed(dns, "dns", 4) for dns in self.dns],
                    "gateway": _typed(gateway, "gateway", version),
                    "ips": [{**_typed(address, "fixed", version), "floating_ips": []}],
                    "meta": {},
                    "routes": [],
                    "version": version,
                }
            )
        return {
            "address": self.ids.mac(),
            "devname": f"vif-{self.ids.hex32()[:11]}",
            "id": self.ids.uuid(),
            "meta": {},
            "network": {
                "bridge": bridge,
                "id": net["id"],
                "label": label,
                "meta": {"nvp_managed": False, "original_id": net["original_id"]},
                "subnets": subnets,
            },
            "ovs_interfaceid": None,
            "qbg_params": None,
            "qbh_params": None,
            "type": None,
        }

    def terminate(self, instance: Instance, now: int) -> None:
        """Record the termination at ``now`` and drop the instance from the world.

        ``deleted_at`` stays unset until the database row goes (:meth:`destroy`),
        as in nova, where the update announcing ``deleted`` precedes the destroy.
        """
        instance.terminated_at = now
        instance.vm_state = "deleted"
        instance.task_state = None
        instance.touch()
        self._remove(instance)

    @staticmethod
    def destroy(instance: Instance, now: int) -> None:
        """Record the removal of the instance's row: ``deleted_at``."""
        instance.deleted_at = instance.terminated_at or now
        instance.touch()

    def _add(self, instance: Instance) -> None:
        instance.index = len(self.instances)
        self.instances.append(instance)

    def _remove(self, instance: Instance) -> None:
        index = instance.index
        if index < 0:
            return
        last = self.instances.pop()
        if last is not instance:
            self.instances[index] = last
            last.index = index
        instance.index = -1

    def pick_idle(self, states: frozenset[str], tries: int = 12) -> Instance | None:
        """A random instance that is not busy and whose vm_state is in ``states``.

        Tries a few random picks (the common case with a large fleet), then scans;
        ``None`` when no instance qualifies.
        """
        instances = self.instances
        if not instances:
            return None
        rng = self.rng
        for _ in range(tries):
            candidate = instances[rng.randrange(len(instances))]
            if not candidate.busy and candidate.vm_state in states:
                return candidate
        eligible = [i for i in instances if not i.busy and i.vm_state in states]
        return rng.choice(eligible) if eligible else None

    def other_host(self, instance: Instance) -> Host:
        """A host in the instance's cell other than its own (its own if alone)."""
        hosts = instance.host.cell.hosts
        if len(hosts) == 1:
            return instance.host
        while True:
            host = self.rng.choice(hosts)
            if host is not instance.host:
                return host

    def other_flavor(self, instance: Instance) -> Flavor:
        """A different flavor for a resize (a neighbour in size, mostly up)."""
        index = FLAVORS.index(instance.flavor)
        choices = [
            i for i in (index - 1, index + 1, index + 2) if 0 <= i < len(FLAVORS)
        ]
        return FLAVORS[self.rng.choice(choices)]


def _typed(address: str, kind: str, version: int) -> dict[str, Any]:
    return {"address": address, "meta": {}, "type": kind, "version": version}


def _fixed_ip(address: str, label: str, version: int) -> dict[str, Any]:
    return {
        "address": address,
        "floating_ips": [],
        "label": label,
        "meta": {},
        "type": "fixed",
        "version": version,
    }
