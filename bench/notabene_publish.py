"""Publish (and consume) throughput of notabene, with publisher confirms on and off.

Usage::

    python bench/notabene_publish.py [--url amqp://guest:guest@127.0.0.1:5672//]
        [--count 50000] [--batch 1000] [--size 1500] [--window 1000] [--consume]

Each run declares a durable queue bound to a fresh topic exchange (so every
message is routed and stored, as in production), publishes ``--count``
notifications of about ``--size`` bytes in batches of ``--batch``, prints
notifications/s, then deletes what it declared. With ``--consume`` it also
drains the queue with a BatchConsumer and prints that rate.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from typing import Any

import notabene


def notification(n: int, padding: str) -> dict[str, Any]:
    return {
        "event_type": "compute.instance.update",
        "message_id": str(uuid.uuid4()),
        "publisher_id": "compute.host-1",
        "timestamp": "2014-05-01 00:44:59.805827",
        "priority": "INFO",
        "payload": {"instance_id": f"instance-{n}", "state": "active", "pad": padding},
    }


def consume(url: str, spec: notabene.QueueSpec, count: int) -> float:
    received = 0
    consumer: notabene.BatchConsumer

    def handle(batch: list[notabene.Delivery]) -> None:
        nonlocal received
        received += len(batch)
        if received >= count:
            consumer.stop()

    consumer = notabene.BatchConsumer(url, [spec], handle, max_messages=500)
    safety_net = threading.Timer(600, consumer.stop)
    safety_net.start()
    started = time.perf_counter()
    try:
        consumer.run()
    finally:
        safety_net.cancel()
    return received / (time.perf_counter() - started)


def run(args: argparse.Namespace, confirms: bool) -> bool:
    """One publish (and consume) run; return whether confirms were in use."""
    suffix = uuid.uuid4().hex[:8]
    exchange = f"bench-{suffix}"
    spec = notabene.QueueSpec(
        name=f"bench.{suffix}", exchange=exchange, routing_key="#"
    )
    padding = "x" * max(args.size - 250, 0)
    batches = [
        [
            notification(n, padding)
            for n in range(start, min(start + args.batch, args.count))
        ]
        for start in range(0, args.count, args.batch)
    ]
    publisher = notabene.Publisher(
        args.url,
        exchange=exchange,
        queues=[spec],
        confirms=confirms,
        window=args.window,
    )
    try:
        with publisher as pub:
            started = time.perf_counter()
            for batch in batches:
                pub.publish_batch(batch, routing_key="monitor.info")
            elapsed = time.perf_counter() - started
            print(
                f"publish  confirms={'on ' if pub.confirms else 'off'} "
                f"{args.count} x ~{args.size} B: {args.count / elapsed:>9,.0f} msg/s "
                f"({elapsed:.2f} s)"
            )
            confirmed = pub.confirms
        if args.consume:
            rate = consume(args.url, spec, args.count)
            print(f"consume  batches of 500: {rate:>9,.0f} msg/s")
        return confirmed
    finally:
        with notabene.connect(args.url) as conn:
            channel = conn.channel()
            for queue in (spec.name, spec.failed_name):
                channel.queue_delete(queue)
            if conn.transport.driver_type == "amqp":
                channel.exchange_delete(exchange)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1500)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--consume", action="store_true")
    args = parser.parse_args()
    if run(args, confirms=True):  # only RabbitMQ has confirms to turn off
        run(args, confirms=False)


if __name__ == "__main__":
    main()
