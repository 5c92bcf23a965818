"""The checks of the Nova usage audit: one block of events against its ``.exists``.

Pure functions, no I/O and no clock; :mod:`winchester.handlers.usage` cuts a
stream into blocks and turns the outcome into new events. The codes, their
meaning and the end-of-day rule are documented there; this module implements
them in the original's order, so that a block breaking several rules gets the
code the original gave it:

1. ``state == "active"``: U1 (no ``launched_at``), then U8 (``launched_at``
   inside the audit period but the block is empty);
2. the last ``rebuild.end`` / ``finish_resize.end`` / ``rescue.end`` of the block
   against the ``.exists`` on :data:`CORE_FIELDS` (U2); without one, a non-EOD
   ``.exists`` earns a warning;
3. the ``delete.end`` events: U6, U3, then (no delete event) U4 and U5, then U7,
   then the last ``delete.end`` against the ``.exists`` on :data:`DELETE_FIELDS`
   (U2).

Events are dicts (traits plus ``event_type``, ``message_id``, ``timestamp``) whose
times are aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacktach.exceptions import StackTachError

__all__ = [
    "CORE_FIELDS",
    "DELETE_END",
    "DELETE_FIELDS",
    "EXISTS",
    "RELAUNCH_ENDS",
    "UsageCheckError",
    "Verdict",
    "check_block",
    "is_eod_exists",
    "is_exists",
    "is_non_eod_exists",
    "verify_fields",
]

EXISTS = "compute.instance.exists"
DELETE_END = "compute.instance.delete.end"
#: Operations after which the ``.exists`` must agree with the operation's end.
RELAUNCH_ENDS = frozenset(
    {
        "compute.instance.rebuild.end",
        "compute.instance.finish_resize.end",
        "compute.instance.rescue.end",
    }
)
#: Traits an operation end and the ``.exists`` must agree on (U2).
CORE_FIELDS = (
    "launched_at",
    "instance_flavor_id",
    "tenant_id",
    "os_architecture",
    "os_version",
    "os_distro",
)
#: Traits a ``delete.end`` and the ``.exists`` must agree on (U2).
DELETE_FIELDS = ("launched_at", "deleted_at")

_MIDNIGHT = dt.time(0, 0, 0)
_ONE_DAY = dt.timedelta(days=1)

Event = dict[str, Any]


class UsageCheckError(StackTachError):
    """A block failed the usage audit; ``code`` is U0-U8, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_exists(event: Event) -> bool:
    """The event is a ``compute.instance.exists`` (end-of-day or not)."""
    return bool(event.get("event_type") == EXISTS)


def is_eod_exists(event: Event) -> bool:
    """An end-of-day ``.exists``: both audit bounds at midnight, one day apart."""
    apb = event.get("audit_period_beginning")
    ape = event.get("audit_period_ending")
    return bool(
        is_exists(event)
        and apb
        and ape
        and apb.time() == _MIDNIGHT
        and ape.time() == _MIDNIGHT
        and ape.date() == apb.date() + _ONE_DAY
    )


def is_non_eod_exists(event: Event) -> bool:
    """A mid-period ``.exists``: both bounds given, not on consecutive days.

    As the original, only the dates count: 01:00 to 01:00 the next day is
    neither end-of-day nor non-EOD.
    """
    apb = event.get("audit_period_beginning")
    ape = event.get("audit_period_ending")
    return bool(
        is_exists(event) and apb and ape and ape.date() != apb.date() + _ONE_DAY
    )


@dataclass(slots=True)
class Verdict:
    """The outcome of one block: warnings, and the failure if any (``code`` U1-U8)."""

    warnings: list[str] = field(default_factory=list)
    code: str | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        """No check failed (warnings do not count)."""
        return self.code is None


def check_block(block: Sequence[Event], exists: Event) -> Verdict:
    """Audit ``block`` (the events before ``exists``) against ``exists``.

    The checks stop at the first failure; a warning earned before it is kept
    (the original emitted both).
    """
    verdict = Verdict()
    try:
        _run_checks(block, exists, verdict.warnings)
    except UsageCheckError as failure:
        verdict.code = failure.code
        verdict.error = failure.message
    return verdict


def _run_checks(block: Sequence[Event], exists: Event, warnings: list[str]) -> None:
    _confirm_launched_at(block, exists)
    last_relaunch = None
    for event in block:
        if event.get("event_type") in RELAUNCH_ENDS:
            last_relaunch = event
    if last_relaunch is not None:
        verify_fields(last_relaunch, exists, CORE_FIELDS)
    elif is_non_eod_exists(exists):
        warnings.append(
            f"Non-EOD .exists found (msg_id: {exists.get('message_id')}) "
            "with no operation event."
        )
    deletes = [event for event in block if event.get("event_type") == DELETE_END]
    _confirm_delete(exists, deletes)


def verify_fields(this: Event, that: Event, fields: Iterable[str]) -> None:
    """U2 when ``this`` and ``that`` disagree on one of ``fields``.

    A field absent from both is skipped; absent from one side only it is a
    conflict (the original raised ``KeyError`` there).
    """
    for name in fields:
        if name not in this and name not in that:
            continue
        mine, theirs = this.get(name), that.get(name)
        if mine != theirs:
            raise UsageCheckError(
                "U2", f"Conflicting '{name}' values ('{mine}' != '{theirs}')"
            )


def _audit_period(exists: Event) -> tuple[Any, Any]:
    return exists.get("audit_period_beginning"), exists.get("audit_period_ending")


def _confirm_launched_at(block: Sequence[Event], exists: Event) -> None:
    if exists.get("state") != "active":
        return
    launched_at = exists.get("launched_at")
    if not launched_at:
        raise UsageCheckError("U1", ".exists has no launched_at value.")
    apb, ape = _audit_period(exists)
    # Launched inside the period: the launch (or relaunch) must be in the block.
    if apb and ape and apb <= launched_at <= ape and not block:
        raise UsageCheckError(
            "U8", ".exists launched_at in audit period, but no related events found."
        )


def _confirm_delete(exists: Event, deletes: Sequence[Event]) -> None:
    deleted_at = exists.get("deleted_at")
    if not deleted_at and deletes:
        raise UsageCheckError(
            "U6", ".deleted events found but .exists has no deleted_at value."
        )
    if deleted_at and exists.get("state") != "deleted":
        raise UsageCheckError(
            "U3", ".exists state not 'deleted' but .exists deleted_at is set."
        )
    if deleted_at and not deletes:
        launched_at = exists.get("launched_at")
        # Without launched_at there is nothing to compare (the original crashed).
        if launched_at and deleted_at < launched_at:
            raise UsageCheckError("U4", ".exists deleted_at < .exists launched_at.")
        apb, ape = _audit_period(exists)
        if apb and ape and apb <= deleted_at <= ape:
            raise UsageCheckError(
                "U5",
                ".exists deleted_at in audit period, "
                "but no matching .delete event found.",
            )
    if len(deletes) > 1:
        raise UsageCheckError("U7", "Multiple .delete.end events")
    if deletes:
        verify_fields(exists, deletes[-1], DELETE_FIELDS)
