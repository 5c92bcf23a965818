"""A minimal trigger for storage tests (the real ones come from triggers.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from distiller import Event

T0 = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Match:
    criterion_index: int
    key: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Criterion:
    number: int


class DayTrigger:
    """One stream per instance per day; fires after ``needed`` ``.exists`` events."""

    debug_level = 1

    def __init__(
        self, name: str = "per_instance_day", *, needed: int = 1, delay: float = 0
    ) -> None:
        self.name = name
        self.fire_delay = delay
        self.fire_criteria = (Criterion(needed),)

    def match(self, event: Event) -> Match | None:
        instance = event.traits.get("instance_id")
        if instance is None or not event.event_type.startswith("compute.instance."):
            return None
        day = event.timestamp.replace(hour=0, minute=0, second=0, microsecond=0)
        return Match(0, (("instance_id", instance), ("day", day)))

    def explain(self, event: Event) -> str:
        return "not an instance event"

    def fire_hits(self, event: Event) -> tuple[bool, ...]:
        return (event.event_type == "compute.instance.exists",)

    def expires_at(self, first: datetime, last: datetime) -> datetime:
        return last + timedelta(hours=2)


def event(
    n: int,
    event_type: str = "compute.instance.update",
    *,
    instance: str | None = "i-1",
    at: datetime = T0,
    **traits: Any,
) -> Event:
    """A test event; ``n`` makes the message id."""
    return Event(
        event_type,
        f"msg-{n}",
        at + timedelta(seconds=n),
        {
            **({"instance_id": instance} if instance is not None else {}),
            "memory_mb": 512,
            "launched_at": T0,
            **traits,
        },
    )
