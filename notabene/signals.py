"""Turn SIGTERM/SIGINT into a clean stop of a long-running loop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["STOP_SIGNALS", "install_stop_handlers"]

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
