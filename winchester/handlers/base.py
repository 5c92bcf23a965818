"""The pipeline handler contract.

A pipeline is a list of handlers run on one stream's events. The worker builds
each handler **once** (with the ``params`` of ``pipelines.yaml`` as keyword
arguments) and reuses it for stream after stream, one stream at a time:

1. ``handle_events(events, env)`` for every handler in order, each receiving the
   list the previous one returned. It must have **no side effects** outside the
   handler object: a stream may be run again after a crash or a failure. It may
   filter the list, or append **new events** (dicts with a new ``message_id``);
   the worker stores those and matches them against the triggers, in the same
   transaction that completes the stream. It resets whatever per-stream state it
   keeps (the previous stream's is gone).
2. If every ``handle_events`` succeeded: ``commit()`` on every handler, in order -
   the place for side effects (publish, POST). Commit must be **idempotent**
   (derive keys from the source ``message_id``s: a stream whose worker died after
   committing is run again). A commit that raises puts the stream in error with
   the reason; it is never swallowed.
3. If any ``handle_events`` raised: ``rollback()`` on every handler.

Events are dicts: the traits plus ``event_type``, ``message_id`` and ``timestamp``
(aware UTC datetimes for every time), sorted by ``timestamp``. ``env`` is a dict
shared by the handlers of one run, seeded with ``stream_id``, ``stream_name`` (the
trigger name), ``stream_state`` (``"firing"`` or ``"expiring"``) and
``distinguishing_traits``; handlers pass data to later ones through it (the
``usage`` handler puts its notifications under ``usage_notifications``, which a
``notabene`` step publishes).

Raise :class:`HandlerError` (or any exception) from ``handle_events`` or
``commit`` to fail the run; the message becomes the stream's recorded error.

A handler that can be slow (retries, timeouts) says how slow with the
classmethod :meth:`PipelineHandler.worst_case_seconds`, computed from its
``pipelines.yaml`` params without building it; ``check-config`` warns when that
exceeds ``lease_seconds``. The worker renews its leases while a handler works,
so a slow handler is safe, but a lease longer than the worst case also covers
a worker that stops renewing mid-commit.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from stacktach.exceptions import StackTachError

__all__ = ["EventDict", "HandlerError", "PipelineHandler", "worst_case_seconds"]

EventDict = dict[str, Any]


class HandlerError(StackTachError):
    """A pipeline handler could not do its work; the stream goes to error."""


class PipelineHandler(abc.ABC):
    """Base class of pipeline handlers (see the module docstring for the contract)."""

    def __init__(self, **params: Any) -> None:
        if params:
            raise TypeError(
                f"{type(self).__name__} takes no parameter {', '.join(sorted(params))}"
            )

    @classmethod
    def worst_case_seconds(cls, params: Mapping[str, Any]) -> float:
        """The longest one run (``handle_events`` + ``commit``) can take with
        ``params``, in seconds; 0 for a handler that never waits.

        Must not build the handler nor do I/O. Raises
        :class:`~stacktach.exceptions.ConfigError` for a bad parameter value.
        """
        return 0.0

    @abc.abstractmethod
    def handle_events(
        self, events: list[EventDict], env: dict[str, Any]
    ) -> list[EventDict]:
        """Look at (and possibly extend) the stream's events; no side effects."""

    def commit(self) -> None:  # noqa: B027 - optional hook
        """Do the side effects decided in :meth:`handle_events` (idempotently)."""

    def rollback(self) -> None:  # noqa: B027 - optional hook
        """Forget what :meth:`handle_events` decided; the run failed."""


def worst_case_seconds(handler_class: object, params: Mapping[str, Any]) -> float:
    """``handler_class.worst_case_seconds(params)``; 0 for a class that declares
    none (a handler need not subclass :class:`PipelineHandler`). Raises
    :class:`~stacktach.exceptions.ConfigError` for a bad parameter value."""
    method = getattr(handler_class, "worst_case_seconds", None)
    return float(method(params)) if callable(method) else 0.0
