# mypy: disallow-untyped-calls=False
# (kombu's annotations are partial; every function of ours is still annotated.)
"""kombu's in-memory transport, behaving like a broker when a consumer goes away.

kombu's own memory channel drops unacked messages when it closes
(``do_restore = False``), and a requeue re-routes through the exchange, which
copies the message into every other queue bound with a matching key. Here, as on
RabbitMQ, closing a channel (or a requeueing reject) puts each unacked message
back on the queue it came from, flagged as redelivered. In-process only: for
tests.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import memory, virtual

__all__ = ["Channel", "Transport"]


class QoS(virtual.QoS):
    """kombu's QoS, restoring unacked messages oldest first (kombu: newest first)."""

    def restore_unacked(self) -> list[tuple[BaseException, Any]]:
        """Put every unacked message back; return the failures."""
        self._flush()
        pending = list(self._delivered.items())
        self._delivered.clear()
        errors: list[tuple[BaseException, Any]] = []
        for _, message in pending:
            try:
                self.channel._restore(message)
            except Exception as exc:
                errors.append((exc, message))
        return errors


class Channel(memory.Channel):
    """An in-memory channel that returns unacked messages to their own queue."""

    QoS = QoS
    do_restore = True

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._origin: dict[Any, str] = {}

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        payload = super()._get(queue, timeout)
        self._origin[payload["properties"]["delivery_tag"]] = queue
        return payload

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        """Acknowledge (kombu semantics)."""
        super().basic_ack(delivery_tag, multiple)
        self._origin.pop(delivery_tag, None)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Reject, requeueing to the original queue if asked."""
        super().basic_reject(delivery_tag, requeue=requeue)
        self._origin.pop(delivery_tag, None)

    def _restore(self, message: Any) -> None:
        queue = self._origin.pop(message.delivery_tag, None)
        if queue is None:
            super()._restore(message)
            return
        payload = message.serializable()
        payload["redelivered"] = True
        payload["properties"].setdefault("delivery_info", {})["redelivered"] = True
        self._put(queue, payload)


class Transport(memory.Transport):
    """Memory transport using :class:`Channel`; select it with ``memory://``."""

    Channel = Channel
    driver_type = "memory"
    driver_name = "memory"
