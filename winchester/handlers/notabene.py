"""The ``notabene`` pipeline handler: publish notifications to a broker exchange.

::

    - name: notabene
      params:
        url: amqp://guest:guest@rabbit:5672//   # or host/port/user/password/vhost
        exchange: nova
        queue_name: monitor.info
        env_keys: [usage_notifications]

What is published: for each key of ``env_keys``, the list of notifications an
earlier handler of the pipeline left in ``env`` under that key (the ``usage``
handler leaves its ``.verified`` / ``.failed`` notifications under
``usage_notifications``); without ``env_keys``, the stream's events themselves.

Guarantees (see :mod:`winchester.handlers.base` for the contract):

* :meth:`NotabeneHandler.handle_events` only reads. It freezes a JSON copy of each
  notification (datetimes become oslo strings, ``2014-05-01 00:45:00.805827``),
  so a value JSON cannot hold fails the run before anything is published, and a
  later handler changing the dicts does not change what is sent.
* :meth:`NotabeneHandler.commit` publishes them, in order, with one
  :meth:`notabene.Publisher.publish_batch`; on RabbitMQ it returns only once the
  broker has confirmed every message. Any failure (``BrokerUnavailable`` after
  the publisher's bounded reconnection policy, ``BrokerConfigError``, anything
  else) propagates: the stream goes to error and is retried later.
* Delivery is at least once: a stream run again (after a failed commit or a
  worker crash) publishes its notifications again. Each message carries the
  notification's ``message_id`` as its AMQP ``message_id`` (and in its body), so
  consumers drop the duplicates.
* The worker builds the handler once and reuses it: the handler keeps **one**
  :class:`notabene.Publisher`, created on the first commit that has something
  to publish and reused by every later stream (the original rebuilt handlers
  per stream and needed a module-global connection cache). :meth:`close`
  releases its connection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import notabene
from notabene import codec
from notabene.topology import EXCHANGE_TYPES
from stacktach.exceptions import ConfigError
from winchester.handlers.base import EventDict, HandlerError, PipelineHandler

__all__ = ["NotabeneHandler"]

LOG = logging.getLogger(__name__)

_NAME = "notabene"


def _config_error(key: str, message: str) -> ConfigError:
    return ConfigError(f"{_NAME} handler: {message}", key=f"params.{key}")


def _optional_text(key: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _config_error(key, f"expected a string, got {type(value).__name__}")


def _flag(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise _config_error(key, f"expected true or false, got {value!r}")


def _env_keys(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(k, str) for k in value):
        return tuple(value)
    raise _config_error("env_keys", f"expected a list of env keys, got {value!r}")


class NotabeneHandler(PipelineHandler):
    """Publish ``env`` notification lists (or the stream's events) to an exchange.

    Parameters (the original's, plus ``url``, ``routing_key``, ``declare_queue``
    and ``durable``):

    ``exchange`` (required)
        Exchange to publish to; declared (``exchange_type``, ``durable``) on
        the first commit.
    ``queue_name``
        Queue declared on the first commit and bound to the exchange with the
        routing key, so that nothing published is dropped for want of a queue.
        Required unless ``routing_key`` is given and ``declare_queue`` is false.
        It is declared the way notabene consumers declare theirs (with its
        ``<queue_name>.failed`` dead-letter queue), so a consumer reading it
        with a default :class:`notabene.QueueSpec` agrees with the declaration.
    ``routing_key``
        Routing key of every message; defaults to ``queue_name`` (the original
        always used the queue name).
    ``declare_queue`` (default true)
        Declare ``queue_name`` as above; false publishes to the exchange only.
    ``exchange_type`` (default ``topic``)
        ``topic``, ``direct`` or ``fanout``.
    ``durable`` (default true)
        Durability of the exchange and the declared queue; it must match how
        they already exist on the broker, or the broker refuses the declaration.
    ``env_keys``
        ``env`` keys whose lists are published, in this order (a missing key or
        ``None`` publishes nothing). Empty or absent: publish the stream's events.
    ``url``
        Broker URL (``amqp://user:password@host:5672/vhost``, ``memory://`` ...,
        see :mod:`notabene.connection`). Give either ``url`` or the separate
        settings below, not both.
    ``host``, ``port``, ``user``, ``password``, ``vhost``
        The original's broker settings (defaults ``localhost``, 5672, ``guest``,
        ``guest``, ``/``), turned into an ``amqp://`` URL.
    ``library``
        The original's kombu transport name (``librabbitmq``); accepted for
        compatibility and ignored, with a warning: notabene uses py-amqp.

    ``backoff`` (not a YAML parameter) is the publisher's reconnection policy
    (default: :class:`notabene.Backoff`'s, about 20 s before giving up).
    Raises :class:`~stacktach.exceptions.ConfigError` for a missing or invalid
    parameter and :class:`TypeError` for an unknown one.
    """

    def __init__(
        self,
        *,
        exchange: str | None = None,
        queue_name: str | None = None,
        routing_key: str | None = None,
        declare_queue: bool = True,
        exchange_type: str = "topic",
        durable: bool = True,
        env_keys: str | Sequence[str] | None = None,
        url: str | None = None,
        host: str | None = None,
        port: int | None = None,
        user: str | None = None,
        password: str | None = None,
        vhost: str | None = None,
        library: str | None = None,
        backoff: notabene.Backoff | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        exchange = _optional_text("exchange", exchange)
        if exchange is None:
            raise _config_error("exchange", "an 'exchange' name is required")
        queue_name = _optional_text("queue_name", queue_name)
        routing_key = _optional_text("routing_key", routing_key)
        if routing_key is None:
            routing_key = queue_name
        if routing_key is None:
            raise _config_error(
                "queue_name", "a 'queue_name' (or a 'routing_key') is required"
            )
        self.declare_queue = _flag("declare_queue", declare_queue)
        if self.declare_queue and queue_name is None:
            raise _config_error(
                "declare_queue",
                "declare_queue needs a 'queue_name' (or set declare_queue: false)",
            )
        if exchange_type not in EXCHANGE_TYPES:
            raise _config_error(
                "exchange_type",
                f"unknown exchange type {exchange_type!r}; expected one of "
                f"{', '.join(EXCHANGE_TYPES)}",
            )
        if library is not None:
            LOG.warning(
                "notabene handler: 'library: %s' is ignored (notabene publishes "
                "through kombu's py-amqp transport)",
                library,
            )
        self.exchange: str = exchange
        self.exchange_type: str = exchange_type
        self.durable = _flag("durable", durable)
        self.queue_name: str | None = queue_name
        self.routing_key: str = routing_key
        self.env_keys: tuple[str, ...] = _env_keys(env_keys)
        self.url: str = self._broker_url(url, host, port, user, password, vhost)
        self._queues: tuple[notabene.QueueSpec, ...] = ()
        if self.declare_queue and queue_name is not None:
            try:
                spec = notabene.QueueSpec(
                    name=queue_name,
                    exchange=exchange,
                    routing_key=routing_key,
                    exchange_type=exchange_type,
                    durable=self.durable,
                )
            except ConfigError as exc:
                raise _config_error("queue_name", exc.reason) from exc
            self._queues = (spec,)
        self._backoff = backoff
        self._publisher: notabene.Publisher | None = None
        self._pending: list[dict[str, Any]] = []
        self._stream_id: object = None

    @staticmethod
    def _broker_url(
        url: str | None,
        host: str | None,
        port: int | None,
        user: str | None,
        password: str | None,
        vhost: str | None,
    ) -> str:
        given = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "vhost": vhost,
        }
        if url is not None:
            if not isinstance(url, str):
                raise _config_error("url", f"expected a string, got {url!r}")
            both = sorted(k for k, v in given.items() if v is not None)
            if both:
                raise _config_error(
                    "url",
                    f"give either 'url' or {', '.join(both)}, not both",
                )
            try:
                # Validates the scheme and options; no I/O happens here.
                notabene.connect(url)
            except ConfigError as exc:
                raise _config_error("url", exc.reason) from exc
            return url
        for key in ("host", "user", "password", "vhost"):
            _optional_text(key, given[key])
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
        ):
            raise _config_error("port", f"expected a port number, got {port!r}")
        return notabene.amqp_url(
            "localhost" if host is None else host,
            5672 if port is None else port,
            "guest" if user is None else user,
            "guest" if password is None else password,
            "/" if vhost is None else vhost,
        )

    @property
    def publisher(self) -> notabene.Publisher | None:
        """The publisher every commit uses (None until the first publish)."""
        return self._publisher

    @property
    def pending(self) -> list[dict[str, Any]]:
        """The notifications the next :meth:`commit` publishes (a copy)."""
        return list(self._pending)

    def handle_events(
        self, events: list[EventDict], env: dict[str, Any]
    ) -> list[EventDict]:
        """Decide what to publish; return ``events`` unchanged. No I/O.

        Raises :class:`HandlerError` when an ``env`` value is not a list of
        notification dicts, or a notification cannot be encoded as JSON.
        """
        self._pending = []
        self._stream_id = env.get("stream_id")
        pending: list[dict[str, Any]] = []
        if self.env_keys:
            for key in self.env_keys:
                items = env.get(key)
                if items is None:
                    continue
                if not isinstance(items, list | tuple):
                    raise HandlerError(
                        f"{_NAME}: env[{key!r}] is a {type(items).__name__}, "
                        "expected a list of notifications"
                    )
                pending.extend(_freeze(item, f"env[{key!r}]") for item in items)
        else:
            pending.extend(_freeze(event, "the stream's events") for event in events)
        self._pending = pending
        return events

    def commit(self) -> None:
        """Publish what :meth:`handle_events` collected; raise if that fails.

        Nothing to publish opens no connection. On failure the connection is
        closed (the next commit opens a fresh one) and the error propagates.
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        publisher = self._publisher
        if publisher is None:
            publisher = self._publisher = notabene.Publisher(
                self.url,
                exchange=self.exchange,
                exchange_type=self.exchange_type,
                durable=self.durable,
                queues=self._queues,
                backoff=self._backoff,
            )
        try:
            publisher.publish_batch(pending, routing_key=self.routing_key)
        except Exception:
            publisher.close()
            raise
        LOG.info(
            "stream %s: published %d notifications to exchange %r with routing "
            "key %r on %s",
            self._stream_id,
            len(pending),
            self.exchange,
            self.routing_key,
            notabene.redact_url(self.url),
        )

    def rollback(self) -> None:
        """Forget what :meth:`handle_events` collected; nothing is published."""
        self._pending = []

    def close(self) -> None:
        """Close the broker connection (a later commit reconnects)."""
        if self._publisher is not None:
            self._publisher.close()


def _freeze(item: object, where: str) -> dict[str, Any]:
    """Return the JSON form of notification ``item`` (a copy that shares nothing)."""
    if not isinstance(item, Mapping):
        raise HandlerError(
            f"{_NAME}: {where} holds a {type(item).__name__}, "
            "expected notification dicts"
        )
    try:
        frozen: dict[str, Any] = codec.decode(codec.encode(dict(item)))
    except TypeError as exc:
        raise HandlerError(
            f"{_NAME}: cannot publish notification {item.get('message_id')!r} "
            f"from {where}: {exc}"
        ) from exc
    return frozen
