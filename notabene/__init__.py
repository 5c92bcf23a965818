"""notabene: the one place StackTach talks to the message broker (kombu).

::

    import notabene

    with notabene.Publisher(url, exchange="nova") as pub:
        pub.publish_batch(notifications, routing_key="monitor.info")

    spec = notabene.QueueSpec(name="monitor.info", exchange="nova",
                              routing_key="monitor.info")
    consumer = notabene.BatchConsumer(url, queues=[spec], callback=handle)
    consumer.run()

Broker URLs (``amqp://``, ``filesystem:///folder``, ``memory://``) are described
in :mod:`notabene.connection`; dead-lettering in :mod:`notabene.deadletter`;
the consume loop's guarantees in :mod:`notabene.consumer`. Importing this
package opens nothing.
"""

from __future__ import annotations

from notabene.connection import amqp_url, connect, redact_url
from notabene.consumer import BatchConsumer
from notabene.deadletter import REASON as REJECT_REASON_HEADER
from notabene.delivery import Decision, Delivery
from notabene.exceptions import (
    BrokerConfigError,
    BrokerUnavailable,
    PublishNotConfirmed,
)
from notabene.publisher import Publisher
from notabene.retry import Backoff
from notabene.stats import ConsumerStats
from notabene.topology import QueueSpec, failed_queue_name

__all__ = [
    "REJECT_REASON_HEADER",
    "Backoff",
    "BatchConsumer",
    "BrokerConfigError",
    "BrokerUnavailable",
    "ConsumerStats",
    "Decision",
    "Delivery",
    "PublishNotConfirmed",
    "Publisher",
    "QueueSpec",
    "amqp_url",
    "connect",
    "failed_queue_name",
    "redact_url",
]
