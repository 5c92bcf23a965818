"""The scenario format: plain data in, validated frozen objects out.

A scenario is one user-visible nova operation (create, delete, resize, ...) as the
sequence of notifications nova emits for it. The data modules write scenarios as
dicts; :func:`compile_scenarios` checks them and builds :class:`Scenario` objects
with :class:`Step` tuples the engine walks without further checks.

Scenario keys:

``weight``
    relative frequency among operations picked at random (0: only reached as a
    follow-up of another scenario).
``needs``
    the vm_states an existing instance must be in, or ``"new"`` for an operation
    that creates its instance.
``failure``
    key of :data:`notigen.catalog.FAILURES`: the failure this operation suffers.
``then`` / ``then_after``
    follow-up operations ``[[name, probability], ...]`` started on the same
    instance ``then_after`` ``[min, max]`` seconds after this one ends.
``steps``
    the notifications, in order (below).

Step keys:

``event``
    the event_type. Events starting with ``scheduler.`` are published by a
    scheduler (``scheduler.<host>``), the others by the instance's compute host.
``after``
    ``[min, max]`` seconds since the previous step (uniform), default
    ``[0.05, 0.35]``; for the first step, since the operation started.
``repeat``
    ``[min, max]`` times the step is sent, each after its own delay.
``update``
    ``[state, old_state, task, old_task, new_task]`` of a ``compute.instance.update``;
    the instance takes ``state`` and ``task`` (``""``: none) as its new state.
``show``
    ``[state, task]`` shown by any other instance notification. ``"$vm"`` in
    ``update`` or ``show`` stands for the instance's vm_state when the operation
    began.
``kind``
    payload shape when it is not implied: ``exists``, ``request_spec``,
    ``scheduled``, ``no_valid_host``, ``exception``.
``with``
    optional payload keys: ``image_name``, ``fixed_ips``, ``rescue_image_name``,
    ``new_flavor``, ``message``, ``fault``.
``message`` / ``fault``
    the ``message`` text (``{instance_id}`` and ``{reason}`` are filled in) and the
    shape of the ``exception`` value: ``code`` (``{"kwargs": {"code": 500}}``),
    ``detail`` (plus ``instance_uuid`` and ``reason``), ``reason`` (plus
    ``instance_id`` and ``reason``) or ``empty`` (``{}``).
``args``
    extra ``args`` of an exception payload: ``bdms``, ``reservations``, ``image_id``.
``priority``
    ``INFO`` (default) or ``ERROR``.
``effect``
    what happens to the instance when the step is sent, before its payload is
    built: ``launch`` (sets ``launched_at``, plugs networks), ``relaunch`` (new
    ``launched_at``), ``terminate`` (``terminated_at``, leaves the world),
    ``destroy`` (``deleted_at``), ``place`` (the scheduler's choice; another host
    on a reschedule), ``new_image``, ``finish_resize`` (target flavor and host),
    ``revert`` (back to the flavor and host before the resize).
``when``
    ``launched``: only sent for an instance that has been launched.
``use``
    the name of a block of steps to insert here (instead of ``event``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from notigen.catalog import FAILURES
from stacktach.exceptions import ConfigError

__all__ = [
    "EFFECTS",
    "EXTRAS",
    "FAULT_SHAPES",
    "KINDS",
    "Scenario",
    "ScenarioError",
    "Step",
    "compile_scenarios",
]

KINDS = frozenset(
    {
        "instance",
        "update",
        "exists",
        "request_spec",
        "scheduled",
        "no_valid_host",
        "exception",
    }
)
EXTRAS = frozenset(
    {"image_name", "fixed_ips", "rescue_image_name", "new_flavor", "message", "fault"}
)
EFFECTS = frozenset(
    {
        "launch",
        "relaunch",
        "terminate",
        "destroy",
        "place",
        "new_image",
        "finish_resize",
        "revert",
    }
)
FAULT_SHAPES = frozenset({"code", "detail", "empty", "reason"})
VM_STATES = frozenset(
    {"building", "active", "stopped", "rescued", "resized", "error", "deleted", "$vm"}
)
_STEP_KEYS = frozenset(
    {
        "event",
        "after",
        "repeat",
        "update",
        "show",
        "kind",
        "with",
        "message",
        "fault",
        "args",
        "priority",
        "effect",
        "when",
        "use",
    }
)
_SCENARIO_KEYS = frozenset(
    {"weight", "needs", "failure", "then", "then_after", "steps"}
)
_DEFAULT_AFTER = (0.05, 0.35)
_US = 1_000_000


class ScenarioError(ConfigError):
    """A scenario definition is malformed; the message names the scenario and step."""


@dataclass(frozen=True, slots=True)
class Step:
    """One notification of a scenario, ready for the engine."""

    event: str
    kind: str
    after: tuple[int, int]
    repeat: tuple[int, int]
    shown: tuple[str | None, ...]
    placeholder: bool
    extras: frozenset[str]
    message: str
    fault: str
    args: tuple[str, ...]
    priority: str
    publisher: str
    effect: str | None
    only_launched: bool


@dataclass(frozen=True, slots=True)
class Scenario:
    """A compiled operation; see the module docstring for the meaning of fields."""

    name: str
    weight: float
    needs: frozenset[str] | None
    failure: str | None
    steps: tuple[Step, ...]
    then: tuple[tuple[str, float], ...]
    then_after: tuple[int, int]

    @property
    def creates(self) -> bool:
        """The operation brings a new instance into the world."""
        return self.needs is None


def compile_scenarios(
    scenarios: Mapping[str, Mapping[str, Any]],
    blocks: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, Scenario]:
    """Validate scenario data and build :class:`Scenario` objects by name.

    Raises :class:`ScenarioError` naming the scenario, the step and the problem.
    """
    compiled = {name: _scenario(name, data, blocks) for name, data in scenarios.items()}
    for scenario in compiled.values():
        for follow, _ in scenario.then:
            if follow not in compiled:
                raise ScenarioError(
                    f"follow-up {follow!r} is not a scenario", key=scenario.name
                )
    if not any(s.weight > 0 and s.creates for s in compiled.values()):
        raise ScenarioError("no scenario with a weight creates instances")
    return compiled


def _scenario(
    name: str,
    data: Mapping[str, Any],
    blocks: Mapping[str, Sequence[Mapping[str, Any]]],
) -> Scenario:
    unknown = sorted(set(data) - _SCENARIO_KEYS)
    if unknown:
        raise ScenarioError(f"unknown key(s) {unknown}", key=name)
    needs_raw = data.get("needs", "new")
    needs: frozenset[str] | None
    if needs_raw == "new":
        needs = None
    else:
        needs = frozenset(needs_raw)
        if not needs or not needs <= VM_STATES:
            raise ScenarioError(f"needs: bad vm_states {sorted(needs)}", key=name)
    failure = data.get("failure")
    if failure is not None and failure not in FAILURES:
        raise ScenarioError(f"failure: unknown {failure!r}", key=name)
    raw_steps: list[Mapping[str, Any]] = []
    for step in data["steps"]:
        if "use" in step:
            if step["use"] not in blocks:
                raise ScenarioError(f"use: unknown block {step['use']!r}", key=name)
            raw_steps.extend(blocks[step["use"]])
        else:
            raw_steps.append(step)
    steps = tuple(_step(name, index, raw) for index, raw in enumerate(raw_steps))
    if not steps:
        raise ScenarioError("a scenario needs steps", key=name)
    then = tuple((str(n), float(p)) for n, p in data.get("then", ()))
    if sum(p for _, p in then) > 1.0 + 1e-9:
        raise ScenarioError("then: probabilities add up to more than 1", key=name)
    return Scenario(
        name=name,
        weight=float(data.get("weight", 0)),
        needs=needs,
        failure=failure,
        steps=steps,
        then=then,
        then_after=_span(name, "then_after", data.get("then_after", (60, 3600))),
    )


def _step(scenario: str, index: int, data: Mapping[str, Any]) -> Step:
    where = f"{scenario}.steps[{index}]"
    unknown = sorted(set(data) - _STEP_KEYS)
    if unknown:
        raise ScenarioError(f"unknown key(s) {unknown}", key=where)
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise ScenarioError("event: a non-empty string is required", key=where)
    shown: tuple[str | None, ...]
    if "update" in data:
        kind = "update"
        shown = tuple(data["update"])
        if len(shown) != 5:
            raise ScenarioError("update: five values expected", key=where)
    else:
        kind = data.get("kind", "instance")
        shown = tuple(data.get("show", ()))
        if kind in ("instance", "exists") and len(shown) != 2:
            raise ScenarioError("show: [state, task] expected", key=where)
    if kind not in KINDS:
        raise ScenarioError(f"kind: unknown {kind!r}", key=where)
    if shown and shown[0] not in VM_STATES:
        raise ScenarioError(f"unknown vm_state {shown[0]!r}", key=where)
    extras = frozenset(data.get("with", ()))
    if not extras <= EXTRAS:
        raise ScenarioError(f"with: unknown {sorted(extras - EXTRAS)}", key=where)
    effect = data.get("effect")
    if effect is not None and effect not in EFFECTS:
        raise ScenarioError(f"effect: unknown {effect!r}", key=where)
    priority = data.get("priority", "INFO")
    if priority not in ("INFO", "ERROR"):
        raise ScenarioError(f"priority: {priority!r} is not INFO or ERROR", key=where)
    when = data.get("when")
    if when not in (None, "launched"):
        raise ScenarioError(f"when: {when!r} is not 'launched'", key=where)
    fault = str(data.get("fault", "code"))
    if fault not in FAULT_SHAPES:
        raise ScenarioError(
            f"fault: {fault!r} is not one of {sorted(FAULT_SHAPES)}", key=where
        )
    repeat = tuple(int(n) for n in data.get("repeat", (1, 1)))
    if len(repeat) != 2 or not 1 <= repeat[0] <= repeat[1]:
        raise ScenarioError("repeat: [min, max] with 1 <= min <= max", key=where)
    return Step(
        event=event,
        kind=kind,
        after=_span(where, "after", data.get("after", _DEFAULT_AFTER)),
        repeat=(repeat[0], repeat[1]),
        shown=shown,
        placeholder="$vm" in shown,
        extras=extras,
        message=str(data.get("message", "")),
        fault=fault,
        args=tuple(data.get("args", ())),
        priority=priority,
        publisher="scheduler" if event.startswith("scheduler.") else "compute",
        effect=effect,
        only_launched=when == "launched",
    )


def _span(where: str, key: str, value: Any) -> tuple[int, int]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ScenarioError(f"{key}: [min, max] seconds expected", key=where) from None
    if not 0 <= low <= high:
        raise ScenarioError(f"{key}: need 0 <= min <= max", key=where)
    return round(low * _US), round(high * _US)
