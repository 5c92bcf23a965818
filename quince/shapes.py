"""The JSON shapes of the original API (upstream-stv3 §6.3).

stream = {"id", "name" (trigger), "state" (name), "first_event", "last_event",
          "fire_timestamp", "expire_timestamp", "distinguishing_traits", "_mark",
          ["last_error"], ["events"]}
event  = its traits, flat, plus "message_id", "event_type", "timestamp", "_mark"

Datetimes are encoded as ``{"__type__": "datetime", "datetime": "..."}`` by the
app's JSON handler (:func:`stacktach.jsonutil.encode_default`). ``_mark`` is the
hex id, with ``+`` in front in an ascending page.
"""

from __future__ import annotations

from typing import Any

from winchester.storage.queries import StoredEvent, StoredStream

__all__ = ["event_json", "mark_of", "stream_json"]


def mark_of(row_id: int, ascending: bool = False) -> str:
    """The ``_mark`` of a row."""
    return f"+{row_id:x}" if ascending else f"{row_id:x}"


def event_json(event: StoredEvent, ascending: bool = False) -> dict[str, Any]:
    """An event as the API shows it."""
    body: dict[str, Any] = dict(event.traits)
    body["message_id"] = event.message_id
    body["event_type"] = event.event_type
    body["timestamp"] = event.generated
    body["_mark"] = mark_of(event.id, ascending)
    return body


def stream_json(
    stream: StoredStream,
    ascending: bool = False,
    events: list[StoredEvent] | None = None,
) -> dict[str, Any]:
    """A stream as the API shows it (with ``events`` when given)."""
    body: dict[str, Any] = {
        "id": stream.id,
        "name": stream.trigger_name,
        "state": stream.state.name.lower(),
        "first_event": stream.first_event,
        "last_event": stream.last_event,
        "fire_timestamp": stream.fire_timestamp,
        "expire_timestamp": stream.expire_timestamp,
        "distinguishing_traits": stream.distinguishing_traits,
        "_mark": mark_of(stream.id, ascending),
    }
    if stream.last_error is not None:  # why it is in error (not in the original)
        body["last_error"] = stream.last_error
    if events is not None:
        body["events"] = [event_json(e) for e in events]
    return body
