"""The JSON shapes of the original API (upstream-stv3 §6.3).

stream = {"id", "name" (trigger), "state" (name), "first_event", "last_event",
          "fire_timestamp", "expire_timestamp", "distinguishing_traits", "_mark",
          ["last_error"], ["events"]}
event  = its traits, flat, plus "message_id", "event_type", "timestamp", "_mark"

Datetimes are encoded as ``{"__type__": "datetime", "datetime": "..."}`` by the
app's JSON handler (:func:`quince.app.dumps`, orjson with
:func:`stacktach.jsonutil.encode_default`). ``_mark`` is the hex id, with ``+``
in front in an ascending page.

The stored JSON is passed through: ``event.traits`` and
``stream.distinguishing_traits`` are kept in the database in exactly this
encoding, so an event is its stored text with four keys appended, and a stream's
distinguishing traits are its stored text, as :class:`orjson.Fragment` values
the handler copies verbatim (a page of 200 events costs no decoding at all).
"""

from __future__ import annotations

from typing import Any

import orjson

from stacktach import jsonutil
from winchester.storage.queries import EventText, StoredEvent, StoredStream

__all__ = [
    "dumps",
    "event_bytes",
    "event_json",
    "event_text_json",
    "mark_of",
    "stream_json",
]

#: The keys the API adds to an event's traits, as they would appear in stored
#: text (a trait of that name is rare: such an event takes the slow path,
#: where the added key wins as it always did).
_ADDED_KEYS = (b'"message_id":', b'"event_type":', b'"timestamp":', b'"_mark":')


def _plain(raw: bytes) -> bool:
    """True when stored traits ``raw`` are an object with none of the added
    keys (the four searches written out: a generator over them cost more
    than the splice)."""
    message_id, event_type, timestamp, mark = _ADDED_KEYS
    return raw.startswith(b"{") and not (
        message_id in raw or event_type in raw or timestamp in raw or mark in raw
    )


def mark_of(row_id: int, ascending: bool = False) -> str:
    """The ``_mark`` of a row."""
    return f"+{row_id:x}" if ascending else f"{row_id:x}"


def dumps(value: Any) -> bytes:
    """JSON bytes of a response's media: orjson, datetimes tagged by
    :func:`stacktach.jsonutil.encode_default`, :class:`orjson.Fragment` values
    copied verbatim."""
    return orjson.dumps(
        value,
        default=jsonutil.encode_default,
        option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS,
    )


def event_bytes(event: StoredEvent, ascending: bool = False) -> bytes:
    """An event as the API shows it, as JSON bytes."""
    stored = event.traits_json
    raw = stored.encode() if isinstance(stored, str) else stored
    if not _plain(raw):
        body: dict[str, Any] = dict(event.traits)
        body["message_id"] = event.message_id
        body["event_type"] = event.event_type
        body["timestamp"] = event.generated
        body["_mark"] = mark_of(event.id, ascending)
        return dumps(body)
    head = raw[:-1].rstrip()
    return b"".join(
        (
            head,
            b'"message_id":' if head == b"{" else b',"message_id":',
            orjson.dumps(event.message_id),
            b',"event_type":',
            orjson.dumps(event.event_type),
            b',"timestamp":',
            dumps(event.generated),
            b',"_mark":"',
            mark_of(event.id, ascending).encode(),
            b'"}',
        )
    )


def event_json(event: StoredEvent, ascending: bool = False) -> orjson.Fragment:
    """An event as the API shows it, for a response's media."""
    return orjson.Fragment(event_bytes(event, ascending))


def event_text_json(event: EventText) -> orjson.Fragment:
    """An event the database shaped (:func:`queries.list_events_json`), for a
    response's media: its stored traits with the added keys spliced in, as
    :func:`event_bytes` makes them."""
    stored = event.traits_json
    raw = stored.encode() if isinstance(stored, str) else stored
    added = event.added_json.encode()
    if not _plain(raw):
        # both pieces are already in the API's encoding: merged as they are,
        # the added keys win
        body = orjson.loads(raw)
        body.update(orjson.loads(b"{" + added[1:]))
        return orjson.Fragment(orjson.dumps(body))
    head = raw[:-1].rstrip()
    return orjson.Fragment(head + (added[1:] if head == b"{" else added))


def stream_json(
    stream: StoredStream,
    ascending: bool = False,
    events: list[EventText] | None = None,
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
        "distinguishing_traits": orjson.Fragment(stream.distinguishing_json),
        "_mark": mark_of(stream.id, ascending),
    }
    if stream.last_error is not None:  # why it is in error (not in the original)
        body["last_error"] = stream.last_error
    if events is not None:
        body["events"] = [event_text_json(e) for e in events]
    return body
