"""Counting what was sent, for the final summary and the progress display.

The wall clock is read here only to report a rate (and in the progress display);
it never reaches the content of a notification.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import IO, Any

from notigen.clock import oslo

__all__ = ["Progress", "Summary"]


class Summary:
    """Counts output lines by event type and keeps the simulated time span."""

    def __init__(self) -> None:
        self.by_type: Counter[str] = Counter()
        self.lines = 0
        self.faults: Counter[str] = Counter()
        self.first: int | None = None
        self.last: int | None = None
        self.started = time.monotonic()
        self.finished: float | None = None

    def add(self, event_type: str, sim_time: int) -> None:
        """Count one line of ``event_type`` sent at simulated ``sim_time``."""
        self.lines += 1
        self.by_type[event_type or "<malformed>"] += 1
        if self.first is None:
            self.first = sim_time
        self.last = sim_time

    def finish(self) -> None:
        """Stop the wall-clock timer."""
        self.finished = time.monotonic()

    @property
    def seconds(self) -> float:
        """Wall-clock seconds spent so far (or in total once finished)."""
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Lines per wall-clock second."""
        return self.lines / self.seconds

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data (for ``--summary-json`` and tests)."""
        return {
            "notifications": self.lines,
            "seconds": round(self.seconds, 3),
            "per_s": round(self.rate, 1),
            "simulated_from": None if self.first is None else oslo(self.first),
            "simulated_to": None if self.last is None else oslo(self.last),
            "by_event_type": dict(sorted(self.by_type.items())),
            "faults": dict(sorted(self.faults.items())),
        }

    def format(self) -> str:
        """A human-readable table for stderr."""
        lines = [
            f"notigen: {self.lines} notifications in {self.seconds:.2f} s "
            f"({self.rate:,.0f}/s)",
        ]
        if self.first is not None and self.last is not None:
            lines.append(f"  simulated {oslo(self.first)} .. {oslo(self.last)}")
        width = max((len(name) for name in self.by_type), default=10)
        for name, count in sorted(self.by_type.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {count:>9}  {name:<{width}}")
        if self.faults:
            lines.append("  faults injected:")
            for name, count in sorted(self.faults.items()):
                lines.append(f"  {count:>9}  {name}")
        return "\n".join(lines)


class Progress:
    """A one-line counter on a terminal, redrawn at most a few times a second."""

    def __init__(self, stream: IO[str] | None = None, interval: float = 0.25) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._next = time.monotonic() + interval
        self._shown = False

    def update(self, summary: Summary) -> None:
        """Redraw if ``interval`` has passed since the last time."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        sim = "" if summary.last is None else f"  sim {oslo(summary.last)[:19]}"
        self.stream.write(
            f"\rnotigen: {summary.lines:,} notifications ({summary.rate:,.0f}/s){sim}"
        )
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the progress line."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
