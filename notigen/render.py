"""Output shapes: a generated message becomes the bytes of one output line.

Shapes:

* flat (default): the legacy oslo message dict as nova's notifier sent it;
* ``versioned``: its nova versioned counterpart (:mod:`notigen.versioned`), or
  nothing for the few legacy events that have none;
* ``envelope``: either of the above wrapped as oslo.messaging v2 puts it on the
  wire, ``{"oslo.version": "2.0", "oslo.message": "<the message as a JSON string>"}``.

:class:`Line` is what flows from here to the faults stage and the sinks.
"""

from __future__ import annotations

from typing import Any

import orjson

from notigen.versioned import to_versioned

__all__ = ["Line", "Renderer"]


class Line:
    """One output line and what the summary and fault log need to know about it.

    ``body`` is the shaped dict before wrapping and encoding (``None`` for a line
    that is not a message at all); ``time`` is the simulated time in microseconds;
    ``fault`` is a fault-log record when the line is an injected fault.
    """

    __slots__ = ("body", "data", "event_type", "fault", "message_id", "time")

    def __init__(
        self,
        data: bytes,
        body: dict[str, Any] | None,
        event_type: str,
        message_id: str | None,
        time: int,
        fault: dict[str, Any] | None = None,
    ) -> None:
        self.data = data
        self.body = body
        self.event_type = event_type
        self.message_id = message_id
        self.time = time
        self.fault = fault


class Renderer:
    """Shapes and encodes messages for the chosen output format."""

    def __init__(self, *, envelope: bool = False, versioned: bool = False) -> None:
        self.envelope = envelope
        self.versioned = versioned

    @property
    def name(self) -> str:
        """``flat``, ``versioned``, ``envelope`` or ``versioned+envelope``."""
        parts = [
            p
            for p, on in (("versioned", self.versioned), ("envelope", self.envelope))
            if on
        ]
        return "+".join(parts) or "flat"

    def shape(
        self, message: dict[str, Any], hints: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The dict to send for ``message``; ``None`` if the shape has no such event."""
        if self.versioned:
            return to_versioned(message, hints)
        return message

    def encode(self, body: dict[str, Any]) -> bytes:
        """The line's bytes (no newline): JSON, wrapped in the envelope if asked."""
        data: bytes = orjson.dumps(body)
        if self.envelope:
            data = orjson.dumps({"oslo.version": "2.0", "oslo.message": data.decode()})
        return data

    def line(
        self, message: dict[str, Any], hints: dict[str, Any] | None, time: int
    ) -> Line | None:
        """Shape and encode ``message``; ``None`` when the shape drops it."""
        body = self.shape(message, hints)
        if body is None:
            return None
        return Line(
            self.encode(body), body, body["event_type"], body["message_id"], time
        )
