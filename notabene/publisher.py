# mypy: disallow-untyped-calls=False
# (kombu's annotations are partial; every function of ours is still annotated.)
"""Publish batches of notifications to an exchange.

::

    with notabene.Publisher(url, exchange="nova") as pub:
        pub.publish_batch(notifications, routing_key="monitor.info")

Every message is JSON (``application/json``, UTF-8) and persistent. With
``confirms`` on (the default for RabbitMQ) :meth:`Publisher.publish_batch`
returns only when the broker has acknowledged every message of the batch; on
``filesystem://`` and ``memory://`` a publish is a synchronous write, so there is
nothing to confirm and :attr:`Publisher.confirms` is False.

A lost connection is retried with bounded exponential backoff (``backoff``);
the batch resumes from the first message not known to be safe, so a message may
be published twice but never silently dropped while confirms are on (without
confirms, messages written just before a connection loss may be lost). When the
broker stays away, :class:`~notabene.exceptions.BrokerUnavailable` is raised,
naming the URL without its password.

Messages published to an exchange with no queue bound are dropped by the broker;
pass ``queues=[QueueSpec(...)]`` to declare the consumers' queues up front.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from kombu.connection import Connection

from notabene import codec
from notabene.connection import (
    config_error,
    connect,
    discard,
    establish,
    is_config_error,
    is_recoverable,
    redact_url,
)
from notabene.exceptions import BrokerUnavailable
from notabene.retry import Backoff
from notabene.sender import ChannelSender, Outgoing
from notabene.topology import QueueSpec, declare_exchange, declare_queues

__all__ = ["Publisher"]

LOG = logging.getLogger(__name__)


def _is_amqp(conn: Connection) -> bool:
    return bool(conn.transport.driver_type == "amqp")


class Publisher:
    """A connection, a declared exchange and a channel to publish on.

    ``confirms``: None means on for RabbitMQ (off elsewhere); a
    ``confirm_publish`` transport option is read the same way. ``window`` is how
    many messages are in flight before waiting for confirms. ``backoff`` bounds
    reconnection (default: 8 attempts, about 20 s). Use it as a context manager,
    or call :meth:`open` and :meth:`close`. Not thread-safe: one per thread.
    """

    def __init__(
        self,
        url: str,
        exchange: str,
        exchange_type: str = "topic",
        durable: bool = True,
        confirms: bool | None = None,
        *,
        queues: Sequence[QueueSpec] = (),
        backoff: Backoff | None = None,
        transport_options: Mapping[str, Any] | None = None,
        window: int = 1000,
        confirm_timeout: float = 30.0,
    ) -> None:
        options = dict(transport_options or {})
        in_url = (connect(url).transport_options or {}).get("confirm_publish")
        requested = options.pop("confirm_publish", in_url)
        # Confirms are done here, windowed (see notabene.sender); kombu's own
        # option would make py-amqp wait for each message in turn.
        options["confirm_publish"] = False
        self.url = url
        self.exchange = exchange
        self.exchange_type = exchange_type
        self.durable = durable
        self.queues = tuple(queues)
        self.backoff = backoff or Backoff()
        self.window = window
        self.confirm_timeout = confirm_timeout
        self._requested_confirms = confirms if confirms is not None else requested
        self._options = options
        self._conn: Connection | None = None
        self._sender: ChannelSender | None = None
        #: Messages published (and confirmed, when confirms are on) so far.
        self.published = 0
        #: Reconnections after a lost connection.
        self.reconnects = 0

    @property
    def connection(self) -> Connection | None:
        """The open broker connection, or None when closed."""
        return self._conn

    @property
    def confirms(self) -> bool:
        """True when the broker confirms each message (RabbitMQ with confirms on)."""
        return self._sender is not None and self._sender.confirms

    def __enter__(self) -> Publisher:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Connect and declare the exchange (and ``queues``); idempotent.

        Raises :class:`BrokerUnavailable` or :class:`BrokerConfigError`.
        """
        if self._sender is not None:
            return
        attempts = self.backoff.attempts()
        while True:
            conn = establish(self.url, self._options, backoff=self.backoff)
            try:
                self._sender = self._prepare(conn)
                self._conn = conn
                LOG.info(
                    "publishing to exchange %r on %s, confirms %s",
                    self.exchange,
                    redact_url(self.url),
                    "on" if self._sender.confirms else "off",
                )
                return
            except Exception as exc:
                discard(conn)
                if is_config_error(exc):
                    raise config_error(self.url, exc, "the declaration") from exc
                if not is_recoverable(conn, exc):
                    raise
                delay = attempts.failed()
                if delay is None or not attempts.wait(delay):
                    raise BrokerUnavailable(
                        redact_url(self.url), attempts.failures, exc
                    ) from exc

    def _prepare(self, conn: Connection) -> ChannelSender:
        amqp = _is_amqp(conn)
        channel = conn.channel()
        declare_exchange(channel, self.exchange, self.exchange_type, self.durable)
        if self.queues:
            declare_queues(channel, self.queues, native_dead_letter=amqp)
        confirms = amqp and self._requested_confirms is not False
        return ChannelSender(
            conn,
            channel,
            confirms=confirms,
            window=self.window,
            confirm_timeout=self.confirm_timeout,
        )

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        conn, self._conn, self._sender = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:
                discard(conn)

    def publish(self, item: Any, routing_key: str, **kwargs: Any) -> None:
        """Publish one notification (see :meth:`publish_batch`)."""
        self.publish_batch([item], routing_key, **kwargs)

    def publish_batch(
        self,
        items: Iterable[Any],
        routing_key: str,
        *,
        headers: Mapping[str, Any] | None = None,
    ) -> int:
        """Publish every item with ``routing_key``; return how many were published.

        Items are dicts (JSON-encoded here) or already-encoded JSON bytes; a dict's
        ``message_id`` becomes the AMQP message id. ``headers`` are added to every
        message. Encoding errors (:class:`TypeError`) are raised before anything
        is sent. Raises :class:`BrokerUnavailable` when the broker stays away.
        """
        extra = dict(headers) if headers else None
        messages = [
            Outgoing(
                codec.encode(item),
                self.exchange,
                routing_key,
                headers=extra,
                message_id=codec.message_id_of(item),
            )
            for item in items
        ]
        if not messages:
            return 0
        self.open()
        self._send(messages)
        self.published += len(messages)
        return len(messages)

    def _send(self, messages: Sequence[Outgoing]) -> None:
        attempts = self.backoff.attempts()
        done = 0
        while True:
            sender = self._sender
            if sender is None:
                self.open()
                continue
            try:
                sender.send(messages, start=done)
                return
            except Exception as exc:
                done = sender.settled
                conn = self._conn
                if conn is None or not is_recoverable(conn, exc):
                    raise
                self._drop()
                delay = attempts.failed()
                if delay is None:
                    raise BrokerUnavailable(
                        redact_url(self.url), attempts.failures, exc
                    ) from exc
                LOG.warning(
                    "lost broker %s while publishing (%s: %s); %d of %d safe, "
                    "reconnecting in %.1fs",
                    redact_url(self.url),
                    type(exc).__name__,
                    exc,
                    done,
                    len(messages),
                    delay,
                )
                if not attempts.wait(delay):
                    raise BrokerUnavailable(
                        redact_url(self.url), attempts.failures, exc
                    ) from exc
                self.reconnects += 1

    def _drop(self) -> None:
        """Forget a connection that failed, without talking to the broker."""
        conn, self._conn, self._sender = self._conn, None, None
        discard(conn)
