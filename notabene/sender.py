# mypy: disallow-untyped-calls=False
# (kombu's annotations are partial; every function of ours is still annotated.)
"""Put prepared messages on one channel: persistent, optionally confirmed.

With confirms on (RabbitMQ), messages go out in windows: a window of
``window`` messages is written without waiting, then the broker's acks for all of
them are awaited together. Waiting for each message's ack in turn (what kombu's
``confirm_publish`` transport option does) costs a round trip per message and
caps throughput near a thousand messages a second; windows keep the same
guarantee - when :meth:`ChannelSender.send` returns, the broker has every
message - at ten times the rate.

Nacked messages are sent again (up to ``nack_retries`` times); a window whose
acks do not arrive within ``confirm_timeout`` raises :class:`socket.timeout`,
which callers treat like a lost connection. On any failure ``settled`` says how
many leading messages are known to be safe; resending from there may duplicate
a few (at-least-once).

Only kombu's transport-level channel API is used (``prepare_message``,
``basic_publish``), plus py-amqp's ``confirm_select`` and ``events`` when confirms
are on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kombu.connection import Connection

from notabene.codec import CONTENT_ENCODING, CONTENT_TYPE
from notabene.exceptions import PublishNotConfirmed

__all__ = ["ChannelSender", "Outgoing"]

PERSISTENT = 2


@dataclass(slots=True)
class Outgoing:
    """One message ready to publish: encoded body, destination and headers."""

    body: bytes
    exchange: str
    routing_key: str
    headers: dict[str, Any] | None = None
    message_id: str | None = None
    content_type: str = CONTENT_TYPE
    content_encoding: str = CONTENT_ENCODING


class ChannelSender:
    """Publishes :class:`Outgoing` messages on ``channel`` of ``connection``.

    ``confirms=True`` needs a py-amqp channel (RabbitMQ); the channel is put in
    confirm mode here, so give the sender a channel of its own.
    """

    def __init__(
        self,
        connection: Connection,
        channel: Any,
        *,
        confirms: bool,
        window: int = 1000,
        confirm_timeout: float = 30.0,
        nack_retries: int = 3,
    ) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.connection = connection
        self.channel = channel
        self.confirms = confirms
        self.window = window
        self.confirm_timeout = confirm_timeout
        self.nack_retries = nack_retries
        #: Leading messages of the current/last :meth:`send` known to be safe.
        self.settled = 0
        self._seq = 0
        self._outstanding: set[int] = set()
        self._nacked: set[int] = set()
        if confirms:
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._outstanding = {t for t in self._outstanding if t > delivery_tag}
        else:
            self._outstanding.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._nacked.update(t for t in self._outstanding if t <= delivery_tag)
        else:
            self._nacked.add(delivery_tag)
        self._on_ack(delivery_tag, multiple)

    def _publish(self, message: Outgoing) -> None:
        properties: dict[str, Any] = {"delivery_mode": PERSISTENT}
        if message.message_id:
            properties["message_id"] = message.message_id
        # None rather than empty values: AMQP then leaves those properties out.
        prepared = self.channel.prepare_message(
            message.body,
            None,
            message.content_type,
            message.content_encoding,
            dict(message.headers) if message.headers else None,
            properties,
        )
        self.channel.basic_publish(prepared, message.exchange, message.routing_key)

    def send(self, messages: Sequence[Outgoing], start: int = 0) -> None:
        """Publish ``messages[start:]``; return once all are safe with the broker.

        Raises whatever the transport raises on a lost connection (see
        :func:`notabene.connection.is_recoverable`), :class:`socket.timeout` when
        confirms do not arrive, :class:`PublishNotConfirmed` after repeated nacks.
        """
        self.settled = start
        total = len(messages)
        while self.settled < total:
            end = min(self.settled + self.window, total)
            if self.confirms:
                self._send_confirmed(messages, self.settled, end)
                self.settled = end
            else:
                for index in range(self.settled, end):
                    self._publish(messages[index])
                    self.settled = index + 1

    def _send_confirmed(
        self, messages: Sequence[Outgoing], begin: int, end: int
    ) -> None:
        pending = list(range(begin, end))
        for _ in range(self.nack_retries + 1):
            by_tag: dict[int, int] = {}
            self._nacked = set()
            for index in pending:
                self._seq += 1
                by_tag[self._seq] = index
                self._outstanding.add(self._seq)
                self._publish(messages[index])
            self._await_confirms()
            if not self._nacked:
                return
            pending = sorted(by_tag[tag] for tag in self._nacked if tag in by_tag)
        raise PublishNotConfirmed(
            f"broker nacked {len(pending)} message(s) {self.nack_retries + 1} times"
        )

    def _await_confirms(self) -> None:
        deadline = time.monotonic() + self.confirm_timeout
        while self._outstanding:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._outstanding.clear()
                raise TimeoutError(
                    f"no publisher confirm within {self.confirm_timeout:.0f}s"
                )
            self.connection.drain_events(timeout=remaining)
