# mypy: disallow-untyped-calls=False
# (kombu's annotations are partial; every function of ours is still annotated.)
"""A consume loop that hands messages to a callback in batches.

::

    def handle(batch: list[notabene.Delivery]) -> None:
        for delivery in batch:
            try:
                store(delivery.json())
            except BadNotification as exc:
                delivery.reject(str(exc))   # -> <queue>.failed, with the reason
            else:
                delivery.ack()

    consumer = notabene.BatchConsumer(url, queues=[spec], callback=handle)
    consumer.install_signal_handlers()      # optional: SIGTERM/SIGINT -> stop()
    consumer.run()                          # returns after stop()

**Batches.** A batch is dispatched when ``max_messages`` messages are waiting or
the oldest has waited ``max_wait`` seconds, whichever comes first. ``prefetch``
(per queue on RabbitMQ; default ``3 * max_messages``: one batch finishing, one
being handled, one arriving) bounds how many unacked
messages the broker hands out; with several queues one batch may mix them
(``Delivery.queue`` says which).

**Settling.** After the callback returns, rejected messages are republished to
``<queue>.failed`` (through the default exchange, persistent, confirmed on
RabbitMQ) with an ``x-reject-reason`` header and the other headers listed in
:mod:`notabene.deadletter`; only then are they and the others acked.

A queue with ``dead_letter=False`` gets a plain ``basic.reject`` (no requeue):
RabbitMQ drops the message or dead-letters it by policy. A message the callback
left undecided is acked (``unsettled="ack"``) or rejected with the reason
``not settled by the callback`` (``unsettled="reject"``).

**Failures.** If the callback raises :class:`~stacktach.exceptions.RecoverableError`
(database away), nothing is acked: the batch is held and the callback retried
with the same batch under ``hold_backoff``, forever by default, until it
succeeds or :meth:`stop` is called (then the batch is abandoned and redelivered
later). A hold is logged once at WARNING when it starts (the retries at DEBUG)
and once when the batch goes through.
:class:`~stacktach.exceptions.PermanentError` dead-letters every message
the callback had not decided, with the error as reason. Any other exception is a
bug: the loop closes the connection (the batch returns to the queue) and
re-raises it. A lost connection drops the buffered messages (the broker
redelivers them), reconnects under ``backoff`` and carries on: delivery is
at-least-once, so make the callback idempotent.

**Finishing in the background.** A callback may return a function instead of
None: the rest of the batch's work (the database transaction, say). The
consumer runs it on its finishing thread and settles the batch once it returns;
meanwhile it receives the next batch and calls the callback on it, so the two
overlap (the callback must then not share unguarded state with the function).
Finishing functions run one at a time, in batch order, and a batch's function
has returned before the next one starts. The function follows the callback's
rules: :class:`~stacktach.exceptions.RecoverableError` holds the batch and calls
the *function* again under ``hold_backoff`` (decisions it already made stay, so
it should make them once its work is done), :class:`PermanentError`
dead-letters the undecided, any other exception is a bug. At most two batches
are unacked at once on the consumer's side (one finishing, one being handled);
the default ``prefetch`` lets a third arrive meanwhile.

**Stopping.** :meth:`stop` (from another thread, or from SIGTERM/SIGINT via
:meth:`install_signal_handlers`) lets the batch being handled finish and be
settled; messages received but not handed out return to the queue when the
connection closes. With heartbeats on (``?heartbeat=60``) a callback must not
run longer than the heartbeat interval.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any, Literal

from kombu.connection import Connection
from kombu.messaging import Consumer

from notabene.connection import (
    config_error,
    connect,
    discard,
    establish,
    is_config_error,
    is_recoverable,
    redact_url,
)
from notabene.delivery import Delivery
from notabene.exceptions import BrokerUnavailable
from notabene.retry import Attempts, Backoff
from notabene.sender import ChannelSender
from notabene.settle import settle
from notabene.signals import STOP_SIGNALS, install_stop_handlers
from notabene.stats import ConsumerStats
from notabene.topology import QueueSpec, declare_queues
from stacktach.exceptions import PermanentError, RecoverableError

__all__ = ["BatchConsumer", "Callback"]

LOG = logging.getLogger(__name__)

#: The rest of a batch's work, returned by a callback to run in the background.
Finish = Callable[[], None]
Callback = Callable[[list[Delivery]], "Finish | None"]

#: What a callback's attempt ended as when the batch was abandoned (stopped while held).
_ABANDONED = object()

#: Longest single wait inside the loop: bounds how late stop() is noticed.
TICK = 0.2


class _CallbackFailed(Exception):
    """Carries an exception of the callback out of the loop, past reconnect logic."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _ConnectionFailed(Exception):
    """Carries a broker error met while waiting for a finishing batch."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Pending:
    """A batch whose finishing function runs on the finishing thread."""

    def __init__(self, batch: list[Delivery], finish: Finish, future: Future[None]):
        self.batch = batch
        self.finish = finish
        self.future = future


class BatchConsumer:
    """Consume ``queues`` from the broker at ``url``; hand batches to ``callback``.

    ``backoff`` governs reconnection (default: forever, 0.5 s doubling to 30 s);
    ``hold_backoff`` the retries of a batch whose callback raised
    :class:`RecoverableError` (default: forever, 1 s doubling to 30 s).
    ``clock`` returns the current time for the ``x-rejected-at`` header.
    ``startup_timeout`` bounds the first connection: if the broker cannot be
    reached for that many seconds, :meth:`run` raises :class:`BrokerUnavailable`
    (once connected, reconnection follows ``backoff``).
    """

    def __init__(
        self,
        url: str,
        queues: Sequence[QueueSpec],
        callback: Callback,
        max_messages: int = 100,
        max_wait: float = 0.5,
        prefetch: int | None = None,
        *,
        backoff: Backoff | None = None,
        hold_backoff: Backoff | None = None,
        unsettled: Literal["ack", "reject"] = "ack",
        transport_options: dict[str, Any] | None = None,
        clock: Callable[[], datetime] | None = None,
        startup_timeout: float | None = None,
    ) -> None:
        if not queues:
            raise ValueError("a consumer needs at least one queue")
        names = [spec.name for spec in queues]
        if len(set(names)) != len(names):
            raise ValueError(f"queue names repeat: {names}")
        if max_messages < 1:
            raise ValueError("max_messages must be >= 1")
        if max_wait < 0:
            raise ValueError("max_wait must be >= 0")
        if unsettled not in ("ack", "reject"):
            raise ValueError("unsettled must be 'ack' or 'reject'")
        connect(url)  # a bad URL is a ConfigError now, not when run() starts
        self.url = url
        self.specs = {spec.name: spec for spec in queues}
        self._dead_letter_queues = {s.name for s in queues if s.dead_letter}
        self.callback = callback
        self.max_messages = max_messages
        self.max_wait = max_wait
        self.prefetch = prefetch if prefetch is not None else 3 * max_messages
        self.backoff = backoff or Backoff(initial=0.5, maximum=30.0, max_attempts=None)
        self.hold_backoff = hold_backoff or Backoff(
            initial=1.0, maximum=30.0, max_attempts=None
        )
        self.unsettled = unsettled
        self.stats = ConsumerStats()
        # Dead letters are confirmed by notabene.sender, not message by message.
        self._options = {**(transport_options or {}), "confirm_publish": False}
        self._clock = clock or (lambda: datetime.now(UTC))
        self.startup_timeout = startup_timeout
        self._connected_once = False
        self._stop = threading.Event()
        self._running = threading.Lock()
        self._conn: Connection | None = None
        self._buffer: list[tuple[float, Delivery]] = []
        self._last_heartbeat = 0.0
        self._finisher: ThreadPoolExecutor | None = None
        self._pending: _Pending | None = None
        self._handling: list[Delivery] | None = None
        self._amqp = False

    # -- control -----------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """The live broker connection, or None between connections."""
        return self._conn

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` has been called."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask :meth:`run` to return; a stopped consumer stays stopped.

        Safe from other threads; from a signal handler use
        :meth:`install_signal_handlers`.
        """
        self._stop.set()

    def install_signal_handlers(
        self, signals: Iterable[signal.Signals] = STOP_SIGNALS
    ) -> Callable[[], None]:
        """Make SIGTERM/SIGINT call :meth:`stop`; return a function undoing that.

        Call it from the main thread; see :mod:`notabene.signals`.
        """
        return install_stop_handlers(self.stop, signals)

    # -- the loop ----------------------------------------------------------

    def run(self) -> None:
        """Consume until :meth:`stop`; reconnect after connection loss.

        Raises :class:`BrokerConfigError` if the broker refuses the credentials or
        the topology, :class:`BrokerUnavailable` if ``backoff`` is finite and
        exhausted, and any exception the callback raises that is neither
        recoverable nor permanent.
        """
        if not self._running.acquire(blocking=False):
            raise RuntimeError("this consumer is already running")
        self._finisher = ThreadPoolExecutor(1, thread_name_prefix="notabene-finish")
        try:
            self._run()
        finally:
            self._finisher.shutdown(wait=True)
            self._finisher = None
            self._running.release()

    def _run(self) -> None:
        reconnect = self.backoff.attempts(stop=self._stop)
        started = time.monotonic()
        while not self._stop.is_set():
            deadline = None
            if self.startup_timeout is not None and not self._connected_once:
                deadline = started + self.startup_timeout
            try:
                conn = establish(
                    self.url,
                    self._options,
                    backoff=self.backoff,
                    stop=self._stop,
                    deadline=deadline,
                )
            except BrokerUnavailable:
                if self._stop.is_set():
                    return
                raise
            self._conn = conn
            self._connected_once = True
            try:
                self._serve(conn, reconnect)
            except Exception as exc:
                discard(conn)
                self._after_failure(conn, exc, reconnect)
            else:
                conn.release()
            finally:
                self._conn = None
                self._buffer.clear()  # unacked: the broker redelivers them

    def _after_failure(
        self, conn: Connection, exc: Exception, reconnect: Attempts
    ) -> None:
        """Re-raise what ended the connection, or wait before reconnecting."""
        if isinstance(exc, _CallbackFailed):
            raise exc.error from None
        if is_config_error(exc):
            raise config_error(self.url, exc, "the topology") from exc
        if not is_recoverable(conn, exc):
            raise exc
        self.stats.reconnects += 1
        delay = reconnect.failed()
        if delay is None:
            if self._stop.is_set():
                return
            raise BrokerUnavailable(
                redact_url(self.url), reconnect.failures, exc
            ) from exc
        LOG.warning(
            "lost broker %s (%s: %s); unacked messages will be redelivered; "
            "reconnecting in %.1fs",
            redact_url(self.url),
            type(exc).__name__,
            exc,
            delay,
        )
        reconnect.wait(delay)

    def _serve(self, conn: Connection, reconnect: Attempts) -> None:
        amqp = self._amqp = conn.transport.driver_type == "amqp"
        channel = conn.channel()
        queues = declare_queues(channel, self.specs.values(), native_dead_letter=amqp)
        sender = ChannelSender(conn, conn.channel(), confirms=amqp)
        for name, queue in queues.items():
            Consumer(
                channel,
                queues=[queue],
                on_message=functools.partial(self._on_message, name),
                no_ack=False,
                auto_declare=False,
                prefetch_count=self.prefetch,
            ).consume()
        reconnect.reset()
        LOG.info(
            "consuming %s from %s (batches of %d, max wait %.2fs, prefetch %d)",
            ", ".join(queues),
            redact_url(self.url),
            self.max_messages,
            self.max_wait,
            self.prefetch,
        )
        try:
            while not self._stop.is_set():
                due = self._fill(conn)
                pending = self._pending
                if pending is not None and pending.future.done():
                    self._complete(conn, sender)
                if not due or self._stop.is_set():
                    continue
                batch = self._take()
                if batch:
                    self._handle(batch, conn, sender)
            if self._pending is not None:
                self._complete(conn, sender)
        finally:
            self._drop_pending()

    def _on_message(self, queue: str, message: Any) -> None:
        self._buffer.append((time.monotonic(), Delivery.from_kombu(message, queue)))
        self.stats.received += 1

    def _poll(self, conn: Connection, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            conn.drain_events(timeout=timeout)
        if conn.heartbeat:
            now = time.monotonic()
            if now - self._last_heartbeat >= 1.0:
                self._last_heartbeat = now
                conn.heartbeat_check()

    def _fill(self, conn: Connection) -> bool:
        """Receive until a batch is due (full or old enough): True.

        False when stop() is called, or when the finishing batch is done (to be
        settled at once, not when the next batch is due).
        """
        while not self._stop.is_set():
            if len(self._buffer) >= self.max_messages:
                return True
            pending = self._pending
            if pending is not None and pending.future.done():
                return False
            timeout = TICK
            if self._buffer:
                remaining = self._buffer[0][0] + self.max_wait - time.monotonic()
                if remaining <= 0:
                    return True
                timeout = min(remaining, TICK)
            self._poll(conn, timeout)
        return False

    def _take(self) -> list[Delivery]:
        taken = self._buffer[: self.max_messages]
        del self._buffer[: self.max_messages]
        return [delivery for _, delivery in taken]

    def _pause(self, conn: Connection, delay: float) -> bool:
        """Wait ``delay`` seconds servicing the connection; False if stopped."""
        deadline = time.monotonic() + delay
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            self._poll(conn, min(remaining, TICK))
        return False

    def _handle(
        self, batch: list[Delivery], conn: Connection, sender: ChannelSender
    ) -> None:
        """Call the callback on ``batch``; settle it, or start its finishing."""

        def attempt() -> object:
            for delivery in batch:
                delivery._forget()
            return self.callback(batch)

        self._handling = batch
        try:
            outcome = self._through(batch, conn, sender, attempt)
            self._after_callback(batch, outcome, conn, sender)
        finally:
            self._handling = None

    def _after_callback(
        self,
        batch: list[Delivery],
        outcome: object,
        conn: Connection,
        sender: ChannelSender,
    ) -> None:
        if outcome is _ABANDONED:
            return
        # The previous batch finishes (and is settled) before this one starts;
        # if it was abandoned (stopped while held), this one is left unacked too.
        if self._pending is not None and not self._complete(conn, sender):
            return
        if callable(outcome):
            assert self._finisher is not None
            self._pending = _Pending(batch, outcome, self._finisher.submit(outcome))
        else:
            self._settle(batch, sender)

    def _complete(self, conn: Connection, sender: ChannelSender) -> bool:
        """Wait for the finishing batch (servicing the connection), settle it.

        False if it was abandoned (stopped while held): it is left unacked.
        """
        pending = self._pending
        assert pending is not None and self._finisher is not None
        finisher = self._finisher
        first = [pending.future]  # started already; a retry submits it again

        def attempt() -> object:
            future = first.pop() if first else finisher.submit(pending.finish)
            while True:
                try:
                    return future.result(timeout=TICK)
                except FutureTimeout:
                    try:
                        self._poll(conn, 0.001)  # heartbeats
                    except Exception as exc:
                        raise _ConnectionFailed(exc) from exc

        outcome = self._through(pending.batch, conn, sender, attempt, finishing=True)
        self._pending = None
        if outcome is _ABANDONED:
            return False
        self._settle(pending.batch, sender)
        return True

    def _drop_pending(self) -> None:
        """After a lost connection or a bug: let the finishing function end.

        Its batch is not settled (the broker redelivers it); it must not run
        beside the next connection's batches.
        """
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(BaseException):
                pending.future.result()

    def _through(
        self,
        batch: list[Delivery],
        conn: Connection,
        sender: ChannelSender,
        attempt: Callable[[], object],
        *,
        finishing: bool = False,
    ) -> object:
        """Run ``attempt`` under the hold rules; its result, or ``_ABANDONED``."""
        attempts = self.hold_backoff.attempts(stop=self._stop)
        held_since: float | None = None
        while True:
            try:
                outcome = attempt()
            except RecoverableError as exc:
                self.stats.held += 1
                if not finishing and self._pending is not None:
                    self._complete(conn, sender)  # do not hold its acks too
                delay = attempts.failed()
                if delay is None:
                    if self._stop.is_set():
                        LOG.info("stopping: abandoning a held batch of %d", len(batch))
                        return _ABANDONED
                    raise _CallbackFailed(exc) from exc
                # One WARNING per hold episode; the retries go to DEBUG.
                log = LOG.debug if held_since is not None else LOG.warning
                if held_since is None:
                    held_since = time.monotonic()
                log(
                    "batch of %d held (%s: %s); retrying with backoff (next in "
                    "%.1fs), nothing acked",
                    len(batch),
                    type(exc).__name__,
                    exc,
                    delay,
                )
                if not self._pause(conn, delay):
                    LOG.info("stopping: abandoning a held batch of %d", len(batch))
                    return _ABANDONED
                continue
            except PermanentError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                for delivery in batch:
                    if delivery.decision is None:
                        delivery.reject(reason)
                outcome = None
            except _CallbackFailed:
                raise
            except _ConnectionFailed as exc:
                raise exc.error from None  # not the callback's fault
            except Exception as exc:
                LOG.error(
                    "callback failed on a batch of %d; it returns to the queue",
                    len(batch),
                )
                raise _CallbackFailed(exc) from exc
            break
        if held_since is not None:
            LOG.info(
                "held batch of %d went through after %d attempts (%.0fs)",
                len(batch),
                attempts.failures + 1,
                time.monotonic() - held_since,
            )
        return outcome

    def _settle(self, batch: list[Delivery], sender: ChannelSender) -> None:
        settle(
            batch,
            dead_letter_queues=self._dead_letter_queues,
            sender=sender,
            unsettled=self.unsettled,
            now=self._clock,
            stats=self.stats,
            ack_multiple=self._oldest(batch),
        )

    def _oldest(self, batch: list[Delivery]) -> bool:
        """True if ``batch`` holds the oldest unsettled deliveries (AMQP tags).

        The others are the buffered ones and the batch being handled; one
        ``basic.ack`` with ``multiple`` then acks exactly the batch.
        """
        if not self._amqp or not batch:
            return False
        others = [delivery for _, delivery in self._buffer]
        handling = self._handling
        if handling is not None and handling is not batch:
            others.extend(handling)
        try:
            newest = max(int(d.delivery_tag) for d in batch)
            return all(int(d.delivery_tag) > newest for d in others)
        except (TypeError, ValueError):
            return False
