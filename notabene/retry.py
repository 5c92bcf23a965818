"""Bounded exponential backoff.

A :class:`Backoff` is an immutable policy; :meth:`Backoff.attempts` hands out a
fresh, stateful :class:`Attempts` for one outage. Sleeping goes through a
:class:`threading.Event` so that :meth:`BatchConsumer.stop` (or any caller holding
the event) interrupts a long wait at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Attempts", "Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait between attempts, and how many attempts to make.

    The n-th wait (n from 0) is ``min(maximum, initial * factor**n)``, spread by
    +/- ``jitter`` (a fraction) so that many clients do not retry in step.
    ``max_attempts`` counts every attempt including the first; ``None`` retries
    forever (what a consumer daemon wants).
    """

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 10.0
    max_attempts: int | None = 8
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0:
            raise ValueError("backoff delays must not be negative")
        if self.factor < 1:
            raise ValueError("backoff factor must be >= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1 (or None for no limit)")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def delay(self, failures: int) -> float:
        """Return the wait after ``failures`` consecutive failures (1 or more)."""
        exponent = max(failures - 1, 0)
        # Cap the exponent before it overflows a float for long outages.
        base = self.initial * self.factor ** min(exponent, 64)
        base = min(self.maximum, base)
        if self.jitter:
            base *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(base, 0.0)

    def attempts(
        self,
        stop: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> Attempts:
        """Start counting attempts for one outage (see :class:`Attempts`)."""
        return Attempts(self, stop=stop, sleep=sleep)


class Attempts:
    """The state of one retry sequence under a :class:`Backoff` policy.

    Call :meth:`failed` after each failed attempt: it returns the delay to wait
    before the next one, or None when the policy is exhausted or ``stop`` is set.
    :meth:`wait` sleeps that delay (interrupted by ``stop``); :meth:`reset` starts
    over after a success.
    """

    def __init__(
        self,
        policy: Backoff,
        *,
        stop: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.policy = policy
        self.failures = 0
        self._stop = stop if stop is not None else threading.Event()
        self._sleep = sleep

    @property
    def exhausted(self) -> bool:
        """True once ``max_attempts`` attempts have failed."""
        limit = self.policy.max_attempts
        return limit is not None and self.failures >= limit

    def failed(self) -> float | None:
        """Record a failure; return the delay before the next attempt, or None.

        None means "give up": the policy is exhausted or ``stop`` is set.
        """
        self.failures += 1
        if self.exhausted or self._stop.is_set():
            return None
        return self.policy.delay(self.failures)

    def wait(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; return False if ``stop`` was set meanwhile."""
        if self._sleep is not None:
            self._sleep(delay)
            return not self._stop.is_set()
        return not self._stop.wait(delay)

    def reset(self) -> None:
        """Forget past failures (call after a successful attempt)."""
        self.failures = 0
