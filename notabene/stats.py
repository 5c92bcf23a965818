"""Counters a consumer keeps, for logs, metrics and tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ConsumerStats"]


@dataclass(slots=True)
class ConsumerStats:
    """What a :class:`~notabene.consumer.BatchConsumer` has done since it was built.

    ``received`` counts deliveries (a redelivered message counts again);
    ``acked`` and ``rejected`` count settled messages; ``dead_lettered`` those
    republished to a ``.failed`` queue; ``held`` the callback's recoverable
    failures; ``reconnects`` the connections lost and re-established.
    """

    received: int = 0
    batches: int = 0
    acked: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    held: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name (for metrics exporters)."""
        return asdict(self)
