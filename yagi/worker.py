"""The yagi-event consumer: batches from the broker through each queue's chain.

For every batch (up to ``max_messages`` or ``max_wait`` seconds) of a queue:

1. each message is decoded (JSON object; an oslo.messaging v2 envelope is
   unwrapped); one that is not is dead-lettered with the reason; a queue's
   messages are handled in pieces of at most its ``max_messages``;
2. ``[discard_filters]`` event types are acked without processing;
3. the chain runs - archiving handlers first (the raw messages are on disk before
   anything else happens), then the others (distil + ingest in one transaction);
   a handler may dead-letter single messages;
4. rejected messages are written to the reject archive with their reason;
5. the batch is acked (by the consumer, once 3 and 4 are done).

Steps 1 and 2, the archiving and the distilling run when the batch arrives; the
transaction, the reject archive and the statistics are left to the consumer's
finishing thread (see ``YagiHandler.begin`` and :mod:`notabene.consumer`), so
they overlap the next batch's receiving, archiving and distilling. Batches
still commit and are acked one at a time, in order.

A crash anywhere before 5 means redelivery, never loss; redelivered messages are
recognised as duplicates by the storage. A database or broker outage (a
:class:`~stacktach.exceptions.RecoverableError`: the database, the broker, a
full archive disk) holds the batch, unacked, and retries (see
:mod:`notabene.consumer`).

**No single notification stops the consumer.** Any other exception a handler
raises is blamed on the batch's notifications: the handler is run again on
each half of what it was given, down to single notifications, and each one
that still fails alone is dead-lettered with ``<handler>: <Type>: <message>``
(cut to ``MAX_REASON`` characters; logged at ERROR with the traceback once per
batch). Every dead-lettered message is logged at INFO with its message id and
reason.

**Statistics.** Every ``update_timer`` seconds one line per queue: the counts
of the period (``last 300s: ...``, with the rate and the average batch latency)
then the totals since the process started (``since start: ...``). The handlers' counters
are collected after each queue's part of a batch, which is also where the
Prometheus metrics (:mod:`yagi.metrics`, ``--metrics-port``) are recorded.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import TypeVar

import orjson

import notabene
from stacktach import plugins
from stacktach.batchtuning import batch_tuning
from stacktach.exceptions import RecoverableError
from yagi.config import ConsumerConfig, YagiConfig
from yagi.handlers.archive import ArchiveHandler
from yagi.handlers.base import ARCHIVE, Batch, Item, YagiHandler
from yagi.metrics import YagiMetrics

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

    def part(self, handler: YagiHandler, batch: Batch) -> Batch:
        """The items of ``batch`` that ``handler`` is given."""
        items = [item for item in batch.items if self.wants(handler, item)]
        return Batch(batch.queue, batch.deployment, items)

    def start(self, batch: Batch) -> list[Step]:
        """Run the handlers on ``batch`` until one leaves work for the background.

        Returns that work and the handlers after it, as steps to run in order.
        """
        for position, handler in enumerate(self.handlers):
            part = self.part(handler, batch)
            if handler.stage == ARCHIVE:
                isolate(handler.name, handler.handle, part)
                continue
            finish = _or_isolate(handler, part, functools.partial(handler.begin, part))
            if finish is None:
                continue
            steps: list[Step] = [functools.partial(_or_isolate, handler, part, finish)]
            for later in self.handlers[position + 1 :]:
                steps.append(functools.partial(self.run_one, later, batch))
            return steps
        return []

    def run_one(self, handler: YagiHandler, batch: Batch) -> None:
        isolate(handler.name, handler.handle, self.part(handler, batch))

    def archived(self) -> None:
        """The batch went through the archiving handlers (their batch_done)."""
        for handler in self.handlers:
            if handler.stage == ARCHIVE:
                handler.batch_done()

    def batch_done(self) -> None:
        """The batch went through the other handlers (their batch_done)."""
        for handler in self.handlers:
            if handler.stage != ARCHIVE:
                handler.batch_done()


#: One piece of a batch's work.
Step = Callable[[], None]


_T = TypeVar("_T")


def _or_isolate(
    handler: YagiHandler, batch: Batch, work: Callable[[], _T]
) -> _T | None:
    """``work()`` (``handler.begin(batch)``, or what it left to the background);
    on a non-recoverable error, ``isolate`` runs ``handler.handle`` on ``batch``
    instead, down to the notifications to blame."""
    try:
        return work()
    except RecoverableError:
        raise
    except Exception:
        isolate(handler.name, handler.handle, batch)
        return None


class _Steps:
    """A batch's background work: steps run in order, resumed after an outage.

    A step that raises ``RecoverableError`` is run again when the consumer
    calls this again (the steps before it are not).
    """

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.done = 0

    def __call__(self) -> None:
        while self.done < len(self.steps):
            self.steps[self.done]()
            self.done += 1


def isolate(
    name: str, handle: Callable[[Batch], None], batch: Batch, *, first: bool = True
) -> None:
    """Run ``handle(batch)``; on a non-recoverable error, find who is to blame.

    The batch is split in halves and each half handled again, down to single
    notifications; one that still fails alone is dead-lettered with the error.
    A :class:`RecoverableError` (an outage) propagates: the batch is held.
    """
    try:
        handle(batch)
        return
    except RecoverableError:
        raise
    except Exception as exc:
        pending = [item for item in batch.items if item.rejected is None]
        if len(pending) <= 1:
            for item in pending:
                item.reject(_reason(name, exc))
            return
        if first:
            LOG.error(
                "%s: handler %s failed on %d messages (%s: %s); retrying them in "
                "halves to find the ones to dead-letter",
                batch.queue,
                name,
                len(pending),
                type(exc).__name__,
                exc,
                exc_info=True,
            )
    middle = len(pending) // 2
    for half in (pending[:middle], pending[middle:]):
        isolate(name, handle, Batch(batch.queue, batch.deployment, half), first=False)


#: Longest reason given to the dead-letter header (a database error can hold a
#: whole SQL statement and its parameters).
MAX_REASON = 1000


def _reason(name: str, exc: BaseException) -> str:
    text = f"{name}: {type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def _decode(item: Item) -> None:
    try:
        _decode_body(item)
    except Exception as exc:  # never let one message's bytes stop the consumer
        item.reject(f"cannot decode: {type(exc).__name__}: {exc}")


def _decode_body(item: Item) -> None:
    try:
        body = orjson.loads(item.delivery.body)
    except orjson.JSONDecodeError as exc:
        deep = "depth" in str(exc) or "recursion" in str(exc)
        item.reject(f"nested too deep: {exc}" if deep else f"not JSON: {exc}")
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
        specs = [c.queue_spec() for c in config.consumers]
        self.consumer = notabene.BatchConsumer(
            config.broker_url,
            queues=specs,
            callback=self.on_batch,
            max_messages=max(c.max_messages for c in config.consumers),
            max_wait=first.max_wait,
            prefetch=first.prefetch,
        )
        #: Counts of the current statistics period, and since the start.
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.totals: dict[str, Counter[str]] = defaultdict(Counter)
        self._latency: dict[str, list[float]] = defaultdict(list)
        self._last_report = time.monotonic()
        #: The Prometheus metrics, when served (``--metrics-port``).
        self.metrics: YagiMetrics | None = None

    def on_batch(self, deliveries: Sequence[notabene.Delivery]) -> _Steps:
        """The consumer's callback: start each queue's part of the batch.

        Decoding, archiving and distilling happen now; the transactions and the
        bookkeeping (rejects archive, statistics, metrics) are returned, for
        the consumer to run in the background while the next batch arrives.
        Bookkeeping is always in the background, so it is never run by two
        threads at once.
        """
        by_queue: dict[str, list[Item]] = defaultdict(list)
        for delivery in deliveries:
            by_queue[delivery.queue].append(Item(delivery))
        steps: list[Step] = []
        for queue, items in by_queue.items():
            started = time.monotonic()
            chain = self.chains[queue]
            size = self.consumers[queue].max_messages
            for item in items:
                _decode(item)
                if item.live and chain.discard:
                    event_type = str(item.notification.get("event_type", ""))  # type: ignore[union-attr]
                    item.discarded = any(
                        fnmatch.fnmatchcase(event_type, g) for g in chain.discard
                    )
            for start in range(0, len(items), size):
                batch = Batch(
                    queue, self.consumers[queue].deployment, items[start : start + size]
                )
                steps.extend(chain.start(batch))
                if chain.archive is not None:
                    steps.append(
                        functools.partial(chain.archive.archive_rejects, batch)
                    )
            steps.append(functools.partial(self._queue_done, queue, items, started))
        for queue in by_queue:
            self.chains[queue].archived()
        steps.append(functools.partial(self._batch_done, list(by_queue)))
        return _Steps(steps)

    def _queue_done(self, queue: str, items: list[Item], started: float) -> None:
        """Count and log a queue's part of a batch once it went through."""
        batch_counts: Counter[str] = Counter(
            messages=len(items),
            dead_lettered=sum(1 for i in items if i.rejected is not None),
            discarded=sum(1 for i in items if i.discarded),
        )
        for item in items:
            if item.rejected is not None:
                LOG.info(
                    "%s: message %s dead-lettered: %s",
                    queue,
                    _message_id(item),
                    item.rejected,
                )
                if self.metrics is not None:
                    self.metrics.dead_lettered(queue, item.rejected)
        self._collect(queue, batch_counts)
        latency = time.monotonic() - started
        self._latency[queue].append(latency)
        if self.metrics is not None:
            self.metrics.latency(queue, latency)

    def _batch_done(self, queues: list[str]) -> None:
        for queue in queues:
            self.chains[queue].batch_done()
        self.maybe_report()

    def maybe_report(self, *, force: bool = False) -> None:
        """Log one statistics line per queue every ``update_timer`` seconds.

        The line gives the counts of the period (``last <n>s: ...``), then the
        totals since the process started (``since start: ...``).
        """
        now = time.monotonic()
        elapsed = now - self._last_report
        if not force and elapsed < self.config.update_timer:
            return
        for queue in self.chains:
            self._collect(queue, Counter())
            counts = self.counts[queue]
            totals = self.totals[queue]
            totals.update(counts)
            latencies = self._latency[queue]
            LOG.info(
                "%s: last %.0fs: %s (%.1f/s), batch latency %.1f ms avg; "
                "since start: %s",
                queue,
                elapsed,
                _counts(counts),
                counts["messages"] / elapsed if elapsed else 0.0,
                1000 * sum(latencies) / len(latencies) if latencies else 0.0,
                _counts(totals),
            )
            counts.clear()
            latencies.clear()
        self._last_report = now

    def _collect(self, queue: str, counts: Counter[str]) -> None:
        """Add ``counts`` and the handlers' counters to the period's (and to the
        metrics): the one point where the statistics are counted."""
        for handler in self.chains[queue].handlers:
            for key, value in handler.statistics().items():
                counts[key] += int(value)
        self.counts[queue].update(counts)
        if self.metrics is not None:
            self.metrics.record(queue, counts)

    def run(self) -> None:
        """Consume until stopped (SIGTERM/SIGINT with the handlers installed)."""
        try:
            with batch_tuning():
                self.consumer.run()
        finally:
            self.maybe_report(force=True)
            for chain in self.chains.values():
                for handler in chain.handlers:
                    handler.close()

    def stop(self) -> None:
        """Stop after the current batch."""
        self.consumer.stop()


_FIRST = ("messages", "duplicates", "dead_lettered", "discarded")


def _counts(counts: Counter[str]) -> str:
    """``1200 messages, 3 duplicates, ...``: the usual ones first, then the rest."""
    names = [*_FIRST, *sorted(set(counts) - set(_FIRST))]
    return ", ".join(f"{counts[n]} {n.replace('_', '-')}" for n in names)


_RAW_ID = re.compile(rb'"message_id"\s*:\s*"([^"\\]{1,200})"')


def _message_id(item: Item) -> str:
    """The id the reject log names: the notification's, else the broker's.

    For a body that could not be decoded, a ``"message_id": "..."`` found in
    its bytes is named (it helps find the message).
    """
    if item.notification is not None:
        found = item.notification.get("message_id")
        if isinstance(found, str) and found:
            return found
    elif (raw := _RAW_ID.search(item.delivery.body)) is not None:
        return raw.group(1).decode("utf-8", "replace")
    return str(item.delivery.message_id or "(none)")
