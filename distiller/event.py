"""Events: what a notification becomes.

An event is the notification's ``event_type``, ``message_id`` and ``timestamp``
plus a flat mapping of typed *traits*. A trait's type follows from its Python
value: ``str`` (text), ``int``, ``float`` or an aware UTC ``datetime``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["ENVELOPE_KEYS", "Event", "TraitType", "TraitValue"]

TraitValue = str | int | float | datetime

#: Keys of the flat rendering that come from the envelope, not from traits. A trait
#: with one of these names (Ceilometer's ``profiler.*`` has a ``timestamp`` trait)
#: stays in :attr:`Event.traits` but is shadowed in :meth:`Event.as_dict`.
ENVELOPE_KEYS = ("event_type", "message_id", "timestamp")


class TraitType(enum.IntEnum):
    """The four trait types of event definitions (values as the original's)."""

    TEXT = 1
    INT = 2
    FLOAT = 3
    DATETIME = 4

    @classmethod
    def by_name(cls, name: str) -> TraitType:
        """``'text'`` -> ``TraitType.TEXT``; ``KeyError`` for unknown names."""
        return _BY_NAME[name]

    @classmethod
    def of(cls, value: TraitValue) -> TraitType:
        """The type of a trait value."""
        return _BY_CLASS[type(value)]


_BY_NAME = {
    "text": TraitType.TEXT,
    "int": TraitType.INT,
    "float": TraitType.FLOAT,
    "datetime": TraitType.DATETIME,
}
_BY_CLASS: dict[type, TraitType] = {
    str: TraitType.TEXT,
    int: TraitType.INT,
    float: TraitType.FLOAT,
    datetime: TraitType.DATETIME,
}


@dataclass(slots=True)
class Event:
    """One distilled notification."""

    event_type: str
    message_id: str
    timestamp: datetime
    traits: dict[str, TraitValue]

    def as_dict(self) -> dict[str, Any]:
        """The flat form used on the wire: traits plus the three envelope keys."""
        flat: dict[str, Any] = dict(self.traits)
        flat["event_type"] = self.event_type
        flat["message_id"] = self.message_id
        flat["timestamp"] = self.timestamp
        return flat
