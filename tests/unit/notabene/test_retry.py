import threading

import pytest

from notabene.retry import Backoff


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (50, 5.0), (10_000, 5.0)],
)
def test_delay_doubles_up_to_the_cap(failures: int, expected: float) -> None:
    policy = Backoff(initial=0.5, factor=2, maximum=5, jitter=0)
    assert policy.delay(failures) == expected


def test_jitter_stays_within_its_fraction() -> None:
    policy = Backoff(initial=1, factor=1, maximum=1, jitter=0.1)
    delays = {policy.delay(1) for _ in range(200)}
    assert all(0.9 <= d <= 1.1 for d in delays)
    assert len(delays) > 1


def test_attempts_are_bounded() -> None:
    slept: list[float] = []
    attempts = Backoff(initial=1, jitter=0, max_attempts=3).attempts(sleep=slept.append)
    results = []
    for _ in range(3):
        delay = attempts.failed()
        results.append(delay)
        if delay is not None:
            attempts.wait(delay)
    assert results == [1, 2, None]
    assert slept == [1, 2]
    assert attempts.exhausted


def test_unbounded_attempts_never_give_up() -> None:
    attempts = Backoff(initial=0, jitter=0, max_attempts=None).attempts()
    assert all(attempts.failed() == 0 for _ in range(1000))


def test_reset_starts_over() -> None:
    attempts = Backoff(initial=1, jitter=0, max_attempts=2).attempts(
        sleep=lambda _: None
    )
    attempts.failed()
    attempts.reset()
    assert attempts.failed() == 1


def test_stop_interrupts_the_wait_and_ends_the_retries() -> None:
    stop = threading.Event()
    attempts = Backoff(initial=3600, max_attempts=None).attempts(stop=stop)
    threading.Timer(0.05, stop.set).start()
    assert attempts.wait(3600) is False
    assert attempts.failed() is None


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": -1}, {"factor": 0.5}, {"max_attempts": 0}, {"jitter": 1.0}],
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]
