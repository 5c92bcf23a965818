"""Replaying archives: back into a broker, or straight into the trigger manager.

Replay is the one place shoebox uses the rest of StackTach (``notabene`` for
the broker, ``winchester`` and ``distiller`` for ingest); they are imported
when a replay starts, so the archive writer and reader need only ``stacktach``.

Into winchester, notifications go through ``TriggerManager.add_notifications``
in batches with the **event-time clock** (the high-water mark of ingested
event timestamps, kept in the database): replayed streams expire in event
time, not by the wall clock. Ingest is idempotent (unique ``message_id``), so
replaying a file twice stores each event once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from shoebox.reader import read
from stacktach.exceptions import ConfigError

__all__ = ["ReplaySummary", "batches", "to_broker", "to_winchester"]

Progress = Callable[[Path], None]


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did."""

    files: int = 0
    records: int = 0
    published: int = 0
    saved: int = 0
    duplicates: int = 0
    unmatched: int = 0
    rejected: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """The summary, one ``name: value`` per line (the non-zero counters)."""
        out = [f"files: {self.files}", f"records: {self.records}"]
        for name in ("published", "saved", "duplicates", "unmatched", "rejected"):
            value = getattr(self, name)
            if value:
                out.append(f"{name}: {value}")
        out.append(f"seconds: {self.seconds:.3f}")
        return out


def batches(
    files: Sequence[Path], size: int, summary: ReplaySummary, done: Progress
) -> Iterator[list[bytes]]:
    """Bodies of every record of ``files`` in batches of ``size``.

    ``done(path)`` is called after each file; ``CorruptArchive`` stops the
    replay at the bad record (what came before it was sent).
    """
    batch: list[bytes] = []
    for path in files:
        for record in read(path):
            batch.append(record.body)
            summary.records += 1
            if len(batch) >= size:
                yield batch
                batch = []
        summary.files += 1
        done(path)
    if batch:
        yield batch


def to_broker(
    files: Sequence[Path],
    url: str,
    *,
    exchange: str,
    routing_key: str,
    queue: str | None = None,
    batch_size: int = 500,
    done: Progress = lambda path: None,
) -> ReplaySummary:
    """Publish every record's body to ``exchange`` with ``routing_key``.

    ``queue`` declares a queue bound with the routing key first (messages sent
    to an exchange with no queue bound are dropped by the broker).
    """
    import notabene  # noqa: PLC0415 - heavy (kombu), only when replaying

    summary = ReplaySummary()
    started = time.perf_counter()
    queues = (
        [notabene.QueueSpec(name=queue, exchange=exchange, routing_key=routing_key)]
        if queue
        else []
    )
    with notabene.Publisher(
        url, exchange=exchange, exchange_type="topic", queues=queues
    ) as publisher:
        for bodies in batches(files, batch_size, summary, done):
            summary.published += publisher.publish_batch(
                bodies, routing_key=routing_key
            )
    summary.seconds = time.perf_counter() - started
    return summary


def to_winchester(
    files: Sequence[Path],
    settings_path: str | Path,
    *,
    batch_size: int = 500,
    done: Progress = lambda path: None,
) -> ReplaySummary:
    """Distil and ingest every record with the settings of ``winchester.yaml``.

    Raises ``ConfigError`` when the file has no ``distiller_config`` or
    ``trigger_definitions``.
    """
    # Imported here: ingest pulls in SQLAlchemy, distiller and winchester, which
    # the archive writer and reader never need.
    from winchester.clock import EventClock  # noqa: PLC0415
    from winchester.config.settings import WinchesterSettings  # noqa: PLC0415
    from winchester.config.triggers import load_triggers  # noqa: PLC0415
    from winchester.ingest import TriggerManager  # noqa: PLC0415
    from winchester.storage.engine import connect  # noqa: PLC0415

    settings = WinchesterSettings.load(settings_path)
    distiller_settings = settings.distiller_settings()
    if distiller_settings is None:
        raise ConfigError("replay needs distiller_config", source=str(settings_path))
    triggers_path = settings.locate("trigger_definitions")
    if triggers_path is None:
        raise ConfigError("replay needs trigger_definitions", source=str(settings_path))
    distiller = distiller_settings.build()
    triggers = load_triggers(triggers_path)
    engine = connect(settings.database.url)
    summary = ReplaySummary()
    started = time.perf_counter()
    try:
        manager = TriggerManager(
            engine, triggers, EventClock(engine), distiller=distiller
        )
        for bodies in batches(files, batch_size, summary, done):
            result = manager.add_notifications(bodies)
            summary.saved += result.saved
            summary.duplicates += result.duplicates
            summary.unmatched += result.unmatched
            summary.rejected += len(result.rejected)
    finally:
        engine.dispose()
    summary.seconds = time.perf_counter() - started
    return summary
