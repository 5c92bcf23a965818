"""The contract of the handlers a yagi consumer runs on each batch.

A consumer builds its chain once from ``apps``. For every batch each handler's
``handle(batch)`` runs, archiving handlers first (``stage = ARCHIVE``), then the
others in ``apps`` order; the batch is acked only after every handler returned.

* A handler marks a notification it cannot process with ``item.reject(reason)``:
  it goes to the dead-letter queue ``<queue>.failed`` (and the reject archive)
  and later handlers skip it; the rest of the batch goes on.
* A handler that cannot work right now (database or broker away) raises
  :class:`~stacktach.exceptions.RecoverableError`: nothing is acked, the batch is
  held and handed over again later (the same items: a handler may remember what
  it already did for them).
* Any other exception is taken as the fault of some notification of the batch
  (a value the code or the database cannot take): the consumer runs the handler
  again on halves of the batch until each failing notification is alone, and
  dead-letters it with the exception as reason (``<handler>: <Type>: <message>``);
  the others go on. A handler must therefore leave nothing behind when it
  raises (one transaction per call), and may be called several times per batch.
* ``batch_done()`` is called once a batch went through the whole chain.

**Finishing in the background.** ``begin(batch)`` may do the first part of the
work and return the rest as a function (a handler's database transaction): the
consumer runs it while the next batch is received, archived and distilled, and
acks the batch only once it returned. The default ``begin`` calls ``handle``
and returns None. The handlers after one that returned a function run after
that function, in the background too. The function follows ``handle``'s rules
(one transaction, re-runnable after a ``RecoverableError``, any other exception
blamed on the batch's notifications: ``handle`` is then run on halves of it);
it must not share unguarded state with the next batch's ``begin``. Archiving
handlers never finish in the background: ``handle`` is called for them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from notabene import Delivery
from yagi.config import ConsumerConfig, YagiConfig

__all__ = ["ARCHIVE", "INGEST", "Batch", "Finish", "Item", "YagiHandler"]

#: The rest of a handler's work on a batch, run in the background.
Finish = Callable[[], None]

ARCHIVE = 0
INGEST = 1


@dataclass(slots=True)
class Item:
    """One message of a batch: its delivery and, once decoded, the notification."""

    delivery: Delivery
    notification: dict[str, Any] | None = None
    rejected: str | None = None
    discarded: bool = False

    def reject(self, reason: str) -> None:
        """Dead-letter this message with ``reason``; later handlers skip it."""
        if self.rejected is None:
            self.rejected = reason
            self.delivery.reject(reason)

    @property
    def live(self) -> bool:
        """Decoded, not rejected, not discarded."""
        return (
            self.notification is not None
            and self.rejected is None
            and not self.discarded
        )


@dataclass(slots=True)
class Batch:
    """The messages of one batch from one queue."""

    queue: str
    deployment: str
    items: list[Item] = field(default_factory=list)

    def live(self) -> list[Item]:
        """The items handlers should process."""
        return [item for item in self.items if item.live]


class YagiHandler(abc.ABC):
    """Base class of yagi handlers."""

    #: ARCHIVE handlers run before all others, whatever the ``apps`` order.
    stage: ClassVar[int] = INGEST
    #: The name used in ``[filters]``/``[exclude_filters]`` and ``[<name>:<queue>]``.
    name: ClassVar[str] = "handler"

    def __init__(self, config: YagiConfig, consumer: ConsumerConfig) -> None:
        self.config = config
        self.consumer = consumer

    @abc.abstractmethod
    def handle(self, batch: Batch) -> None:
        """Process ``batch.live()``; reject what cannot be processed."""

    def begin(self, batch: Batch) -> Finish | None:
        """Start on ``batch``; return what is left to do in the background, if any."""
        self.handle(batch)
        return None

    def statistics(self) -> dict[str, float]:
        """Counters since the last call, for the consumer's statistics line."""
        return {}

    def batch_done(self) -> None:  # noqa: B027 - optional hook
        """The batch went through the whole chain (forget what was remembered)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (flush archives, close connections)."""
