"""``/v1/streams``: list, count, one stream, reset (PUT) and delete (DELETE).

Filters: ``older_than`` (first_event < x), ``younger_than`` (last_event > x),
``state``, ``trigger_name``, ``distinguishing_traits`` (typed, as ``traits`` of
events); ``mark`` and ``limit`` page the list (newest first). Reset moves
``error`` to ``retry_fire`` and ``expire_error`` to ``retry_expire``; any other
state is a 409 saying which. Delete purges the stream and keeps its events.
"""

from __future__ import annotations

import falcon
import orjson
from sqlalchemy.engine import Connection

from quince.context import QuinceContext
from quince.params import (
    get_datetime,
    get_limit,
    get_mark,
    get_state,
    get_text,
    get_traits,
)
from quince.shapes import stream_json
from winchester.states import StreamState
from winchester.storage import lifecycle, queries
from winchester.storage.queries import StreamFilter

__all__ = ["StreamCount", "StreamItem", "StreamList"]

#: Parameters of the list (the count takes all but mark and limit).
FILTERS = (
    "older_than",
    "younger_than",
    "state",
    "trigger_name",
    "distinguishing_traits",
)


def stream_filter(req: falcon.Request) -> StreamFilter:
    """The filters of a request."""
    return StreamFilter(
        older_than=get_datetime(req, "older_than"),
        younger_than=get_datetime(req, "younger_than"),
        state=get_state(req),
        trigger_name=get_text(req, "trigger_name"),
        traits=get_traits(req, "distinguishing_traits"),
    )


class StreamList:
    """``GET /v1/streams``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        flt = stream_filter(req)
        mark = get_mark(req)
        limit = get_limit(req, self.ctx.max_limit)
        found = self.ctx.read(
            lambda conn: queries.list_streams_json(conn, flt, mark=mark, limit=limit)
        )
        resp.media = [orjson.Fragment(text) for text in found]


class StreamCount:
    """``GET /v1/streams/count``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        flt = stream_filter(req)
        resp.media = [{"count": self.ctx.read(lambda c: queries.count_streams(c, flt))}]


def _not_found(stream_id: int) -> falcon.HTTPNotFound:
    return falcon.HTTPNotFound(
        title="Stream not found", description=f"There is no stream {stream_id}."
    )


class StreamItem:
    """``GET``, ``PUT`` (reset) and ``DELETE /v1/streams/{stream_id}``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, stream_id: int
    ) -> None:
        details = req.get_param_as_bool("details", default=False)

        def work(conn: Connection) -> dict[str, object] | None:
            stream = queries.stream_by_id(conn, stream_id)
            if stream is None:
                return None
            events = queries.stream_events_json(conn, stream_id) if details else None
            return stream_json(stream, events=events)

        body = self.ctx.read(work)
        if body is None:
            raise _not_found(stream_id)
        resp.media = [body]

    def on_put(
        self, req: falcon.Request, resp: falcon.Response, stream_id: int
    ) -> None:
        def work(
            conn: Connection,
        ) -> tuple[StreamState | None, queries.StoredStream | None]:
            stream = queries.stream_by_id(conn, stream_id)
            if stream is None:
                return None, None
            new = lifecycle.reset(conn, stream_id)
            return new, (queries.stream_by_id(conn, stream_id) if new else stream)

        new_state, stream = self.ctx.write(work, f"reset of stream {stream_id}")
        if stream is None:
            raise _not_found(stream_id)
        if new_state is None:
            raise falcon.HTTPConflict(
                title="Stream cannot be reset",
                description=(
                    f"Stream {stream_id} is {stream.state.name.lower()}: only a "
                    "stream in error or expire_error can be reset."
                ),
            )
        resp.media = [stream_json(stream)]

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, stream_id: int
    ) -> None:
        deleted = self.ctx.write(
            lambda conn: queries.delete_stream(conn, stream_id),
            f"delete of stream {stream_id}",
        )
        if not deleted:
            raise _not_found(stream_id)
        resp.status = falcon.HTTP_204
