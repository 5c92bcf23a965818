"""``logger``: log the stream and its events (a pipeline that changes nothing)."""

from __future__ import annotations

import logging
from typing import Any

from winchester.handlers.base import EventDict, PipelineHandler

__all__ = ["LoggingHandler"]

LOG = logging.getLogger("winchester.pipeline.logger")


class LoggingHandler(PipelineHandler):
    """Logs one INFO line per stream and, at DEBUG, one line per event.

    ``level``: the log level of the stream line (default ``info``).
    """

    def __init__(self, level: str = "info") -> None:
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            raise ValueError(f"level must be a logging level name, got {level!r}")
        self.level = numeric

    def handle_events(
        self, events: list[EventDict], env: dict[str, Any]
    ) -> list[EventDict]:
        if LOG.isEnabledFor(self.level):
            LOG.log(
                self.level,
                "stream %s (%s, %s): %d events",
                env.get("stream_id"),
                env.get("stream_name"),
                env.get("stream_state"),
                len(events),
            )
        if LOG.isEnabledFor(logging.DEBUG):
            for event in events:
                LOG.debug(
                    "stream %s: %s %s %s",
                    env.get("stream_id"),
                    event.get("timestamp"),
                    event.get("event_type"),
                    event.get("message_id"),
                )
        return events
