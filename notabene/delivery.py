"""One received message and the callback's decision about it.

A :class:`Delivery` is handed to a :class:`~notabene.consumer.BatchConsumer`
callback inside a batch. The callback calls :meth:`Delivery.ack` or
:meth:`Delivery.reject`; nothing reaches the broker until the callback returns,
then the consumer settles the whole batch (dead letters first, then acks). If
the callback raises, every decision of that attempt is forgotten.

Decisions combine the way a chain of handlers needs: a rejection wins over an
ack, and the first rejection's reason is kept.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from notabene import codec

__all__ = ["Decision", "Delivery"]


class Decision(Enum):
    """What the callback decided for a message."""

    ACK = "ack"
    REJECT = "reject"


class Delivery:
    """A message as the callback sees it.

    ``body`` is the raw bytes; :meth:`json` parses them. ``queue`` is the queue
    it came from, ``headers`` its application headers (never None),
    ``redelivered`` whether the broker delivered it before. ``delivery_tag`` is
    the broker's tag (an int on RabbitMQ, a str on the embedded transports).
    """

    __slots__ = (
        "_decision",
        "_message",
        "_reason",
        "body",
        "content_type",
        "delivery_tag",
        "exchange",
        "headers",
        "message_id",
        "queue",
        "redelivered",
        "routing_key",
    )

    def __init__(
        self,
        body: bytes,
        queue: str,
        delivery_tag: int | str,
        *,
        headers: dict[str, Any] | None = None,
        redelivered: bool = False,
        exchange: str = "",
        routing_key: str = "",
        content_type: str | None = None,
        message_id: str | None = None,
        message: Any = None,
    ) -> None:
        self.body = body
        self.queue = queue
        self.delivery_tag = delivery_tag
        self.headers: dict[str, Any] = headers if headers is not None else {}
        self.redelivered = redelivered
        self.exchange = exchange
        self.routing_key = routing_key
        self.content_type = content_type
        self.message_id = message_id
        self._message = message
        self._decision: Decision | None = None
        self._reason: str | None = None

    @classmethod
    def from_kombu(cls, message: Any, queue: str) -> Delivery:
        """Wrap a :class:`kombu.Message` received from ``queue``."""
        info = message.delivery_info or {}
        body = message.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        raw = getattr(message, "_raw", None)
        redelivered = bool(info.get("redelivered")) or (
            isinstance(raw, dict) and bool(raw.get("redelivered"))
        )
        properties = message.properties or {}
        return cls(
            bytes(body or b""),
            queue,
            message.delivery_tag,
            headers=dict(message.headers or {}),
            redelivered=redelivered,
            exchange=info.get("exchange") or "",
            routing_key=info.get("routing_key") or "",
            content_type=message.content_type,
            message_id=properties.get("message_id"),
            message=message,
        )

    @property
    def message(self) -> Any:
        """The underlying :class:`kombu.Message` (settle through the consumer)."""
        return self._message

    @property
    def decision(self) -> Decision | None:
        """ACK, REJECT, or None if the callback has not decided."""
        return self._decision

    @property
    def reason(self) -> str | None:
        """Why the message was rejected (None unless rejected)."""
        return self._reason

    def ack(self) -> None:
        """Mark the message done; ignored if it was already rejected."""
        if self._decision is None:
            self._decision = Decision.ACK

    def reject(self, reason: str) -> None:
        """Mark the message bad: it goes to the dead-letter queue with ``reason``."""
        if self._decision is not Decision.REJECT:
            self._decision = Decision.REJECT
            self._reason = str(reason)

    def json(self) -> Any:
        """Parse the body as JSON; raises :class:`ValueError` if it is not JSON."""
        return codec.decode(self.body)

    def _forget(self) -> None:
        self._decision = None
        self._reason = None

    def __repr__(self) -> str:
        state = self._decision.value if self._decision else "pending"
        return (
            f"<Delivery {self.queue} tag={self.delivery_tag!r} {state} "
            f"{len(self.body)} bytes>"
        )
