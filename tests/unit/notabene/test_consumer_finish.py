"""A callback that returns the rest of its work: finished in the background."""

from __future__ import annotations

import threading
from collections.abc import Callable

import orjson
import pytest

import notabene
from notabene.retry import Backoff
from stacktach.exceptions import PermanentError, RecoverableError

from .conftest import MEMORY
from .test_consumer import numbers, publish, spec
from .test_publisher import get_all

FAST = Backoff(initial=0.01, jitter=0, max_attempts=None)


def test_the_next_batch_is_handled_while_the_last_one_finishes(name: str) -> None:
    queue = spec(name)
    publish(queue, 30)
    events: list[str] = []
    acked_at_finish: list[int] = []
    second_started = threading.Event()
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> Callable[[], None]:
        n = numbers(batch)[0] // 10
        events.append(f"callback {n}")
        if n == 1:
            second_started.set()

        def finish() -> None:
            if n == 0:
                # the next batch's callback runs meanwhile, on the other thread
                assert second_started.wait(10)
            acked_at_finish.append(consumer.stats.acked)
            events.append(f"finish {n}")
            if n == 2:
                consumer.stop()

        return finish

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=10)
    consumer.run()
    assert events[:2] == ["callback 0", "callback 1"]
    assert [e for e in events if e.startswith("finish")] == [
        "finish 0",
        "finish 1",
        "finish 2",
    ]
    # each batch is acked only once its finishing function returned
    assert acked_at_finish == [0, 10, 20]
    assert consumer.stats.acked == 30
    assert get_all(queue.name) == []


def test_finishing_functions_run_one_at_a_time_in_batch_order(name: str) -> None:
    queue = spec(name)
    publish(queue, 50)
    running = threading.Lock()
    order: list[int] = []
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> Callable[[], None]:
        first = numbers(batch)[0]

        def finish() -> None:
            assert running.acquire(blocking=False), "two finishing functions at once"
            try:
                threading.Event().wait(0.005)  # long enough to overlap if it could
                order.append(first)
            finally:
                running.release()
            if len(order) == 10:
                consumer.stop()

        return finish

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=5)
    consumer.run()
    assert order == list(range(0, 50, 5))


def test_a_held_finish_is_run_again_and_the_callback_not(name: str) -> None:
    queue = spec(name)
    publish(queue, 5)
    calls = {"callback": 0, "finish": 0}
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> Callable[[], None]:
        calls["callback"] += 1
        batch[1].reject("odd one")  # a decision of the callback: it stays

        def finish() -> None:
            calls["finish"] += 1
            if calls["finish"] < 3:
                raise RecoverableError("database away")
            consumer.stop()

        return finish

    consumer = notabene.BatchConsumer(
        MEMORY, [queue], callback, max_messages=5, hold_backoff=FAST
    )
    consumer.run()
    assert calls == {"callback": 1, "finish": 3}
    assert consumer.stats.held == 2
    assert get_all(queue.name) == []
    failed = get_all(queue.failed_name)
    assert [orjson.loads(m.body)["n"] for m in failed] == [1]
    assert consumer.stats.acked == 4


def test_stop_while_a_finish_is_held_leaves_its_batch_unacked(name: str) -> None:
    queue = spec(name)
    publish(queue, 10)
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> Callable[[], None]:
        def finish() -> None:
            consumer.stop()
            raise RecoverableError("database away")

        return finish

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=5)
    consumer.run()
    returned = get_all(queue.name)
    assert sorted(orjson.loads(m.body)["n"] for m in returned) == list(range(10))
    assert consumer.stats.acked == 0


def test_stop_lets_the_finishing_batch_end_and_settles_it(name: str) -> None:
    queue = spec(name)
    publish(queue, 5)
    finished = threading.Event()
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> Callable[[], None]:
        consumer.stop()  # before the batch has finished

        def finish() -> None:
            threading.Event().wait(0.05)
            finished.set()

        return finish

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=5)
    consumer.run()
    assert finished.is_set()
    assert consumer.stats.acked == 5
    assert get_all(queue.name) == []


def test_a_permanent_error_in_a_finish_dead_letters_the_undecided(name: str) -> None:
    queue = spec(name)
    publish(queue, 3)
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> Callable[[], None]:
        batch[0].ack()

        def finish() -> None:
            consumer.stop()
            raise PermanentError("schema mismatch")

        return finish

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=3)
    consumer.run()
    failed = get_all(queue.failed_name)
    assert [orjson.loads(m.body)["n"] for m in failed] == [1, 2]
    assert get_all(queue.name) == []


def test_a_bug_in_a_finish_propagates_and_loses_nothing(name: str) -> None:
    queue = spec(name)
    publish(queue, 3)

    def callback(batch: list[notabene.Delivery]) -> Callable[[], None]:
        def finish() -> None:
            raise ZeroDivisionError("bug")

        return finish

    consumer = notabene.BatchConsumer(MEMORY, [queue], callback, max_messages=3)
    with pytest.raises(ZeroDivisionError):
        consumer.run()
    returned = get_all(queue.name)
    assert sorted(orjson.loads(m.body)["n"] for m in returned) == [0, 1, 2]


def test_an_idle_queue_does_not_delay_the_last_batch_s_acks(name: str) -> None:
    queue = spec(name)
    publish(queue, 3)
    finished = threading.Event()
    consumer: notabene.BatchConsumer

    def callback(batch: list[notabene.Delivery]) -> Callable[[], None]:
        return finished.set

    consumer = notabene.BatchConsumer(
        MEMORY, [queue], callback, max_messages=10, max_wait=0.05
    )
    thread = threading.Thread(target=consumer.run)
    thread.start()
    try:
        assert finished.wait(10)
        # settled although no further message arrives to make a batch due
        for _ in range(1000):
            if consumer.stats.acked == 3:
                break
            threading.Event().wait(0.01)
        assert consumer.stats.acked == 3
    finally:
        consumer.stop()
        thread.join(10)
