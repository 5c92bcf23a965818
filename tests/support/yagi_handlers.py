"""yagi handlers for tests, importable by yagi-event subprocesses (``apps``).

``Fussy`` raises a plain ``ValueError`` for the whole batch whenever one of its
notifications has ``payload.explode`` set - the way a bug triggered by one odd
value looks to the consumer. ``Recorder`` remembers the size of every batch it
is handed (in this process).
"""

from __future__ import annotations

from typing import ClassVar

from yagi.handlers.base import Batch, YagiHandler


class Fussy(YagiHandler):
    name = "fussy"

    def handle(self, batch: Batch) -> None:
        for item in batch.live():
            payload = (item.notification or {}).get("payload")
            if isinstance(payload, dict) and payload.get("explode"):
                raise ValueError(f"cannot take explode={payload['explode']!r}")


class Recorder(YagiHandler):
    name = "recorder"
    sizes: ClassVar[list[int]] = []

    def handle(self, batch: Batch) -> None:
        Recorder.sizes.append(len(batch.live()))
