"""Turn SIGTERM/SIGINT into a clean stop of a long-running loop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["STOP_SIGNALS", "exit_on_stop_signals", "install_stop_handlers"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_stop_handlers(
    stop: Callable[[], None], signals: Iterable[signal.Signals] = STOP_SIGNALS
) -> Callable[[], None]:
    """Make ``signals`` call ``stop()``; return a function restoring the old handlers.

    ``stop`` runs in a short-lived thread, not in the handler itself: setting a
    :class:`threading.Event` takes a lock that the interrupted main thread may be
    holding (inside ``Event.wait``), which would deadlock. Must be called from the
    main thread (a Python rule for signal handlers).
    """

    def handler(signum: int, frame: Any) -> None:
        threading.Thread(target=stop, name="notabene-stop").start()

    previous = {sig: signal.signal(sig, handler) for sig in signals}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def exit_on_stop_signals(signals: Iterable[signal.Signals] = STOP_SIGNALS) -> None:
    """Until :func:`install_stop_handlers` runs, make ``signals`` exit with status 0.

    For a daemon's start-up (connecting, recovering archives): nothing has been
    acked yet, so stopping at once loses nothing, and an operator's SIGTERM then
    ends the process cleanly instead of killing it by the default action.
    """

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    for sig in signals:
        signal.signal(sig, handler)
