"""What a dead letter looks like: the original message plus why it was rejected.

A rejected message is republished, body and headers unchanged, to
``<queue>.failed`` through the default exchange, with these headers added:

``x-reject-reason``         the reason given to ``Delivery.reject`` (at most 4096 chars)
``x-original-queue``        the queue it was consumed from
``x-original-exchange``     the exchange it had been published to
``x-original-routing-key``  its routing key
``x-rejected-at``           when, ISO 8601 UTC

To retry failed messages after a fix, consume ``<queue>.failed`` (with
``dead_letter=False``) and publish each body again to the original exchange
and routing key named in its headers.
"""

from __future__ import annotations

from datetime import datetime

from notabene.codec import CONTENT_TYPE
from notabene.delivery import Delivery
from notabene.sender import Outgoing
from notabene.topology import failed_queue_name
from stacktach.timeutils import format_timestamp

__all__ = [
    "MAX_REASON",
    "ORIGINAL_EXCHANGE",
    "ORIGINAL_QUEUE",
    "ORIGINAL_ROUTING_KEY",
    "REASON",
    "REJECTED_AT",
    "dead_letter",
]

REASON = "x-reject-reason"
ORIGINAL_QUEUE = "x-original-queue"
ORIGINAL_EXCHANGE = "x-original-exchange"
ORIGINAL_ROUTING_KEY = "x-original-routing-key"
REJECTED_AT = "x-rejected-at"
#: Longest reason kept in the header.
MAX_REASON = 4096


def dead_letter(delivery: Delivery, rejected_at: datetime) -> Outgoing:
    """The message to publish to ``<queue>.failed`` for a rejected ``delivery``."""
    headers = dict(delivery.headers)
    headers.update(
        {
            REASON: (delivery.reason or "")[:MAX_REASON],
            ORIGINAL_QUEUE: delivery.queue,
            ORIGINAL_EXCHANGE: delivery.exchange,
            ORIGINAL_ROUTING_KEY: delivery.routing_key,
            REJECTED_AT: format_timestamp(rejected_at),
        }
    )
    return Outgoing(
        delivery.body,
        "",
        failed_queue_name(delivery.queue),
        headers=headers,
        message_id=delivery.message_id,
        content_type=delivery.content_type or CONTENT_TYPE,
    )
