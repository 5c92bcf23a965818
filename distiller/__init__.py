"""Notification -> event conversion driven by ``event_definitions.yaml``.

    from distiller import Distiller
    distiller = Distiller.from_file("event_definitions.yaml")
    event = distiller.distill(notification)   # Event, or None when unmatched

See :mod:`distiller.distiller` for the envelope rules and
:mod:`distiller.definitions` for the file format.
"""

from distiller.definitions import DefinitionError, EventDefinition, load_definitions
from distiller.distiller import Distiller, DistillerStats, NotificationRejected
from distiller.event import Event, TraitType, TraitValue
from distiller.traitplugin import TraitPlugin

__all__ = [
    "DefinitionError",
    "Distiller",
    "DistillerStats",
    "Event",
    "EventDefinition",
    "NotificationRejected",
    "TraitPlugin",
    "TraitType",
    "TraitValue",
    "load_definitions",
]
