import os
import signal
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

import notabene
from notabene.retry import Backoff
from notabene.settle import UNSETTLED_REASON
from stacktach.exceptions import PermanentError, RecoverableError

from .conftest import MEMORY, RunConsumer
from .helpers import wait_for
from .test_publisher import get_all

FROZEN = datetime(2014, 5, 1, 12, 0, tzinfo=UTC)


def spec(name: str, **kwargs: Any) -> notabene.QueueSpec:
    return notabene.QueueSpec(
        name=f"{name}.q", exchange=name, routing_key="k", **kwargs
    )


def publish(queue: notabene.QueueSpec, count: int, start: int = 0) -> None:
    with notabene.Publisher(MEMORY, exchange=queue.exchange, queues=[queue]) as pub:
        pub.publish_batch([{"n": n} for n in range(start, start + count)], "k")


def numbers(batch: list[notabene.Delivery]) -> list[int]:
    return [d.json()["n"] for d in batch]


class Recorder:
    """A callback that records batches, acks everything, and stops at ``expect``."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.batches: list[list[int]] = []
        self.consumer: notabene.BatchConsumer | None = None

    def __call__(self, batch: list[notabene.Delivery]) -> None:
        self.batches.append(numbers(batch))
        for delivery in batch:
            delivery.ack()
        if self.seen >= self.expect and self.consumer is not None:
            self.consumer.stop()

    @property
    def seen(self) -> int:
        return sum(map(len, self.batches))


def consume(queues: list[notabene.QueueSpec], expect: int, **kwargs: Any) -> Recorder:
    """Run a consumer in this thread until ``expect`` messages were handled."""
    recorder = Recorder(expect)
    consumer = notabene.BatchConsumer(MEMORY, queues, recorder, **kwargs)
    recorder.consumer = consumer
    timer = threading.Timer(10, consumer.stop)  # a safety net, not an assertion
    timer.start()
    try:
        consumer.run()
    finally:
        timer.cancel()
    assert recorder.seen >= expect, "consumer stopped by the safety net"
    return recorder


def test_batches_are_cut_at_max_messages(name: str) -> None:
    queue = spec(name)
    publish(queue, 25)
    recorder = consume([queue], 25, max_messages=10, max_wait=0.3)
    assert [len(b) for b in recorder.batches] == [10, 10, 5]
    assert sorted(n for b in recorder.batches for n in b) == list(range(25))
    assert get_all(queue.name) == []


def test_a_partial_batch_is_dispatched_after_max_wait(name: str) -> None:
    queue = spec(name)
    publish(queue, 3)
    # 100 is never reached: only the max_wait timer can dispatch this batch.
    recorder = consume([queue], 3, max_messages=100, max_wait=0.3)
    assert recorder.batches == [[0, 1, 2]]


def test_rejected_messages_go_to_the_failed_queue_with_their_reason(name: str) -> None:
    queue = spec(name)
    publish(queue, 10)
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> None:
        for delivery in batch:
            n = delivery.json()["n"]
            if n % 2:
                delivery.reject(f"odd number {n}")
            else:
                delivery.ack()
        consumer.stop()

    consumer = notabene.BatchConsumer(
        MEMORY, [queue], callback, max_messages=10, clock=lambda: FROZEN
    )
    consumer.run()
    assert get_all(queue.name) == []
    failed = get_all(queue.failed_name)
    assert [orjson.loads(m.body)["n"] for m in failed] == [1, 3, 5, 7, 9]
    assert failed[0].headers == {
        "x-reject-reason": "odd number 1",
        "x-original-queue": queue.name,
        "x-original-exchange": name,
        "x-original-routing-key": "k",
        "x-rejected-at": "2014-05-01T12:00:00.000000+00:00",
    }
    assert failed[0].content_type == "application/json"
    assert consumer.stats.acked == 5
    assert consumer.stats.rejected == consumer.stats.dead_lettered == 5


def test_reject_without_dead_letter_queue_drops_the_message(name: str) -> None:
    queue = spec(name, dead_letter=False)
    publish(queue, 4)
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> None:
        for delivery in batch:
            delivery.reject("unwanted")
        consumer.stop()

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=4)
    consumer.run()
    assert get_all(queue.name) == []
    assert get_all(queue.failed_name) == []
    assert consumer.stats.rejected == 4
    assert consumer.stats.dead_lettered == 0


@pytest.mark.parametrize("unsettled", ["ack", "reject"])
def test_messages_the_callback_leaves_undecided(name: str, unsettled: str) -> None:
    queue = spec(name)
    publish(queue, 3)
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> None:
        consumer.stop()

    consumer = notabene.BatchConsumer(
        MEMORY,
        [queue],
        callback,
        max_messages=3,
        unsettled=unsettled,  # type: ignore[arg-type]
    )
    consumer.run()
    assert get_all(queue.name) == []
    failed = get_all(queue.failed_name)
    if unsettled == "ack":
        assert failed == []
    else:
        assert len(failed) == 3
        assert {m.headers["x-reject-reason"] for m in failed} == {UNSETTLED_REASON}


def test_recoverable_error_holds_the_batch_and_retries_it(name: str) -> None:
    queue = spec(name)
    publish(queue, 5)
    seen: list[list[int]] = []
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> None:
        seen.append(numbers(batch))
        batch[0].ack()  # forgotten when the attempt fails
        if len(seen) < 3:
            raise RecoverableError("database away")
        consumer.stop()

    consumer = notabene.BatchConsumer(
        MEMORY,
        [queue],
        callback,
        max_messages=5,
        hold_backoff=Backoff(initial=0.01, jitter=0, max_attempts=None),
    )
    consumer.run()
    assert seen == [[0, 1, 2, 3, 4]] * 3
    assert consumer.stats.held == 2
    assert get_all(queue.name) == []
    assert get_all(queue.failed_name) == []


def test_stop_while_held_abandons_the_batch_to_the_queue(name: str) -> None:
    queue = spec(name)
    publish(queue, 5)
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> None:
        consumer.stop()
        raise RecoverableError("database away")

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=5)
    consumer.run()
    returned = get_all(queue.name)
    assert sorted(orjson.loads(m.body)["n"] for m in returned) == [0, 1, 2, 3, 4]


def test_permanent_error_dead_letters_the_undecided(name: str) -> None:
    queue = spec(name)
    publish(queue, 3)
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> None:
        batch[0].ack()
        consumer.stop()
        raise PermanentError("schema mismatch")

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=3)
    consumer.run()
    failed = get_all(queue.failed_name)
    assert [orjson.loads(m.body)["n"] for m in failed] == [1, 2]
    assert failed[0].headers["x-reject-reason"] == "PermanentError: schema mismatch"
    assert get_all(queue.name) == []


def test_a_bug_in_the_callback_propagates_and_loses_nothing(name: str) -> None:
    queue = spec(name)
    publish(queue, 3)

    def callback(batch: list[notabene.Delivery]) -> None:
        raise ZeroDivisionError("bug")

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=3)
    with pytest.raises(ZeroDivisionError):
        consumer.run()
    recorder = consume([queue], 3, max_messages=3)
    assert recorder.batches == [[0, 1, 2]]


def test_stop_finishes_the_batch_and_returns_the_buffered_messages(name: str) -> None:
    queue = spec(name)
    publish(queue, 30)
    handled: list[int] = []
    redelivered: list[bool] = []
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> None:
        consumer.stop()
        handled.extend(numbers(batch))
        redelivered.extend(d.redelivered for d in batch)
        for delivery in batch:
            delivery.ack()

    consumer = notabene.BatchConsumer(
        MEMORY, [queue], callback, max_messages=10, prefetch=30
    )
    consumer.run()
    assert handled == list(range(10))
    assert not any(redelivered)
    left = get_all(queue.name)
    assert sorted(orjson.loads(m.body)["n"] for m in left) == list(range(10, 30))


def test_stop_from_another_thread_ends_an_idle_consumer(
    name: str, run_consumer: RunConsumer
) -> None:
    consumer = notabene.BatchConsumer(MEMORY, [spec(name)], lambda batch: None)
    thread = run_consumer(consumer)
    wait_for(lambda: consumer.connection is not None)
    consumer.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_one_consumer_reads_several_queues(name: str) -> None:
    first = notabene.QueueSpec(name=f"{name}.a", exchange=f"{name}-x", routing_key="k")
    second = notabene.QueueSpec(name=f"{name}.b", exchange=f"{name}-y", routing_key="k")
    publish(first, 5)
    publish(second, 5, start=100)
    origins: Counter[str] = Counter()

    def callback(batch: list[notabene.Delivery]) -> None:
        for delivery in batch:
            expected = first.name if delivery.json()["n"] < 100 else second.name
            assert delivery.queue == expected
            origins[delivery.queue] += 1
        if sum(origins.values()) == 10:
            consumer.stop()

    consumer = notabene.BatchConsumer(MEMORY, [first, second], callback)
    consumer.run()
    assert origins == {first.name: 5, second.name: 5}


def test_signal_handlers_stop_the_consumer(name: str) -> None:
    queue = spec(name)
    publish(queue, 1)
    handled: list[int] = []

    def callback(batch: list[notabene.Delivery]) -> None:
        handled.extend(numbers(batch))
        # Delivered to the main thread, which is inside consumer.run().
        threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGTERM)).start()

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_wait=0.05)
    before = signal.getsignal(signal.SIGTERM)
    restore = consumer.install_signal_handlers()
    try:
        consumer.run()
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is before
    assert handled == [0]
    assert consumer.stopping
    assert get_all(queue.name) == []


def test_invalid_arguments_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        notabene.BatchConsumer(MEMORY, [], lambda batch: None)
    with pytest.raises(ValueError):
        notabene.BatchConsumer(MEMORY, [spec(name), spec(name)], lambda batch: None)
    with pytest.raises(ValueError):
        notabene.BatchConsumer(MEMORY, [spec(name)], lambda batch: None, max_messages=0)


def test_a_hold_is_one_warning_however_many_retries(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = spec(name)
    publish(queue, 5)
    attempts: list[int] = []
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> None:
        attempts.append(len(batch))
        if len(attempts) < 5:
            raise RecoverableError("database away")
        consumer.stop()

    consumer = notabene.BatchConsumer(
        MEMORY,
        [queue],
        callback,
        max_messages=5,
        hold_backoff=Backoff(initial=0.01, jitter=0, max_attempts=None),
    )
    with caplog.at_level("DEBUG", logger="notabene.consumer"):
        consumer.run()
    held = [r for r in caplog.records if "held (" in r.getMessage()]
    assert [r.levelname for r in held] == ["WARNING", "DEBUG", "DEBUG", "DEBUG"]
    assert any(
        "went through after 5 attempts" in r.getMessage() for r in caplog.records
    )


def test_startup_timeout_bounds_the_first_connection() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    consumer = notabene.BatchConsumer(
        f"amqp://guest:guest@127.0.0.1:{port}//",
        [spec("nobody")],
        lambda batch: None,
        backoff=Backoff(initial=0.05, jitter=0, max_attempts=None),
        startup_timeout=0.3,
    )
    with pytest.raises(notabene.BrokerUnavailable):
        consumer.run()
