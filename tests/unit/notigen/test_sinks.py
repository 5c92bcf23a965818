"""Sinks and realtime pacing (with a fake clock: no test waits)."""

from __future__ import annotations

import io
from typing import Any

from notigen.clock import SECOND
from notigen.render import Line
from notigen.sinks import BrokerSink, FileSink, Pacer


def _line(number: int, time: int = 0) -> Line:
    return Line(b'{"n":%d}' % number, None, "x", str(number), time)


def test_file_sink_writes_json_lines_in_batches() -> None:
    stream = io.BytesIO()
    sink = FileSink(stream, batch=3)
    for number in range(7):
        sink.write(_line(number))
    assert stream.getvalue().count(b"\n") == 6  # two full batches so far
    sink.close()
    assert stream.getvalue().splitlines() == [b'{"n":%d}' % n for n in range(7)]


class FakePublisher:
    """Stands in for notabene.Publisher (same calls)."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options
        self.batches: list[list[bytes]] = []
        self.open = False
        self.confirms = True

    def __enter__(self) -> FakePublisher:
        self.open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.open = False

    def publish_batch(self, items: list[bytes], routing_key: str) -> int:
        assert routing_key == "monitor.info"
        self.batches.append(list(items))
        return len(items)


def test_broker_sink_publishes_in_batches() -> None:
    made: list[FakePublisher] = []

    def factory(url: str, **options: Any) -> FakePublisher:
        made.append(FakePublisher(url, **options))
        return made[-1]

    sink = BrokerSink(
        "amqp://x//",
        exchange="nova",
        routing_key="monitor.info",
        batch=4,
        publisher_factory=factory,
    )
    for number in range(10):
        sink.write(_line(number))
    sink.close()
    publisher = made[0]
    assert publisher.options["exchange"] == "nova"
    assert publisher.options["exchange_type"] == "topic"
    assert [len(b) for b in publisher.batches] == [4, 4, 2]
    assert sink.published == 10 and sink.confirms is True and not publisher.open


def test_pacer_sleeps_until_simulated_time_scaled_by_speed() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    flushed = []

    class Sink:
        def write(self, line: Line) -> None:
            pass

        def flush(self) -> None:
            flushed.append(now[0])

        def close(self) -> None:
            pass

    pacer = Pacer(start=1_000 * SECOND, speed=10.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait(_line(1, 1_000 * SECOND), Sink())  # due now: no sleep
    pacer.wait(_line(2, 1_060 * SECOND), Sink())  # 60 s simulated = 6 s wall
    pacer.wait(_line(3, 1_030 * SECOND), Sink())  # already past: no sleep
    assert slept == [6.0]
    assert flushed == [100.0]


def test_broker_failures_become_sink_errors_without_the_password() -> None:
    import pytest

    from notigen.sinks import SinkError

    class Failing(FakePublisher):
        def publish_batch(self, items: list[bytes], routing_key: str) -> int:
            raise ConnectionError("connection reset")

    def refusing(url: str, **options: Any) -> FakePublisher:
        raise ConnectionError("refused")

    with pytest.raises(SinkError, match="refused"):
        BrokerSink(
            "memory://",
            exchange="nova",
            routing_key="monitor.info",
            publisher_factory=refusing,
        )
    sink = BrokerSink(
        "memory://",
        exchange="nova",
        routing_key="monitor.info",
        batch=2,
        publisher_factory=Failing,
    )
    sink.write(_line(1))
    with pytest.raises(SinkError, match="connection reset"):
        sink.write(_line(2))


def test_real_publisher_errors_name_the_url_without_password() -> None:
    import pytest

    from notigen.sinks import SinkError

    with pytest.raises(SinkError) as caught:
        BrokerSink(
            "nosuchscheme://user:hunter2@localhost//",
            exchange="nova",
            routing_key="monitor.info",
        )
    assert "hunter2" not in str(caught.value)
