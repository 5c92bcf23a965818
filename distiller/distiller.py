"""The distiller: one notification in, one typed event (or nothing) out.

Envelope rules, in order:

1. The notification must be a JSON object. One wrapped in the oslo.messaging v2
   envelope (``{"oslo.version": "2.0", "oslo.message": "<json>"}``) is unwrapped.
   One in the shape oslo.messaging hands to its listeners (Ceilometer's test
   fixtures use it) - the context in a ``ctxt`` object, ``message_id`` and
   ``timestamp`` in a ``metadata`` object - is flattened to the wire form first:
   ``ctxt.x`` becomes ``_context_x``, the metadata keys become top-level keys
   (keys already at the top level win).
2. ``event_type`` must be a non-empty string.
3. The time comes from ``timestamp``, or from ``_context_timestamp`` when that is
   missing or malformed. With neither usable the notification is rejected; an
   event never gets a made-up time.
4. ``message_id`` is used as given. A notification without one gets an id derived
   from its content - a UUID5 of its canonical JSON (keys sorted) - so the same
   notification delivered twice gets the same id and is recognised as a duplicate.
   Two notifications that differ in any byte get different ids.
5. The last definition matching ``event_type`` extracts the traits. No match: the
   notification is *unmatched* (``None``) unless ``catchall`` is on, in which case
   it becomes an event with the default traits only.

A notification broken in 1-3 raises :class:`NotificationRejected`, the one
exception :meth:`Distiller.distill` raises for bad input; its message says why.
A single trait whose value does not convert to its type (``"abc"`` for an int, an
unparseable date) is left out, counted in :attr:`Distiller.stats` and logged once
per event type and trait; the event survives. A time at the edge of the
calendar (an offset that takes it past year 9999 or before year 1 in UTC) is a
malformed time: as the event's time it rejects the notification, as a trait it
drops the trait. JSON nested too deep to process (over 1024 levels for
:meth:`Distiller.distill_json`, or too deep to derive an id from) is rejected
with the reason ``nested too deep``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from distiller.definitions import EventDefinition, build_definitions, load_definitions
from distiller.event import Event
from stacktach.exceptions import PermanentError, TimestampError
from stacktach.timeutils import parse_timestamp

__all__ = [
    "MESSAGE_ID_NAMESPACE",
    "Distiller",
    "DistillerStats",
    "NotificationRejected",
    "derive_message_id",
]

LOG = logging.getLogger(__name__)

#: Namespace of the UUID5 ids given to notifications that arrive without one.
MESSAGE_ID_NAMESPACE = uuid.UUID("0d9a3a52-6f0e-5c2b-9a51-7374616b7461")

#: orjson's nesting limit: deeper JSON text is rejected as ``nested too deep``.
MAX_DEPTH = 1024
_LOOKUP_CACHE_SIZE = 4096
#: What ``_lookup`` gives for an event type not looked up yet (None is cached:
#: the type has no definition).
_UNSEEN: Any = object()
_WARNED_LIMIT = 10_000


class NotificationRejected(PermanentError):
    """A notification cannot become an event; ``reason`` says why."""

    def __init__(self, reason: str, message_id: str | None = None) -> None:
        self.reason = reason
        self.message_id = message_id
        super().__init__(
            reason if message_id is None else f"{reason} (message_id {message_id})"
        )


@dataclass(slots=True)
class DistillerStats:
    """Counters kept by a :class:`Distiller`."""

    read: int = 0
    distilled: int = 0
    unmatched: int = 0
    rejected: int = 0
    derived_ids: int = 0
    trait_errors: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def trait_error_total(self) -> int:
        """Trait values dropped because they did not convert."""
        return sum(self.trait_errors.values())


TraitErrorHook = Callable[[str, str, str, str], None]


class Distiller:
    """Turns notifications into events with a list of compiled definitions.

    Build it with :meth:`from_file` (or from already compiled definitions). It is
    not thread-safe (counters and a lookup cache); use one per thread.
    """

    def __init__(
        self,
        definitions: Sequence[EventDefinition],
        *,
        catchall: bool = False,
        ceilometer: bool = False,
        on_trait_error: TraitErrorHook | None = None,
    ) -> None:
        ordered = list(reversed(definitions))
        if catchall and not any(d.is_catchall for d in ordered):
            ordered.extend(
                build_definitions(
                    [{"event_type": "*", "traits": {}}], ceilometer=ceilometer
                )
            )
        self._definitions = ordered
        self._lookup: dict[str, EventDefinition | None] = {}
        self._warned: set[tuple[str, str]] = set()
        self._on_trait_error = on_trait_error
        self.catchall = catchall
        self.ceilometer = ceilometer
        self.stats = DistillerStats()

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        catchall: bool = False,
        ceilometer: bool = False,
        plugins: Mapping[str, Any] | None = None,
        on_trait_error: TraitErrorHook | None = None,
    ) -> Distiller:
        """Load ``event_definitions.yaml`` and build a distiller.

        Raises :class:`~distiller.definitions.DefinitionError` for a bad file.
        """
        definitions = load_definitions(path, ceilometer=ceilometer, plugins=plugins)
        return cls(
            definitions,
            catchall=catchall,
            ceilometer=ceilometer,
            on_trait_error=on_trait_error,
        )

    @property
    def definitions(self) -> tuple[EventDefinition, ...]:
        """The definitions in lookup order (last in the file first, catchall last)."""
        return tuple(self._definitions)

    # ------------------------------------------------------------------ lookup

    def definition_for(self, event_type: str) -> EventDefinition | None:
        """The definition that applies to ``event_type`` (cached), or ``None``."""
        try:
            return self._lookup[event_type]
        except KeyError:
            pass
        found = None
        for definition in self._definitions:
            if definition.matches(event_type):
                found = definition
                break
        if len(self._lookup) >= _LOOKUP_CACHE_SIZE:
            self._lookup.clear()
        self._lookup[event_type] = found
        return found

    # ------------------------------------------------------------------ distil

    def distill_json(self, text: str | bytes) -> Event | None:
        """Decode one JSON notification and distil it.

        Raises :class:`NotificationRejected` for text that is not JSON.
        """
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self.stats.read += 1
            self.stats.rejected += 1
            if "depth" in str(exc) or "recursion" in str(exc):
                raise NotificationRejected(
                    f"nested too deep (over {MAX_DEPTH} levels): {exc}"
                ) from None
            raise NotificationRejected(f"not valid JSON: {exc}") from None
        return self.distill(body)

    def distill(self, notification: Any) -> Event | None:
        """Distil one decoded notification.

        Returns the event, or ``None`` when no definition matches (and catchall is
        off). Raises :class:`NotificationRejected` for a notification that cannot
        become an event.
        """
        stats = self.stats
        stats.read += 1
        try:
            body = self._envelope(notification)
            event_type = body.get("event_type")
            if event_type.__class__ is not str or not event_type:
                raise NotificationRejected(
                    "no event_type"
                    if event_type is None
                    else f"event_type {event_type!r} is not a non-empty string",
                    _message_id_or_none(body),
                )
            timestamp = self._timestamp(body)
        except NotificationRejected:
            stats.rejected += 1
            raise
        message_id = body.get("message_id")
        if message_id.__class__ is not str or not message_id:
            try:
                message_id = self._message_id(body, message_id)
            except RecursionError:
                stats.rejected += 1
                raise NotificationRejected(
                    "nested too deep: no message_id, and too deep to derive one"
                ) from None
        definition = self._lookup.get(event_type, _UNSEEN)
        if definition is _UNSEEN:
            definition = self.definition_for(event_type)
        if definition is None:
            stats.unmatched += 1
            return None
        traits, failed = definition.extract_traits(body)
        if failed is not None:
            for name, reason in failed:
                self._trait_error(event_type, message_id, name, reason)
        stats.distilled += 1
        return Event(event_type, message_id, timestamp, traits)

    # ------------------------------------------------------------------ helpers

    def _envelope(self, notification: Any) -> dict[str, Any]:
        if notification.__class__ is not dict and not isinstance(notification, dict):
            kind = type(notification).__name__
            raise NotificationRejected(
                f"a notification must be a JSON object, got {kind}"
            )
        if "oslo.message" in notification:
            inner = notification["oslo.message"]
            if not isinstance(inner, (str, bytes)):
                raise NotificationRejected(
                    "oslo.message in the envelope is not a JSON string"
                )
            try:
                body = orjson.loads(inner)
            except orjson.JSONDecodeError as exc:
                raise NotificationRejected(
                    f"oslo.message in the envelope is not valid JSON: {exc}"
                ) from None
            if not isinstance(body, dict):
                raise NotificationRejected(
                    f"oslo.message must hold a JSON object, got {type(body).__name__}"
                )
            notification = body
        flat: dict[str, Any] = notification
        if "metadata" in flat or "ctxt" in flat:
            return _flatten_listener_shape(flat)
        return flat

    def _timestamp(self, body: dict[str, Any]) -> datetime:
        value = body.get("timestamp")
        problem = "no timestamp"
        if value is not None:
            try:
                return parse_timestamp(value)
            except TimestampError as exc:
                problem = f"bad timestamp: {exc}"
        context = body.get("_context_timestamp")
        if context is not None:
            try:
                return parse_timestamp(context)
            except TimestampError as exc:
                raise NotificationRejected(
                    f"no usable time: {problem}; bad _context_timestamp: {exc}",
                    _message_id_or_none(body),
                ) from None
        raise NotificationRejected(
            f"no usable time: {problem} and no _context_timestamp",
            _message_id_or_none(body),
        )

    def _message_id(self, body: dict[str, Any], given: Any) -> str:
        if given is not None and given != "" and isinstance(given, (int, float)):
            return str(given)
        self.stats.derived_ids += 1
        return derive_message_id(body)

    def _trait_error(
        self, event_type: str, message_id: str, trait: str, reason: str
    ) -> None:
        self.stats.trait_errors[(event_type, trait)] += 1
        key = (event_type, trait)
        if key not in self._warned and len(self._warned) < _WARNED_LIMIT:
            self._warned.add(key)
            LOG.warning(
                "trait %s of %s dropped (message_id %s): %s; further ones for this "
                "event type and trait are only counted",
                trait,
                event_type,
                message_id,
                reason,
            )
        if self._on_trait_error is not None:
            self._on_trait_error(event_type, message_id, trait, reason)


#: The canonical text a derived message id hashes: ``json.dumps`` with sorted
#: keys, compact, unescaped text, ``str()`` of anything JSON has no type for. One
#: encoder for every call (``json.dumps`` with these options builds one per call,
#: a quarter of its time on a notification). The text must never change: stored
#: events keep the ids derived from it, and a redelivery is known by its id.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)


def derive_message_id(body: dict[str, Any]) -> str:
    """The deterministic id of a notification that has no ``message_id``."""
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, _CANONICAL.encode(body)))


def _flatten_listener_shape(body: dict[str, Any]) -> dict[str, Any]:
    """``{ctxt: {...}, metadata: {...}, ...}`` -> the flat wire form."""
    metadata = body.get("metadata")
    context = body.get("ctxt")
    if not isinstance(metadata, dict) and not isinstance(context, dict):
        return body
    flat: dict[str, Any] = {}
    if isinstance(context, dict):
        for key, value in context.items():
            flat[f"_context_{key}"] = value
    if isinstance(metadata, dict):
        flat.update(metadata)
    for key, value in body.items():
        if not (key == "ctxt" and isinstance(context, dict)) and not (
            key == "metadata" and isinstance(metadata, dict)
        ):
            flat[key] = value
    return flat


def _message_id_or_none(body: Any) -> str | None:
    if isinstance(body, dict):
        value = body.get("message_id")
        if isinstance(value, str) and value:
            return value
    return None
