"""``winchester`` handler: distil the batch and store it in one transaction.

``[winchester] config_file`` (``[winchester:<queue>]`` overrides) names the
``winchester.yaml``. Each notification becomes an event with a ``deployment``
trait (the consumer's region/cell); the events of the batch, their streams and
the duplicates check are one transaction (see :mod:`winchester.ingest`). A
notification the trigger manager rejects (``IngestResult.rejected``: the
distiller's reasons, values the storage refuses) is dead-lettered with the
reason; a duplicate (already stored) is counted and acked. A database outage
raises :class:`~winchester.storage.engine.DatabaseUnavailable`: the batch is
held, unacked, and retried. Any other exception rolls the transaction back and
the consumer isolates the notification to blame (see :mod:`yagi.worker`).

The distilling and the batch's preparation run when the batch arrives
(:meth:`WinchesterHandler.begin`); the transaction runs in the background while
the next batch is received and archived, and the batch is acked after it
commits.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from winchester.build import build_trigger_manager
from winchester.config.settings import WinchesterSettings
from yagi.config import ConsumerConfig, YagiConfig
from yagi.handlers.base import Batch, Finish, YagiHandler

__all__ = ["WinchesterHandler"]

DEPLOYMENT_TRAIT = "deployment"


class WinchesterHandler(YagiHandler):
    """Distils notifications and hands the events to the trigger manager."""

    name = "winchester"

    def __init__(self, config: YagiConfig, consumer: ConsumerConfig) -> None:
        super().__init__(config, consumer)
        path = Path(
            config.section("winchester", consumer.queue).get(
                "config_file", "winchester.yaml"
            )
        )
        self.config_file = path
        self.manager = build_trigger_manager(WinchesterSettings.load(path))
        self.counts: Counter[str] = Counter()

    def handle(self, batch: Batch) -> None:
        finish = self.begin(batch)
        if finish is not None:
            finish()

    def begin(self, batch: Batch) -> Finish | None:
        """Distil and prepare now; the transaction is left to the background."""
        items = batch.live()
        if not items:
            return None
        pending = self.manager.start_notifications(
            [item.notification for item in items],
            traits={DEPLOYMENT_TRAIT: batch.deployment},
            # the bytes received: the size check need not encode the dicts again
            sizes=[len(item.delivery.body) for item in items],
        )

        def finish() -> None:
            result = pending.store()
            for index, reason in result.rejected:
                items[index].reject(f"distiller: {reason}")
            self.counts["unmatched"] += result.unmatched
            self.counts["saved"] += result.saved
            self.counts["duplicates"] += result.duplicates
            self.counts["late_events"] += result.late_events

        return finish

    def statistics(self) -> dict[str, float]:
        counts = {name: float(value) for name, value in self.counts.items()}
        self.counts.clear()
        return counts

    def close(self) -> None:
        self.manager.engine.dispose()
