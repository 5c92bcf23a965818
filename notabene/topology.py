# mypy: disallow-untyped-calls=False
# (kombu's annotations are partial; every function of ours is still annotated.)
"""Exchanges, queues and their dead-letter queues.

A :class:`QueueSpec` says what a consumer reads: a queue bound to an exchange with
a routing key. With ``dead_letter=True`` (the default) the queue ``<name>`` gets a
companion ``<name>.failed``, declared with the same durability and queue type and
reached through the default exchange (routing key = its name). Rejected messages
land there (see :mod:`notabene.consumer` for how the reason is recorded).

On RabbitMQ the queue is also declared with ``x-dead-letter-exchange: ""`` and
``x-dead-letter-routing-key: <name>.failed``, so messages the *broker* dead-letters
(a quorum queue's ``x-delivery-limit``, a TTL, a reject by another tool) land in
the same place. RabbitMQ refuses to redeclare an existing queue with different
arguments: that is reported as :class:`~notabene.exceptions.BrokerConfigError`
naming the queue; delete the queue, or set ``dead_letter=False`` and configure
dead-lettering with a policy instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kombu.entity import Exchange, Queue

from stacktach.exceptions import ConfigError

__all__ = [
    "EXCHANGE_TYPES",
    "FAILED_SUFFIX",
    "QueueSpec",
    "declare_exchange",
    "declare_queues",
    "failed_queue_name",
]

#: Exchange types accepted in a :class:`QueueSpec` or a publisher.
EXCHANGE_TYPES = ("topic", "direct", "fanout")
#: Suffix of dead-letter queues: ``monitor.info`` -> ``monitor.info.failed``.
FAILED_SUFFIX = ".failed"

# Queue arguments copied from a queue to its dead-letter queue.
_INHERITED_ARGUMENTS = ("x-queue-type",)


def failed_queue_name(queue: str) -> str:
    """Return the dead-letter queue of ``queue``."""
    return queue + FAILED_SUFFIX


def _check_exchange_type(exchange_type: str, where: str) -> None:
    if exchange_type not in EXCHANGE_TYPES:
        raise ConfigError(
            f"unknown exchange type {exchange_type!r}; expected one of "
            f"{', '.join(EXCHANGE_TYPES)}",
            key=where,
        )


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One queue to consume: name, exchange, routing key and options.

    ``routing_key`` defaults to the queue name. ``arguments`` are queue
    arguments (``{"x-queue-type": "quorum"}``); a quorum queue must be durable.
    ``exchange_durable`` defaults to ``durable`` (Nova declares its exchanges
    non-durable; set it to match, or RabbitMQ refuses the declaration).
    ``exchange=""`` consumes the queue without binding it to anything.
    Invalid combinations raise :class:`ConfigError` at construction.
    """

    name: str
    exchange: str
    routing_key: str | None = None
    exchange_type: str = "topic"
    durable: bool = True
    arguments: Mapping[str, Any] = field(default_factory=dict)
    dead_letter: bool = True
    auto_delete: bool = False
    exchange_durable: bool | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a queue needs a name", key="queue")
        _check_exchange_type(self.exchange_type, f"{self.name}.exchange_type")
        if self.arguments.get("x-queue-type") == "quorum" and (
            not self.durable or self.auto_delete
        ):
            raise ConfigError(
                "a quorum queue must be durable and not auto_delete",
                key=f"{self.name}.arguments",
            )
        if self.dead_letter and self.name.endswith(FAILED_SUFFIX):
            raise ConfigError(
                f"{self.name!r} is a dead-letter queue; consume it with "
                "dead_letter=False",
                key=f"{self.name}.dead_letter",
            )

    @property
    def binding_key(self) -> str:
        """The routing key the queue is bound with."""
        return self.name if self.routing_key is None else self.routing_key

    @property
    def failed_name(self) -> str:
        """Name of the dead-letter queue (``<name>.failed``)."""
        return failed_queue_name(self.name)

    def queue_arguments(self, native_dead_letter: bool) -> dict[str, Any]:
        """Arguments to declare the queue with (adds the broker DLX on RabbitMQ)."""
        arguments = dict(self.arguments)
        if self.dead_letter and native_dead_letter:
            arguments.setdefault("x-dead-letter-exchange", "")
            arguments.setdefault("x-dead-letter-routing-key", self.failed_name)
        return arguments

    def failed_arguments(self) -> dict[str, Any]:
        """Arguments of the dead-letter queue (the queue type is inherited)."""
        args = self.arguments
        return {k: args[k] for k in _INHERITED_ARGUMENTS if k in args}


def make_exchange(name: str, exchange_type: str, durable: bool) -> Exchange:
    """Build (not declare) a kombu exchange; ``""`` is the default exchange."""
    _check_exchange_type(exchange_type, f"{name}.exchange_type")
    return Exchange(name, type=exchange_type, durable=durable)


def declare_exchange(
    channel: Any, name: str, exchange_type: str = "topic", durable: bool = True
) -> Exchange:
    """Declare exchange ``name`` on ``channel`` (nothing to do for ``""``)."""
    exchange = make_exchange(name, exchange_type, durable)
    if name:
        exchange.declare(channel=channel)
    return exchange


def _queue(spec: QueueSpec, native_dead_letter: bool) -> Queue:
    durable = spec.durable if spec.exchange_durable is None else spec.exchange_durable
    exchange = make_exchange(spec.exchange, spec.exchange_type, durable)
    return Queue(
        spec.name,
        exchange=exchange if spec.exchange else None,
        routing_key=spec.binding_key,
        durable=spec.durable,
        auto_delete=spec.auto_delete,
        queue_arguments=spec.queue_arguments(native_dead_letter),
    )


def declare_queues(
    channel: Any, specs: Iterable[QueueSpec], *, native_dead_letter: bool
) -> dict[str, Queue]:
    """Declare every exchange, queue, binding and dead-letter queue of ``specs``.

    Returns the declared :class:`Queue` objects by queue name (bound to
    ``channel``). ``native_dead_letter`` adds the broker-side dead-letter
    arguments (RabbitMQ only). Broker refusals propagate (see
    :func:`notabene.connection.is_config_error`).
    """
    queues: dict[str, Queue] = {}
    for spec in specs:
        if spec.dead_letter:
            failed = Queue(
                spec.failed_name,
                exchange=None,
                routing_key=spec.failed_name,
                durable=spec.durable,
                auto_delete=False,
                queue_arguments=spec.failed_arguments(),
            )
            failed.declare(channel=channel)
        queue = _queue(spec, native_dead_letter)
        bound: Queue = queue.bind(channel)
        bound.declare()
        queues[spec.name] = bound
    return queues
