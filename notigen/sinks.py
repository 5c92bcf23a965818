"""Where lines go: a JSON-lines file (or stdout), or a broker through notabene.

Both sinks take :class:`~notigen.render.Line` objects, buffer them and write in
batches. :class:`Pacer` adds ``--realtime``: it sleeps so lines leave at the pace
of simulated time (optionally sped up); it is the only reader of the wall clock
besides the rate summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any, Protocol

from notigen.render import Line
from stacktach.exceptions import RecoverableError

__all__ = ["BrokerSink", "FileSink", "Pacer", "Sink", "SinkError"]


class SinkError(RecoverableError):
    """The destination refused or lost the output (the broker went away)."""


class Sink(Protocol):
    """Receives lines; ``flush`` pushes out what is buffered."""

    def write(self, line: Line) -> None:
        """Take one line."""

    def flush(self) -> None:
        """Send everything buffered so far."""

    def close(self) -> None:
        """Flush and release the destination."""


class FileSink:
    """JSON lines to a binary stream, written in chunks of ``batch`` lines."""

    def __init__(
        self, stream: IO[bytes], *, batch: int = 1000, owned: bool = False
    ) -> None:
        self.stream = stream
        self.batch = batch
        self.owned = owned
        self._buffer: list[bytes] = []

    def write(self, line: Line) -> None:
        """Buffer ``line``; write the buffer out when it is full."""
        buffer = self._buffer
        buffer.append(line.data)
        if len(buffer) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines, newline-terminated, and flush the stream."""
        if self._buffer:
            self._buffer.append(b"")
            self.stream.write(b"\n".join(self._buffer))
            self._buffer.clear()
        self.stream.flush()

    def close(self) -> None:
        """Flush, and close the stream if this sink opened it."""
        self.flush()
        if self.owned:
            self.stream.close()


class BrokerSink:
    """Publishes lines through ``notabene.Publisher`` in batches.

    ``notabene`` is imported when the sink is built, so the rest of notigen works
    without it (``publisher_factory`` replaces it in tests). ``queue``, when
    given, is declared and bound to the exchange with ``routing_key`` before
    anything is published, so messages sent before any consumer started are
    kept instead of dropped. Raises ``RuntimeError`` when notabene is not
    installed and :class:`SinkError` (naming the URL without its password) when
    the broker cannot be reached or fails while publishing.
    """

    def __init__(
        self,
        url: str,
        *,
        exchange: str,
        routing_key: str,
        batch: int = 500,
        queue: str | None = None,
        publisher_factory: Callable[..., Any] | None = None,
    ) -> None:
        options: dict[str, Any] = {"exchange_type": "topic", "durable": True}
        self.where = url
        if publisher_factory is None:
            try:
                import notabene  # noqa: PLC0415 - optional, heavy (kombu)
            except ImportError as exc:  # pragma: no cover - depends on install
                raise RuntimeError(f"--to needs the notabene package ({exc})") from None
            publisher_factory = notabene.Publisher
            self.where = notabene.redact_url(url)
            if queue:
                spec = notabene.QueueSpec(
                    name=queue, exchange=exchange, routing_key=routing_key
                )
                options["queues"] = [spec]
        self.routing_key = routing_key
        self.batch = batch
        self.published = 0
        self._buffer: list[bytes] = []
        self._confirms: bool | None = None
        try:
            self._publisher = publisher_factory(url, exchange=exchange, **options)
            self._publisher.__enter__()
        except Exception as exc:  # whatever the broker library raises
            raise SinkError(f"cannot publish to {self.where}: {exc}") from exc

    @property
    def confirms(self) -> bool | None:
        """Whether the broker confirmed the messages (``None``: nothing sent yet).

        Read while publishing, so it stays known after :meth:`close`.
        """
        return self._confirms

    def write(self, line: Line) -> None:
        """Buffer ``line``; publish the buffer when it is full."""
        self._buffer.append(line.data)
        if len(self._buffer) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Publish the buffered lines as one batch."""
        if self._buffer:
            try:
                sent = self._publisher.publish_batch(
                    self._buffer, routing_key=self.routing_key
                )
            except Exception as exc:  # whatever the broker library raises
                raise SinkError(f"publishing to {self.where} failed: {exc}") from exc
            self.published += len(self._buffer) if sent is None else int(sent)
            self._buffer = []
            self._confirms = bool(getattr(self._publisher, "confirms", False))

    def close(self) -> None:
        """Publish what is left and close the connection."""
        try:
            self.flush()
        finally:
            self._publisher.__exit__(None, None, None)


class Pacer:
    """Holds lines back until their simulated time, scaled by ``speed``.

    Simulated ``start`` maps to the moment the pacer is built; a line at simulated
    time ``t`` leaves at ``(t - start) / speed`` wall seconds after that. Before
    sleeping it flushes the sink so nothing waits in a buffer.
    """

    def __init__(
        self,
        start: int,
        speed: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self.clock = clock
        self.sleep = sleep
        self.origin = clock()

    def wait(self, line: Line, sink: Sink) -> None:
        """Sleep until ``line`` is due."""
        due = self.origin + (line.time - self.start) / 1e6 / self.speed
        delay = due - self.clock()
        if delay > 0.001:
            sink.flush()
            self.sleep(delay)
