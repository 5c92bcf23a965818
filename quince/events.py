"""``/v1/events``: list, count, one event by message id.

Filters: ``from_datetime`` (generated > x), ``to_datetime`` (generated <= x),
``event_name`` (a glob: ``compute.instance.*``), ``traits`` (typed,
``name:value;name:type:value``); ``mark`` and ``limit`` page the list (newest
first).
"""

from __future__ import annotations

import falcon

from quince.context import QuinceContext
from quince.params import get_datetime, get_limit, get_mark, get_text, get_traits
from quince.shapes import event_json, event_text_json
from winchester.storage import queries
from winchester.storage.queries import EventFilter

__all__ = ["EventCount", "EventItem", "EventList"]

FILTERS = ("from_datetime", "to_datetime", "event_name", "traits")


def event_filter(req: falcon.Request) -> EventFilter:
    """The filters of a request."""
    return EventFilter(
        after=get_datetime(req, "from_datetime"),
        until=get_datetime(req, "to_datetime"),
        event_name=get_text(req, "event_name"),
        traits=get_traits(req, "traits"),
    )


class EventList:
    """``GET /v1/events``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        flt = event_filter(req)
        mark = get_mark(req)
        limit = get_limit(req, self.ctx.max_limit)
        found = self.ctx.read(
            lambda conn: queries.list_events_json(conn, flt, mark=mark, limit=limit)
        )
        resp.media = [event_text_json(e) for e in found]


class EventCount:
    """``GET /v1/events/count``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        flt = event_filter(req)
        resp.media = [{"count": self.ctx.read(lambda c: queries.count_events(c, flt))}]


class EventItem:
    """``GET /v1/events/{message_id}`` (exact: ids are compared as stored)."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, message_id: str
    ) -> None:
        found = None
        if "\x00" not in message_id and len(message_id) <= 128:
            found = self.ctx.read(
                lambda conn: queries.event_by_message_id(conn, message_id)
            )
        if found is None:
            raise falcon.HTTPNotFound(
                title="Event not found",
                description=f"There is no event {message_id[:128]!r}.",
            )
        resp.media = event_json(found)
