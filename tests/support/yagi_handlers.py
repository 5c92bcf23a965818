"""yagi handlers for tests, importable by yagi-event subprocesses (``apps``).

``Fussy`` raises a plain ``ValueError`` for the whole batch whenever one of its
notifications has ``payload.explode`` set - the way a bug triggered by one odd
value looks to the consumer. ``Recorder`` remembers the size of every batch it
is handed (in this process). ``Flaky`` leaves its work to the background, where
it meets one outage; ``LateFussy`` is ``Fussy`` with the error raised there.
"""

from __future__ import annotations

from typing import ClassVar

from stacktach.exceptions import RecoverableError
from yagi.handlers.base import Batch, Finish, YagiHandler


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


class Flaky(YagiHandler):
    """Leaves its work to the background; that work meets an outage once."""

    name = "flaky"
    begun: ClassVar[list[int]] = []
    finished: ClassVar[list[int]] = []
    outages: ClassVar[int] = 1

    def handle(self, batch: Batch) -> None:
        finish = self.begin(batch)
        if finish is not None:
            finish()

    def begin(self, batch: Batch) -> Finish | None:
        size = len(batch.live())
        Flaky.begun.append(size)

        def finish() -> None:
            if Flaky.outages > 0:
                Flaky.outages -= 1
                raise RecoverableError("database away")
            Flaky.finished.append(size)

        return finish


class LateFussy(YagiHandler):
    """``Fussy``, but the error comes from the work left to the background."""

    name = "latefussy"

    def handle(self, batch: Batch) -> None:
        Fussy.handle(self, batch)  # type: ignore[arg-type]

    def begin(self, batch: Batch) -> Finish | None:
        return lambda: self.handle(batch)
