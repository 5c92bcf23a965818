"""The yagi-event consumer: batches from the broker through each queue's chain.

For every batch (up to ``max_messages`` or ``max_wait`` seconds) of a queue:

1. each message is decoded (JSON object; an oslo.messaging v2 envelope is
   unwrapped); one that is not is dead-lettered with the reason;
2. ``[discard_filters]`` event types are acked without processing;
3. the chain runs - archiving handlers first (the raw messages are on disk before
   anything else happens), then the others (distil + ingest in one transaction);
   a handler may dead-letter single messages;
4. rejected messages are written to the reject archive with their reason;
5. the batch is acked (by the consumer, after this returns).

A crash anywhere before 5 means redelivery, never loss; redelivered messages are
recognised as duplicates by the storage. A database or broker outage holds the
batch, unacked, and retries (see :mod:`notabene.consumer`).
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import orjson

import notabene
from stacktach import plugins
from yagi.config import ConsumerConfig, YagiConfig
from yagi.handlers.archive import ArchiveHandler
from yagi.handlers.base import ARCHIVE, Batch, Item, YagiHandler

__all__ = ["HANDLERS", "YagiWorker"]

LOG = logging.getLogger("yagi.worker")

#: Short names of the built-in handlers.
HANDLERS = {
    "winchester": "yagi.handlers.winchester:WinchesterHandler",
    "shoebox": "yagi.handlers.archive:ArchiveHandler",
}
#: The original's dotted handler names -> ours.
LEGACY = {
    "winchester.yagi_handler.WinchesterHandler": "winchester",
    "yagi.handler.shoebox_handler.ShoeboxHandler": "shoebox",
}


class _Chain:
    """One queue's handlers, with their event type filters."""

    def __init__(self, config: YagiConfig, consumer: ConsumerConfig) -> None:
        built: list[YagiHandler] = []
        for app in consumer.apps:
            factory = plugins.load(LEGACY.get(app, app), HANDLERS, kind="yagi handler")
            built.append(factory(config, consumer))
        self.handlers = sorted(built, key=lambda h: h.stage)
        self.archive = next((h for h in built if isinstance(h, ArchiveHandler)), None)
        self.include = {h.name: config.event_types("filters", h.name) for h in built}
        self.exclude = {
            h.name: config.event_types("exclude_filters", h.name) for h in built
        }
        self.discard = tuple(
            glob
            for h in built
            for glob in config.event_types("discard_filters", h.name)
        )

    def wants(self, handler: YagiHandler, item: Item) -> bool:
        if handler.stage == ARCHIVE:
            return True
        event_type = str((item.notification or {}).get("event_type", ""))
        include, exclude = self.include[handler.name], self.exclude[handler.name]
        if include and not any(fnmatch.fnmatchcase(event_type, g) for g in include):
            return False
        return not any(fnmatch.fnmatchcase(event_type, g) for g in exclude)

    def run(self, batch: Batch) -> None:
        for handler in self.handlers:
            items = [item for item in batch.items if self.wants(handler, item)]
            handler.handle(Batch(batch.queue, batch.deployment, items))


def _decode(item: Item) -> None:
    try:
        body = orjson.loads(item.delivery.body)
    except orjson.JSONDecodeError as exc:
        item.reject(f"not JSON: {exc}")
        return
    if isinstance(body, dict) and isinstance(body.get("oslo.message"), (str, bytes)):
        try:
            body = orjson.loads(body["oslo.message"])
        except orjson.JSONDecodeError as exc:
            item.reject(f"oslo.message is not JSON: {exc}")
            return
    if not isinstance(body, dict):
        item.reject(f"not a JSON object but {type(body).__name__}")
        return
    item.notification = body


class YagiWorker:
    """Consumes every queue of a yagi.conf; one process, one broker connection."""

    def __init__(self, config: YagiConfig) -> None:
        self.config = config
        self.consumers = {c.queue: c for c in config.consumers}
        self.chains = {c.queue: _Chain(config, c) for c in config.consumers}
        first = config.consumers[0]
        specs = [
            notabene.QueueSpec(
                name=c.queue,
                exchange=c.exchange,
                routing_key=c.routing_key,
                exchange_type=c.exchange_type,
                durable=c.durable,
                auto_delete=c.auto_delete,
                arguments={"x-queue-type": c.queue_type} if c.queue_type else {},
            )
            for c in config.consumers
        ]
        self.consumer = notabene.BatchConsumer(
            config.broker_url,
            queues=specs,
            callback=self.on_batch,
            max_messages=max(c.max_messages for c in config.consumers),
            max_wait=first.max_wait,
            prefetch=first.prefetch,
        )
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self._latency: dict[str, list[float]] = defaultdict(list)
        self._last_report = time.monotonic()

    def on_batch(self, deliveries: Sequence[notabene.Delivery]) -> None:
        """The consumer's callback: run each queue's part of the batch."""
        by_queue: dict[str, list[Item]] = defaultdict(list)
        for delivery in deliveries:
            by_queue[delivery.queue].append(Item(delivery))
        for queue, items in by_queue.items():
            started = time.monotonic()
            chain = self.chains[queue]
            batch = Batch(queue, self.consumers[queue].deployment, items)
            for item in items:
                _decode(item)
                if item.live and chain.discard:
                    event_type = str(item.notification.get("event_type", ""))  # type: ignore[union-attr]
                    item.discarded = any(
                        fnmatch.fnmatchcase(event_type, g) for g in chain.discard
                    )
            chain.run(batch)
            if chain.archive is not None:
                chain.archive.archive_rejects(batch)
            counts = self.counts[queue]
            counts["messages"] += len(items)
            counts["dead_lettered"] += sum(1 for i in items if i.rejected is not None)
            counts["discarded"] += sum(1 for i in items if i.discarded)
            for item in items:
                if item.rejected is not None:  # notabene logs a summary per batch
                    LOG.debug(
                        "%s: message %s dead-lettered: %s",
                        queue,
                        (item.notification or {}).get(
                            "message_id", item.delivery.message_id
                        ),
                        item.rejected,
                    )
            self._latency[queue].append(time.monotonic() - started)
        self.maybe_report()

    def maybe_report(self, *, force: bool = False) -> None:
        """Log one statistics line per queue every ``update_timer`` seconds."""
        now = time.monotonic()
        elapsed = now - self._last_report
        if not force and elapsed < self.config.update_timer:
            return
        for queue, chain in self.chains.items():
            counts = self.counts[queue]
            extra: dict[str, Any] = {}
            for handler in chain.handlers:
                extra.update(handler.statistics())
            latencies = self._latency[queue]
            LOG.info(
                "%s: %d messages (%.1f/s), %d duplicates, %d dead-lettered, "
                "%d discarded, batch latency %.1f ms avg, %s",
                queue,
                counts["messages"],
                counts["messages"] / elapsed if elapsed else 0.0,
                int(extra.pop("duplicates", 0)),
                counts["dead_lettered"],
                counts["discarded"],
                1000 * sum(latencies) / len(latencies) if latencies else 0.0,
                ", ".join(f"{k} {int(v)}" for k, v in sorted(extra.items())) or "-",
            )
            counts.clear()
            latencies.clear()
        self._last_report = now

    def run(self) -> None:
        """Consume until stopped (SIGTERM/SIGINT with the handlers installed)."""
        try:
            self.consumer.run()
        finally:
            self.maybe_report(force=True)
            for chain in self.chains.values():
                for handler in chain.handlers:
                    handler.close()

    def stop(self) -> None:
        """Stop after the current batch."""
        self.consumer.stop()
