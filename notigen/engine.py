"""The simulation loop: a heap of timed tasks on a simulated clock.

Everything that happens is a task in one heap ordered by (time, sequence):

* :class:`Arrivals` starts operations at random (Poisson) times, at the rate asked
  for, picking a scenario by weight and an idle instance it applies to;
* :class:`~notigen.operations.Operation` sends its scenario's steps one at a time;
* :class:`FollowUp` starts the second half of a two-part operation (a resize's
  confirm or revert, an unrescue) some time after the first half ended;
* :class:`Midnight` fires at every UTC midnight and starts one :class:`Audit` per
  host, which sends a ``compute.instance.exists`` for every instance that was
  launched and not deleted at midnight, for the day that ended.

Usage (``.exists``) semantics, what STv3's usage audit expects:

* end of day: at each UTC midnight, every instance launched and not deleted gets
  an ``.exists`` for the day that ended (``audit_period_beginning`` 00:00:00 to
  ``audit_period_ending`` the next 00:00:00), describing the instance as it was
  at midnight, sent by its compute host within the next few minutes;
* delete: as nova's ``notify_usage_exists(current_period=True)``, an ``.exists``
  right after ``delete.end`` covers midnight to the deletion, with
  ``deleted_at``, ``terminated_at`` and state ``deleted``; no end-of-day
  ``.exists`` follows. (Nova's periodic audit would also list an instance
  deleted during the day; STv3's audit fails that ``.exists`` with U5, deleted
  inside the period but no delete in its block, so it is left out);
* rebuild, resize and resize revert first close the current period with an
  ``.exists`` (midnight to now), as nova does before it changes what is billed
  (for revert this is our choice, so the audit sees the revert in a period of
  its own);
* an instance that never launched (a failed build) gets none: there is nothing
  to bill and STv3 would fail it for lacking ``launched_at`` (U1).

Popping the heap yields notifications in timestamp order however many operations
overlap. New operations and audits start only inside the simulated window
(``start`` to ``start + duration``); what has started runs to its end, so the
output holds no half-finished operation and the last midnight's audit is complete.

Determinism: one ``random.Random(seed)`` makes every choice and every id, tasks
with equal times keep their push order, and nothing reads the wall clock.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from notigen.clock import DAY, HOUR, SECOND, next_midnight
from notigen.ids import IdSource
from notigen.operations import Emitted, Kit, Operation, audit_context, message
from notigen.payloads import PayloadFactory
from notigen.scenarios import Scenario, load_scenarios
from notigen.world import Host, Instance, World

__all__ = ["Engine", "SimConfig"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The knobs of a simulation.

    ``start`` and ``duration`` are microseconds (``duration=None``: no end, stop by
    counting what you consume). ``instances`` servers exist, launched, before
    ``start``. Raises ``ValueError`` (from :class:`Engine`) for impossible values.
    """

    seed: int = 0
    start: int = 1_704_067_200 * SECOND  # 2024-01-01T00:00:00Z
    duration: int | None = DAY
    ops_per_hour: float = 120.0
    instances: int = 20
    tenants: int = 10
    hosts: int = 8
    cells: int = 1


class Task(Protocol):
    """Anything the heap holds: it fires at its time and may ask to fire again."""

    def fire(self, now: int) -> tuple[Emitted | None, int | None]:
        """Do the work due at ``now``; return a notification and the next time."""
        ...


class Engine:
    """Runs a :class:`SimConfig` and yields ``(message, hints)`` in time order."""

    def __init__(
        self, config: SimConfig, scenarios: dict[str, Scenario] | None = None
    ) -> None:
        if config.ops_per_hour < 0:
            raise ValueError("ops_per_hour must not be negative")
        if config.instances < 0:
            raise ValueError("instances must not be negative")
        if config.duration is not None and config.duration <= 0:
            raise ValueError("duration must be positive")
        self.config = config
        self.rng = random.Random(config.seed)
        self.ids = IdSource(self.rng)
        self.world = World(
            self.ids,
            tenants=config.tenants,
            hosts=config.hosts,
            cells=config.cells,
            start=config.start,
        )
        self.payloads = PayloadFactory(self.world)
        self.scenarios = scenarios if scenarios is not None else load_scenarios()
        self.end = None if config.duration is None else config.start + config.duration
        self.kit = Kit(self.world, self.ids, self.payloads, self._operation_done)
        self._heap: list[tuple[int, int, Task]] = []
        self._seq = itertools.count()
        self.now = config.start
        self.world.seed_instances(config.instances)
        for instance in self.world.instances:
            instance.bandwidth_in = self.rng.randrange(10**6, 10**10)
            instance.bandwidth_out = self.rng.randrange(10**5, 10**9)
        picked = [s for s in self.scenarios.values() if s.weight > 0]
        self._random = picked
        self._weights = [s.weight for s in picked]
        self._creating = [s for s in picked if s.creates]
        self._creating_weights = [s.weight for s in self._creating]
        self._target = max(10, config.instances)
        if config.ops_per_hour > 0:
            self.push(config.start, Arrivals(self, config.ops_per_hour))
        self.push(next_midnight(config.start), Midnight(self))

    def within(self, now: int) -> bool:
        """``now`` is inside the simulated window (new work may start)."""
        return self.end is None or now <= self.end

    def push(self, when: int, task: Task) -> None:
        """Schedule ``task`` to fire at ``when``."""
        heapq.heappush(self._heap, (when, next(self._seq), task))

    def __iter__(self) -> Iterator[Emitted]:
        return self.run()

    def run(self) -> Iterator[Emitted]:
        """Yield every notification of the simulation, in timestamp order."""
        heap = self._heap
        pop = heapq.heappop
        push = heapq.heappush
        seq = self._seq
        while heap:
            now, _, task = pop(heap)
            self.now = now
            emitted, again = task.fire(now)
            if again is not None:
                push(heap, (again, next(seq), task))
            if emitted is not None:
                yield emitted

    # ------------------------------------------------------------------ operations

    def start_operation(self, now: int) -> None:
        """Pick a scenario and an instance for it, and schedule its first step."""
        rng = self.rng
        scenario = rng.choices(self._random, self._balanced_weights())[0]
        instance: Instance | None = None
        if not scenario.creates:
            assert scenario.needs is not None
            instance = self.world.pick_idle(scenario.needs)
        if instance is None:
            if not scenario.creates:
                scenario = rng.choices(self._creating, self._creating_weights)[0]
            instance = self.world.new_instance(now)
        self._begin(scenario, instance, now)

    def _balanced_weights(self) -> list[float]:
        """Scenario weights with creates scaled to keep the fleet near its size.

        The target is the ``instances`` option (at least 10): a smaller fleet
        creates more, a larger one less (by a factor between 1/4 and 4).
        """
        alive = len(self.world.instances)
        factor = min(4.0, max(0.25, self._target / max(alive, 1)))
        return [
            w * factor if s.creates else w
            for s, w in zip(self._random, self._weights, strict=True)
        ]

    def _begin(self, scenario: Scenario, instance: Instance, now: int) -> None:
        operation = Operation(self.kit, scenario, instance, now)
        self.push(now + operation.first_delay(), operation)

    def _operation_done(self, operation: Operation, now: int) -> None:
        scenario = operation.scenario
        if not scenario.then or operation.instance.terminated_at is not None:
            return
        draw = self.rng.random()
        for name, probability in scenario.then:
            if draw < probability:
                low, high = scenario.then_after
                when = now + self.rng.randint(low, high)
                self.push(
                    when, FollowUp(self, self.scenarios[name], operation.instance)
                )
                return
            draw -= probability

    def follow_up(self, scenario: Scenario, instance: Instance, now: int) -> None:
        """Start ``scenario`` on ``instance`` if it still applies."""
        needs = scenario.needs
        if instance.busy or instance.terminated_at is not None:
            return
        if needs is not None and instance.vm_state not in needs:
            return
        self._begin(scenario, instance, now)

    # ------------------------------------------------------------------ audits

    def audit(self, midnight: int) -> None:
        """Snapshot every launched instance at ``midnight`` and schedule the audits.

        Each host's audit starts a little after midnight and sends one ``.exists``
        per instance, with the instance as it was at midnight.
        """
        rng = self.rng
        beginning = midnight - DAY
        by_host: dict[str, list[dict[str, Any]]] = {}
        for instance in self.world.instances:
            if instance.launched_at is None or instance.terminated_at is not None:
                continue
            instance.bandwidth_in += rng.randrange(10**5, 10**9)
            instance.bandwidth_out += rng.randrange(10**4, 10**8)
            payload = self.payloads.exists(
                instance,
                beginning,
                midnight,
                instance.vm_state,
                instance.task_state or "",
            )
            by_host.setdefault(instance.host.name, []).append(payload)
        for host in self.world.hosts:
            payloads = by_host.get(host.name)
            if payloads:
                started = midnight + rng.randrange(2 * SECOND, 180 * SECOND)
                self.push(started, Audit(self, host, payloads, started))


class Arrivals:
    """Starts operations at exponentially distributed intervals."""

    __slots__ = ("engine", "mean")

    def __init__(self, engine: Engine, ops_per_hour: float) -> None:
        self.engine = engine
        self.mean = HOUR / ops_per_hour

    def fire(self, now: int) -> tuple[Emitted | None, int | None]:
        """Start one operation and schedule the next arrival."""
        engine = self.engine
        if not engine.within(now):
            return None, None
        engine.start_operation(now)
        return None, now + 1 + int(engine.rng.expovariate(1.0) * self.mean)


class FollowUp:
    """Starts the second half of a two-part operation."""

    __slots__ = ("engine", "instance", "scenario")

    def __init__(self, engine: Engine, scenario: Scenario, instance: Instance) -> None:
        self.engine = engine
        self.scenario = scenario
        self.instance = instance

    def fire(self, now: int) -> tuple[Emitted | None, int | None]:
        """Start the operation when it still applies and the window is open."""
        if self.engine.within(now):
            self.engine.follow_up(self.scenario, self.instance, now)
        return None, None


class Midnight:
    """Fires at each UTC midnight of the window and starts the day's audits."""

    __slots__ = ("engine",)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def fire(self, now: int) -> tuple[Emitted | None, int | None]:
        """Audit the day that just ended; come back at the next midnight."""
        if not self.engine.within(now):
            return None, None
        self.engine.audit(now)
        return None, now + DAY


class Audit:
    """One host's end-of-day usage audit: an ``.exists`` per instance."""

    __slots__ = ("context", "engine", "index", "payloads", "publisher")

    def __init__(
        self, engine: Engine, host: Host, payloads: list[dict[str, Any]], started: int
    ) -> None:
        self.engine = engine
        self.payloads = payloads
        self.publisher = "compute." + host.name
        self.context = audit_context(engine.ids, started - 150_000)
        self.index = 0

    def fire(self, now: int) -> tuple[Emitted | None, int | None]:
        """Send the next ``.exists``; come back shortly for the one after."""
        engine = self.engine
        body = message(
            engine.ids,
            self.context,
            "compute.instance.exists",
            self.payloads[self.index],
            "INFO",
            self.publisher,
            now,
        )
        self.index += 1
        if self.index >= len(self.payloads):
            return (body, None), None
        return (body, None), now + engine.rng.randrange(20_000, 250_000)
