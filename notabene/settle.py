"""Settle a handled batch with the broker: dead letters first, then acks.

Order matters for at-least-once delivery: a rejected message is acked only after
its copy in ``<queue>.failed`` is safe (confirmed on RabbitMQ). A crash in
between leaves the original unacked, so it is delivered again (and may be
dead-lettered twice), never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container
from datetime import datetime
from typing import Literal

from notabene.deadletter import dead_letter
from notabene.delivery import Decision, Delivery
from notabene.sender import ChannelSender
from notabene.stats import ConsumerStats

__all__ = ["UNSETTLED_REASON", "settle"]

LOG = logging.getLogger(__name__)

UNSETTLED_REASON = "not settled by the callback"


def settle(
    batch: list[Delivery],
    *,
    dead_letter_queues: Container[str],
    sender: ChannelSender,
    unsettled: Literal["ack", "reject"],
    now: Callable[[], datetime],
    stats: ConsumerStats,
    ack_multiple: bool = False,
) -> None:
    """Apply the callback's decisions to ``batch`` and count them in ``stats``.

    Undecided messages are acked or rejected as ``unsettled`` says. A rejected
    message from a queue in ``dead_letter_queues`` is republished to its
    ``.failed`` queue through ``sender`` and then acked; from any other queue it
    gets a plain reject without requeue. Connection errors propagate (nothing
    after the failure is acked; the broker redelivers it).

    ``ack_multiple``: the batch holds the oldest unsettled deliveries of its
    channel (AMQP delivery tags), so the acks are one ``basic.ack`` with
    ``multiple`` on the newest, after the plain rejects.
    """
    for delivery in batch:
        if delivery.decision is None:
            if unsettled == "ack":
                delivery.ack()
            else:
                delivery.reject(UNSETTLED_REASON)
    rejected = [d for d in batch if d.decision is Decision.REJECT]
    dead = [d for d in rejected if d.queue in dead_letter_queues]
    if dead:
        rejected_at = now()
        sender.send([dead_letter(d, rejected_at) for d in dead])
    acks: list[Delivery] = []
    for delivery in batch:
        if delivery.decision is Decision.REJECT and delivery.queue not in (
            dead_letter_queues
        ):
            delivery.message.reject(requeue=False)
        else:
            acks.append(delivery)
    if ack_multiple and acks:
        newest = max(acks, key=lambda d: int(d.delivery_tag))
        newest.message.ack(multiple=True)
    else:
        for delivery in acks:
            delivery.message.ack()
    if rejected:
        first = rejected[0]
        LOG.warning(
            "rejected %d of %d message(s) (%d dead-lettered); first: %s from %s: %s",
            len(rejected), len(batch), len(dead),
            first.message_id, first.queue, first.reason,
        )  # fmt: skip
    stats.batches += 1
    stats.acked += len(batch) - len(rejected)
    stats.rejected += len(rejected)
    stats.dead_lettered += len(dead)
