"""One running operation: a scenario walked step by step for one instance.

The engine keeps an :class:`Operation` in its heap at the time of its next step;
:meth:`Operation.fire` sends that step (applying its effect on the instance,
building the notification) and says when the next one is due. State therefore
changes in simulated-time order even when many operations interleave.

Also here: the two request contexts nova puts on notifications (a user's request,
the periodic audit task) and the message envelope that wraps every payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from notigen.catalog import FAILURES, Failure, Flavor
from notigen.clock import midnight_before, oslo
from notigen.ids import IdSource
from notigen.payloads import PayloadFactory
from notigen.scenarios import Scenario, Step
from notigen.world import Instance, World

__all__ = [
    "Emitted",
    "Hints",
    "Kit",
    "Operation",
    "audit_context",
    "message",
    "user_context",
]

#: Facts a versioned rendering needs that the legacy message does not carry.
Hints = dict[str, Any]
#: What the engine yields: the legacy message and its hints (or ``None``).
Emitted = tuple[dict[str, Any], Hints | None]

_ARCHIVED_CONTEXT = {
    "_context_auth_token": "auth_token",
    "_context_glance_api_servers": "glance_api_servers",
    "_context_instance_lock_checked": "instance_lock_checked",
    "_context_is_admin": "is_admin",
    "_context_project_id": "project_id",
    "_context_project_name": "project_name",
    "_context_quota_class": "quota_class",
    "_context_remote_address": "remote_address",
    "_context_request_id": "request_id",
    "_context_roles": "roles",
    "_context_timestamp": "timestamp",
    "_context_user_id": "user_id",
    "_context_user_name": "user_name",
}


@dataclass(slots=True)
class Kit:
    """What operations share: the world, the payload factory, the done hook."""

    world: World
    ids: IdSource
    payloads: PayloadFactory
    on_done: Callable[[Operation, int], None]


def user_context(ids: IdSource, instance: Instance, requested: int) -> dict[str, Any]:
    """The ``_context_*`` keys of a request by the instance's owner."""
    user = instance.user
    tenant_id = instance.tenant.tenant_id
    return {
        "_context_auth_token": ids.hex32(),
        "_context_glance_api_servers": None,
        "_context_instance_lock_checked": False,
        "_context_is_admin": user.is_admin,
        "_context_project_id": tenant_id,
        "_context_project_name": tenant_id,
        "_context_quota_class": None,
        "_context_read_deleted": "no",
        "_context_remote_address": user.remote_address,
        "_context_request_id": ids.request_id(),
        "_context_roles": list(user.roles),
        "_context_tenant": tenant_id,
        "_context_timestamp": oslo(requested),
        "_context_user": user.user_id,
        "_context_user_id": user.user_id,
        "_context_user_name": user.user_name,
    }


def audit_context(ids: IdSource, started: int) -> dict[str, Any]:
    """The ``_context_*`` keys of nova's periodic usage audit (an admin context)."""
    return {
        "_context_auth_token": None,
        "_context_glance_api_servers": None,
        "_context_instance_lock_checked": False,
        "_context_is_admin": True,
        "_context_project_id": None,
        "_context_project_name": None,
        "_context_quota_class": None,
        "_context_read_deleted": "no",
        "_context_remote_address": None,
        "_context_request_id": ids.request_id(),
        "_context_roles": ["admin"],
        "_context_tenant": None,
        "_context_timestamp": oslo(started),
        "_context_user": None,
        "_context_user_id": None,
        "_context_user_name": None,
    }


def message(
    ids: IdSource,
    context: dict[str, Any],
    event_type: str,
    payload: dict[str, Any],
    priority: str,
    publisher_id: str,
    now: int,
) -> dict[str, Any]:
    """A flat oslo notification: the context keys plus the notifier's own."""
    body = context.copy()
    body["_unique_id"] = ids.hex32()
    body["event_type"] = event_type
    body["message_id"] = ids.uuid()
    body["payload"] = payload
    body["priority"] = priority
    body["publisher_id"] = publisher_id
    body["timestamp"] = oslo(now)
    return body


class Operation:
    """A scenario in progress on one instance."""

    __slots__ = (
        "_request_spec",
        "_target_flavor",
        "attempts",
        "context",
        "failure",
        "index",
        "instance",
        "kit",
        "left",
        "origin",
        "scenario",
        "scheduler",
        "snapshot_image_id",
    )

    def __init__(
        self, kit: Kit, scenario: Scenario, instance: Instance, now: int
    ) -> None:
        rng = kit.world.rng
        self.kit = kit
        self.scenario = scenario
        self.instance = instance
        self.origin = instance.vm_state
        self.context = user_context(
            kit.ids, instance, now - rng.randrange(100_000, 600_000)
        )
        self.scheduler = rng.choice(instance.host.cell.schedulers)
        self.failure: Failure | None = (
            rng.choice(FAILURES[scenario.failure]) if scenario.failure else None
        )
        self.index = 0
        self.left = self._repeats(scenario.steps[0])
        self.attempts = 0
        self.snapshot_image_id = kit.ids.uuid() if "snapshot" in scenario.name else None
        self._request_spec: dict[str, Any] | None = None
        self._target_flavor: Flavor | None = None
        instance.busy = True

    def first_delay(self) -> int:
        """Microseconds from the operation's start to its first step."""
        return self._delay(self.scenario.steps[0])

    def _delay(self, step: Step) -> int:
        low, high = step.after
        if low == high:
            return low
        return low + int(self.kit.world.rng.random() * (high - low))

    def _repeats(self, step: Step) -> int:
        low, high = step.repeat
        return low if low == high else self.kit.world.rng.randint(low, high)

    def fire(self, now: int) -> tuple[Emitted | None, int | None]:
        """Send the current step; return it and the time of the next (or ``None``)."""
        steps = self.scenario.steps
        step = steps[self.index]
        emitted = None
        if not step.only_launched or self.instance.launched_at is not None:
            emitted = self._send(step, now)
        self.left -= 1
        if self.left <= 0:
            self.index += 1
            if self.index >= len(steps):
                self.instance.busy = False
                self.kit.on_done(self, now)
                return emitted, None
            step = steps[self.index]
            self.left = self._repeats(step)
        return emitted, now + self._delay(step)

    # ------------------------------------------------------------------ a step

    def _send(self, step: Step, now: int) -> Emitted:
        instance = self.instance
        if step.effect is not None:
            self._apply(step.effect, now)
        shown = step.shown
        if step.placeholder:
            shown = tuple(self.origin if v == "$vm" else v for v in shown)
        hints: Hints | None = None
        kind = step.kind
        payloads = self.kit.payloads
        if kind == "update":
            payload = payloads.update(instance, now, shown)
            instance.vm_state = str(shown[0])
            instance.task_state = shown[2] or None
        elif kind == "instance":
            payload = payloads.instance(instance).copy()
            payload["state"] = shown[0]
            payload["state_description"] = shown[1]
            if step.extras:
                hints = self._extras(step, payload)
            elif "snapshot" in step.event or "resize.prep" in step.event:
                hints = self._hints(step)
        elif kind == "exists":
            payload = payloads.exists(
                instance, midnight_before(now), now, str(shown[0]), str(shown[1])
            )
        elif kind == "exception":
            payload = self._exception(step, now)
            hints = self._fault_hints(step)
        else:
            payload = self._scheduler(kind, now)
            if kind == "no_valid_host":
                hints = self._fault_hints(step)
        if step.publisher == "compute":
            publisher = "compute." + instance.host.name
        else:
            publisher = "scheduler." + self.scheduler
        body = message(
            self.kit.ids,
            self.context,
            step.event,
            payload,
            step.priority,
            publisher,
            now,
        )
        return body, hints

    def _apply(self, effect: str, now: int) -> None:
        instance = self.instance
        world = self.kit.world
        if effect == "launch":
            world.launch(instance, now)
        elif effect == "relaunch":
            instance.launched_at = now
            instance.touch()
        elif effect == "terminate":
            world.terminate(instance, now)
        elif effect == "destroy":
            world.destroy(instance, now)
        elif effect == "place":
            if self.attempts:
                instance.host = world.other_host(instance)
                instance.touch()
            self.attempts += 1
            self._request_spec = None
        elif effect == "new_image":
            instance.image = world.rng.choice(world.images)
            instance.touch()
        elif effect == "finish_resize":
            instance.previous = (instance.flavor, instance.host)
            instance.flavor = self.target_flavor()
            instance.host = world.other_host(instance)
            instance.touch()
        elif effect == "revert" and instance.previous is not None:
            instance.flavor, instance.host = instance.previous
            instance.previous = None
            instance.touch()

    def target_flavor(self) -> Flavor:
        """The flavor a resize goes to, drawn once per operation."""
        if self._target_flavor is None:
            self._target_flavor = self.kit.world.other_flavor(self.instance)
        return self._target_flavor

    def _extras(self, step: Step, payload: dict[str, Any]) -> Hints | None:
        instance = self.instance
        extras = step.extras
        if "image_name" in extras:
            payload["image_name"] = instance.image.spec.name
        if "fixed_ips" in extras:
            payload["fixed_ips"] = instance.fixed_ips
        if "rescue_image_name" in extras:
            payload["rescue_image_name"] = ""
        if "new_flavor" in extras:
            payload.update(self.kit.payloads.new_flavor_fields(self.target_flavor()))
        if "fault" in extras:
            failure = self._failure()
            payload["code"] = failure.code
            payload["exception"] = self._exception_value(step.fault, failure)
        if "message" in extras:
            reason = self.failure.message if self.failure else ""
            payload["message"] = step.message.format(
                instance_id=instance.uuid, reason=reason
            )
        if "fault" in extras:
            return self._fault_hints(step)
        return self._hints(step)

    def _hints(self, step: Step) -> Hints | None:
        event = step.event
        if "resize.prep" in event:
            return {"new_flavor": self.target_flavor()}
        if "snapshot" in event:
            return {"snapshot_image_id": self.snapshot_image_id}
        if "rescue" in event and "unrescue" not in event:
            return {"rescue_image_ref": self.instance.image.id}
        return None

    def _failure(self) -> Failure:
        if self.failure is None:
            self.failure = self.kit.world.rng.choice(FAILURES["build"])
        return self.failure

    def _fault_hints(self, step: Step) -> Hints:
        failure = self._failure()
        reason = failure.message.format(instance_id=self.instance.uuid)
        return {"fault": (failure.exception, reason, step.event)}

    def _exception_value(self, shape: str, failure: Failure) -> dict[str, Any]:
        if shape == "empty":
            return {}
        if shape == "code":
            return {"kwargs": {"code": failure.code}}
        uuid = self.instance.uuid
        reason = failure.message.format(instance_id=uuid)
        key = "instance_uuid" if shape == "detail" else "instance_id"
        return {"kwargs": {"code": failure.code, key: uuid, "reason": reason}}

    def _exception(self, step: Step, now: int) -> dict[str, Any]:
        payloads = self.kit.payloads
        args: dict[str, Any] = {}
        if "bdms" in step.args:
            count = self.kit.world.rng.randint(0, 2)
            args["bdms"] = payloads.volume_bdms(self.instance, now, count)
        context = {name: self.context[key] for key, name in _ARCHIVED_CONTEXT.items()}
        context["_read_deleted"] = "no"
        args["context"] = dict(sorted(context.items()))
        if "image_id" in step.args:
            args["image_id"] = self.snapshot_image_id
        args["instance"] = payloads.record(self.instance, now)
        if "reservations" in step.args:
            args["reservations"] = []
        args["self"] = None
        return {
            "args": args,
            "exception": self._exception_value(step.fault, self._failure()),
        }

    def _scheduler(self, kind: str, now: int) -> dict[str, Any]:
        instance = self.instance
        spec = self._request_spec
        if spec is None:
            spec = self._request_spec = self.kit.payloads.request_spec(instance, now)
        if kind == "request_spec":
            return {"request_spec": spec}
        if kind == "scheduled":
            weight = round(self.kit.world.rng.uniform(10.0, 400.0), 1)
            return {
                "instance_id": instance.uuid,
                "request_spec": spec,
                "weighted_host": {"host": instance.host.name, "weight": weight},
            }
        failure = self.kit.world.rng.choice(FAILURES["schedule"])
        self.failure = failure
        reason = failure.message.format(instance_id=instance.uuid)
        return {
            "instance_id": instance.uuid,
            "instance_properties": spec["instance_properties"],
            "method": "run_instance",
            "reason": {"kwargs": {"code": failure.code, "reason": reason}},
            "request_spec": spec,
            "state": "error",
        }
