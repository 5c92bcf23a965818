"""``usage``: the Nova usage audit (the original's ``UsageHandler``).

What it checks
--------------
The stream's events (one instance, one day: the sandbox trigger keys streams by
``instance_id`` and day, and files each ``compute.instance.exists`` under the day
its ``audit_period_beginning`` falls in) are walked in order and cut into
**blocks**: each ``compute.instance.exists`` ends a block made of the events
since the previous one. Every block is audited against its ``.exists``
(:func:`winchester.handlers.usage_checks.check_block`); the first failed check
gives the code:

U0
    events after the last ``.exists``: the stream holds notifications but no
    ``.exists`` closes them (a stream that expired without its audit, or a
    delete whose ``.exists`` was lost).
U1
    the ``.exists`` says ``state`` ``active`` but has no ``launched_at``.
U2
    a core trait conflicts: between the block's last ``rebuild.end`` /
    ``finish_resize.end`` / ``rescue.end`` and the ``.exists`` (``launched_at``,
    ``instance_flavor_id``, ``tenant_id``, ``os_architecture``, ``os_version``,
    ``os_distro``), or between the last ``delete.end`` and the ``.exists``
    (``launched_at``, ``deleted_at``).
U3
    the ``.exists`` has ``deleted_at`` but its ``state`` is not ``deleted``.
U4
    no ``delete.end`` in the block and the ``.exists`` has ``deleted_at`` before
    ``launched_at``.
U5
    no ``delete.end`` in the block but the ``.exists``'s ``deleted_at`` is inside
    its audit period (bounds included).
U6
    the block has a ``delete.end`` but the ``.exists`` has no ``deleted_at``.
U7
    the block has more than one ``delete.end``.
U8
    the ``.exists`` says ``active`` with ``launched_at`` inside its audit period,
    but the block is empty (no event of the launch).

A block that passes may still earn a **warning**: a non-EOD ``.exists`` (see
below) whose block has no ``rebuild.end`` / ``finish_resize.end`` /
``rescue.end``.

End of day
----------
An ``.exists`` is **end-of-day** (EOD) when ``audit_period_beginning`` and
``audit_period_ending`` are both exactly midnight (UTC) and the ending's date is
the day after the beginning's. It is **non-EOD** when both bounds are present
and the ending's date is *not* the day after the beginning's (e.g. the
midnight-to-now ``.exists`` nova sends on delete, rebuild or resize). Every
``.exists`` ends a block, EOD or not.

What it emits, and where
------------------------
For each ``.exists`` it appends, after the stream's events in the returned list
(the worker stores them and matches them against the triggers):

* ``compute.instance.exists.warnings`` when the block earned warnings (before
  the verdict below);
* ``compute.instance.exists.verified``, or ``compute.instance.exists.failed``
  with ``error`` (the reason) and ``error_code`` (``"U1"`` ... ``"U8"``).

For events after the last ``.exists`` it appends one
``compute.instance.exists.failed`` with ``error_code`` ``"U0"``.

Event shapes (dicts like the input; only str, int and datetime values):

* verified / failed: a copy of the ``.exists``'s traits, with
  ``bandwidth_in`` / ``bandwidth_out`` (default ``0``) and ``rax_options``
  (default ``"0"``) filled in when missing, plus ``original_message_id`` (the
  ``.exists``'s), ``publisher_id`` ``"stv3"``, ``stream_id`` (``env``'s, an
  int), and for failed ``error`` and ``error_code``. ``timestamp`` is the
  ``.exists``'s.
* warnings: ``instance_id`` (``"n/a"`` if the ``.exists`` has none),
  ``warnings`` (the texts joined with ``", "``), ``original_message_id``,
  ``publisher_id``, ``stream_id``; ``timestamp`` is the ``.exists``'s.
* U0 failed: ``instance_id`` (when the first stray event has one), ``error``,
  ``error_code`` ``"U0"``, ``original_message_id`` (the first stray event's),
  ``publisher_id``, ``stream_id``; ``timestamp`` is the first stray event's.

``message_id`` is ``uuid5(UUID(original_message_id), event_type)``, so a stream
run again yields the same ids and the unique key catches the duplicates. An
original id that is not a UUID (hand-made corpora) is mapped first to
``uuid5(NAMESPACE_URL, original_message_id)``, then the same rule applies.

The same events, as outgoing notifications, are **appended** to the list
``env["usage_notifications"]`` (:data:`ENV_KEY`; created when absent), for a
following ``notabene`` step (``env_keys: [usage_notifications]``) to publish.
Each is a legacy flat notification::

    {"event_type": "compute.instance.exists.verified",
     "message_id": "<the new event's message_id>",
     "timestamp": "2024-01-02 00:01:12.345678",   # UTC, oslo format
     "publisher_id": "stv3",
     "priority": "INFO",
     "payload": {...the new event's traits, datetimes in the same format,
                 without publisher_id...}}

``handle_events`` has no side effects and keeps no state between streams;
``commit`` and ``rollback`` do nothing.

Limits, kept from the original
------------------------------
* ``launched_at`` is only compared with a ``rebuild.end`` / ``finish_resize.end``
  / ``rescue.end`` or ``delete.end`` of the block (not with ``create.end`` or
  ``compute.instance.update``), so a wrong ``launched_at`` in a block without
  one passes unless U8 applies (empty block).
* An instance that never gets an ``.exists`` (a failed build, even deleted)
  leaves a stream that never fires; when it expires, its events are U0.

Deliberate differences from the original (stacktach-winchester's last
``pipeline_handler.UsageHandler``)
--------------------------------------------------------------------------
* The notifications go into ``env["usage_notifications"]``: the original built
  them but put nothing in ``env``, so the sandbox's notabene step published
  nothing.
* Every new id is uuid5: the original used ``uuid4`` for ``.warnings`` and for
  U0 (a re-run duplicated them), and crashed on a non-UUID original id.
* Warnings are per block: the original kept them for the whole stream, so a
  block's warnings were repeated by every later block's ``.warnings`` event.
* ``.verified`` carries no ``error`` / ``error_code``: the original set
  ``error`` to the text ``"None"`` and ``error_code`` to ``None``, which a trait
  cannot hold.
* ``.warnings`` and the U0 event carry ``original_message_id`` and
  ``publisher_id`` too (the source of the deterministic id, and what the
  notification's ``publisher_id`` needs).
* A trait present on one side of a U2 comparison only is a U2 conflict (the
  original raised ``KeyError`` and the stream went to error); U4 is skipped when
  the ``.exists`` has no ``launched_at`` (the original compared with ``None``
  and crashed).
* Logging is one warning per failure (with stream id, ``.exists`` message_id,
  code and the relevant traits) instead of a warning line per event of every
  block.
* No parameters: the original accepted and ignored any; here an unknown one is
  a ``TypeError``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from winchester.handlers.base import EventDict, HandlerError, PipelineHandler
from winchester.handlers.usage_checks import check_block, is_exists

__all__ = [
    "ENV_KEY",
    "FAILED",
    "PUBLISHER_ID",
    "VERIFIED",
    "WARNINGS",
    "UsageHandler",
    "new_message_id",
    "to_notification",
]

logger = logging.getLogger(__name__)

#: The ``env`` key holding the notifications for a following ``notabene`` step.
ENV_KEY = "usage_notifications"
VERIFIED = "compute.instance.exists.verified"
FAILED = "compute.instance.exists.failed"
WARNINGS = "compute.instance.exists.warnings"
PUBLISHER_ID = "stv3"
PRIORITY = "INFO"
_ENVELOPE = ("event_type", "message_id", "timestamp")
_OSLO_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def new_message_id(original_message_id: str, event_type: str) -> str:
    """The deterministic id of the ``event_type`` event derived from an event.

    ``uuid5(UUID(original), event_type)``; a non-UUID original is first mapped
    to ``uuid5(NAMESPACE_URL, original)``. Raises :class:`HandlerError` for an
    empty original (every stored event has one).
    """
    if not original_message_id:
        raise HandlerError(f"cannot derive a {event_type} id: no original message_id")
    try:
        namespace = uuid.UUID(original_message_id)
    except ValueError:
        namespace = uuid.uuid5(uuid.NAMESPACE_URL, original_message_id)
    return str(uuid.uuid5(namespace, event_type))


def to_notification(event: EventDict) -> dict[str, Any]:
    """The legacy flat notification of a new event (see the module docstring)."""
    payload = {
        name: _wire(value)
        for name, value in event.items()
        if name not in _ENVELOPE and name != "publisher_id"
    }
    return {
        "event_type": event["event_type"],
        "message_id": event["message_id"],
        "timestamp": _wire(event["timestamp"]),
        "publisher_id": event.get("publisher_id", PUBLISHER_ID),
        "priority": PRIORITY,
        "payload": payload,
    }


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime(_OSLO_FORMAT)
    return value


class UsageHandler(PipelineHandler):
    """Audits each block ending at a ``.exists``; emits verified/failed/warnings.

    Takes no parameters (an unknown one raises ``TypeError``).
    """

    def handle_events(
        self, events: list[EventDict], env: dict[str, Any]
    ) -> list[EventDict]:
        """Return ``events`` plus the audit's new events; notifications into ``env``.

        Raises :class:`HandlerError` when ``env[ENV_KEY]`` exists but is not a
        list, or an event needed for an id has no ``message_id``.
        """
        stream_id = env.get("stream_id")
        audit = _StreamAudit(None if stream_id is None else int(stream_id))
        block: list[EventDict] = []
        for event in events:
            if is_exists(event):
                audit.close_block(block, event)
                block = []
            else:
                block.append(event)
        if block:
            audit.stray(block)

        notifications = env.setdefault(ENV_KEY, [])
        if not isinstance(notifications, list):
            raise HandlerError(
                f"env[{ENV_KEY!r}] is a {type(notifications).__name__}, not a list"
            )
        notifications.extend(to_notification(event) for event in audit.new_events)
        logger.debug(
            "usage: stream %s: %d events, %d new",
            stream_id,
            len(events),
            len(audit.new_events),
        )
        return [*events, *audit.new_events]


class _StreamAudit:
    """The new events of one stream's audit (built fresh for every stream)."""

    __slots__ = ("new_events", "stream_id")

    def __init__(self, stream_id: int | None) -> None:
        self.stream_id = stream_id
        self.new_events: list[EventDict] = []

    def _common(self, original_message_id: str) -> EventDict:
        common: EventDict = {
            "original_message_id": original_message_id,
            "publisher_id": PUBLISHER_ID,
        }
        if self.stream_id is not None:
            common["stream_id"] = self.stream_id
        return common

    def close_block(self, block: Sequence[EventDict], exists: EventDict) -> None:
        """Audit ``block`` against ``exists``; append warnings and the verdict."""
        original = str(exists.get("message_id") or "")
        verdict = check_block(block, exists)
        if verdict.passed:
            event_type = VERIFIED
            logger.debug(
                "usage: stream %s: exists %s verified", self.stream_id, original
            )
        else:
            event_type = FAILED
            logger.warning(
                "usage: stream %s: exists %s failed %s: %s (instance %s, state %s, "
                "launched_at %s, deleted_at %s, period %s - %s, %d events in block)",
                self.stream_id, original, verdict.code, verdict.error,
                exists.get("instance_id"), exists.get("state"),
                exists.get("launched_at"), exists.get("deleted_at"),
                exists.get("audit_period_beginning"),
                exists.get("audit_period_ending"), len(block),
            )  # fmt: skip

        if verdict.warnings:
            self.new_events.append(
                {
                    **self._common(original),
                    "event_type": WARNINGS,
                    "message_id": new_message_id(original, WARNINGS),
                    "timestamp": exists["timestamp"],
                    "instance_id": exists.get("instance_id", "n/a"),
                    "warnings": ", ".join(verdict.warnings),
                }
            )
        result = dict(exists)
        result.setdefault("bandwidth_in", 0)
        result.setdefault("bandwidth_out", 0)
        result.setdefault("rax_options", "0")
        result.update(self._common(original))
        if not verdict.passed:
            result["error"] = verdict.error
            result["error_code"] = verdict.code
        result["event_type"] = event_type
        result["message_id"] = new_message_id(original, event_type)
        self.new_events.append(result)

    def stray(self, block: Sequence[EventDict]) -> None:
        """U0: ``block`` follows the last ``.exists`` (or there is none)."""
        first = block[0]
        original = str(first.get("message_id") or "")
        logger.warning(
            "usage: stream %s: %d events after the last .exists (first %s) - U0",
            self.stream_id, len(block), original,
        )  # fmt: skip
        event: EventDict = {
            **self._common(original),
            "event_type": FAILED,
            "message_id": new_message_id(original, FAILED),
            "timestamp": first["timestamp"],
            "error": "Notifications, but no .exists notification found.",
            "error_code": "U0",
        }
        if first.get("instance_id") is not None:
            event["instance_id"] = first["instance_id"]
        self.new_events.append(event)
