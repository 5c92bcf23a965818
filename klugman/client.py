"""A small client of the quince REST API: one method per endpoint.

::

    from klugman import Client, NotFound
    api = Client("http://127.0.0.1:8000", token=None, timeout=30)
    for stream in api.iter_streams(state="error", trigger_name="usage"):
        api.reset_stream(stream["id"])

Rules:

* Parameter names and separators are the server's (``API_CONTRACT.md``):
  ``trigger_name``, ``distinguishing_traits`` and ``traits`` as ``name:value;...``
  (several filters are ANDed; ``name:type:value`` forces a type), ``older_than`` /
  ``younger_than`` for streams, ``from_datetime`` (exclusive) / ``to_datetime``
  (inclusive) for events, ``event_name`` (a glob is allowed), ``mark``, ``limit``.
  A filter left as None is not sent.
* Values: a :class:`~datetime.datetime` is sent as ISO 8601 UTC; a trait filter may
  be given as the server's text, as a mapping ``{name: value}`` or as a list of
  ``name:value`` items (joined with ``;``).
* Answers are decoded from the typed JSON encoding: datetimes come back as aware
  UTC :class:`~datetime.datetime` values
  (:func:`~klugman.transport.object_hook`); other tagged values (a
  ``timex.TimeRange`` trait) stay dicts.
* Every failure is one of :mod:`klugman.errors`; nothing else escapes a method
  (a bug aside). The token, when given, is sent on every request as
  ``Authorization: Bearer <token>`` and never appears in a message.
* One HTTP connection per request, no retries (:mod:`klugman.transport`) - a
  caller that wants them catches :class:`~klugman.errors.Unreachable`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from klugman.errors import ServerError
from klugman.transport import Transport, iso_utc, object_hook, query_text

__all__ = [
    "DEFAULT_URL", "MAX_LIMIT", "Client", "TraitFilter", "iso_utc", "join_traits",
    "object_hook",
]  # fmt: skip

DEFAULT_URL = "http://127.0.0.1:8000"
#: The largest page a server serves by default (``api.max_limit``; more is a 400).
MAX_LIMIT = 1000

TraitFilter = str | Mapping[str, object] | Sequence[str]
Row = dict[str, Any]


def join_traits(traits: TraitFilter | None) -> str | None:
    """The server's ``name:value;name:value`` text for a trait filter (None: none)."""
    if traits is None:
        return None
    if isinstance(traits, str):
        items = [traits]
    elif isinstance(traits, Mapping):
        items = [f"{name}:{query_text(value)}" for name, value in traits.items()]
    else:
        items = list(traits)
    parts = [part.strip() for item in items for part in item.split(";")]
    joined = ";".join(part for part in parts if part)
    return joined or None


class Client:
    """The quince API at ``url`` (``http://host:port`` with an optional path prefix).

    ``token`` is sent as a bearer token; ``timeout`` bounds connecting and each
    read, in seconds.
    """

    def __init__(
        self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 30.0
    ) -> None:
        self._http = Transport(url, token, timeout)
        self._call = self._http.call

    @property
    def url(self) -> str:
        """The API's base URL, normalised (no trailing ``/``)."""
        return self._http.url

    @property
    def token(self) -> str | None:
        """The bearer token sent, if any."""
        return self._http.token

    @property
    def timeout(self) -> float:
        """Seconds allowed for connecting and for each read."""
        return self._http.timeout

    def __repr__(self) -> str:  # never shows the token
        return f"Client({self.url!r})"

    # ------------------------------------------------------------------ streams

    def streams(
        self,
        *,
        state: str | None = None,
        trigger_name: str | None = None,
        distinguishing_traits: TraitFilter | None = None,
        older_than: datetime | str | None = None,
        younger_than: datetime | str | None = None,
        mark: str | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """``GET /v1/streams``: a page of streams, newest first (``+`` mark: oldest).

        ``older_than``: first event before it; ``younger_than``: last event after it.
        """
        return self._list(
            "/v1/streams",
            _stream_filters(
                state, trigger_name, distinguishing_traits, older_than, younger_than
            )
            | {"mark": mark, "limit": limit},
        )

    def iter_streams(
        self, *, page_size: int | None = None, **filters: Any
    ) -> Iterator[Row]:
        """Every stream matching ``filters`` (as :meth:`streams`), page by page.

        ``page_size`` is the ``limit`` of each request (None: the server's default,
        and one more request to find the end); ``mark`` is where to start.
        """
        return self._pages(self.streams, page_size, filters)

    def count_streams(
        self,
        *,
        state: str | None = None,
        trigger_name: str | None = None,
        distinguishing_traits: TraitFilter | None = None,
        older_than: datetime | str | None = None,
        younger_than: datetime | str | None = None,
    ) -> int:
        """``GET /v1/streams/count``: how many streams match."""
        return self._count(
            "/v1/streams/count",
            _stream_filters(
                state, trigger_name, distinguishing_traits, older_than, younger_than
            ),
        )

    def stream(self, stream_id: int | str, *, details: bool = False) -> Row:
        """``GET /v1/streams/{id}``: the stream (with ``events`` when ``details``)."""
        path = f"/v1/streams/{_segment(stream_id)}"
        body = self._call("GET", path, {"details": details}, what=f"stream {stream_id}")
        return _one(body, path)

    def reset_stream(self, stream_id: int | str) -> Row:
        """``PUT /v1/streams/{id}``: error -> retry_fire, expire_error -> retry_expire.

        Raises :class:`~klugman.errors.Conflict` (with the reason) in any other state.
        """
        path = f"/v1/streams/{_segment(stream_id)}"
        body = self._call("PUT", path, what=f"stream {stream_id}")
        return _one(body, path)

    def delete_stream(self, stream_id: int | str) -> None:
        """``DELETE /v1/streams/{id}``: purge the stream (its events are kept)."""
        self._call(
            "DELETE",
            f"/v1/streams/{_segment(stream_id)}",
            what=f"stream {stream_id}",
            ok=(200, 204),
        )

    # ------------------------------------------------------------------- events

    def events(
        self,
        *,
        event_name: str | None = None,
        from_datetime: datetime | str | None = None,
        to_datetime: datetime | str | None = None,
        traits: TraitFilter | None = None,
        mark: str | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """``GET /v1/events``: one page of events, newest first.

        ``from_datetime`` < generated <= ``to_datetime``; ``event_name`` may be a glob.
        """
        return self._list(
            "/v1/events",
            _event_filters(event_name, from_datetime, to_datetime, traits)
            | {"mark": mark, "limit": limit},
        )

    def iter_events(
        self, *, page_size: int | None = None, **filters: Any
    ) -> Iterator[Row]:
        """Every event matching ``filters`` (as :meth:`events`), page by page.

        ``page_size`` and ``mark`` as for :meth:`iter_streams`.
        """
        return self._pages(self.events, page_size, filters)

    def count_events(
        self,
        *,
        event_name: str | None = None,
        from_datetime: datetime | str | None = None,
        to_datetime: datetime | str | None = None,
        traits: TraitFilter | None = None,
    ) -> int:
        """``GET /v1/events/count``: how many events match."""
        return self._count(
            "/v1/events/count",
            _event_filters(event_name, from_datetime, to_datetime, traits),
        )

    def event(self, message_id: str) -> Row:
        """``GET /v1/events/{message_id}``: one event, a flat dict of its traits."""
        path = f"/v1/events/{_segment(message_id)}"
        body = self._call("GET", path, what=f"event {message_id}")
        if isinstance(body, list) and len(body) == 1:
            body = body[0]  # tolerate the list-of-one shape of streams
        if not isinstance(body, dict):
            raise ServerError(f"{path}: expected an event object, got {_kind(body)}")
        return body

    # -------------------------------------------------------------- operations

    def event_types(self) -> list[Row]:
        """``GET /v1/event_types``: name, count, first_seen, last_seen of each type."""
        return self._list("/v1/event_types", {})

    def event_type_traits(self, event_type: str) -> list[Row]:
        """``GET /v1/event_types/{name}/traits``: name and type of each trait seen."""
        return self._list(
            f"/v1/event_types/{_segment(event_type)}/traits",
            {},
            what=f"event type {event_type}",
        )

    def triggers(self) -> list[Row]:
        """``GET /v1/triggers``: the trigger definitions and their counters."""
        return self._list("/v1/triggers", {})

    def archives(self) -> list[Row]:
        """``GET /v2/archives``: shoebox archive files (NotFound: none configured)."""
        return self._list("/v2/archives", {}, what="archives")

    def health(self) -> Row:
        """``GET /healthcheck``: the report, on 200 or 503 (``status`` ok or fail)."""
        body = self._call("GET", "/healthcheck", ok=(200, 503))
        if not isinstance(body, dict):
            raise ServerError(f"/healthcheck: expected an object, got {_kind(body)}")
        return body

    # --------------------------------------------------------------- plumbing

    def _pages(
        self, fetch: Any, page_size: int | None, filters: dict[str, Any]
    ) -> Iterator[Row]:
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        filters.pop("limit", None)
        mark = filters.pop("mark", None)
        while True:
            page: list[Row] = fetch(mark=mark, limit=page_size, **filters)
            yield from page
            # A short page is the last; with the server's own page size (unknown
            # here), only an empty page is.
            if not page or (page_size is not None and len(page) < page_size):
                return
            last = page[-1].get("_mark")
            if not last or last == mark:
                raise ServerError(
                    "paging did not advance: the last row has no new _mark"
                )
            mark = str(last)

    def _list(
        self, path: str, params: Mapping[str, object], what: str | None = None
    ) -> list[Row]:
        body = self._call("GET", path, params, what=what)
        if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
            raise ServerError(f"{path}: expected a list of objects, got {_kind(body)}")
        return body

    def _count(self, path: str, params: Mapping[str, object]) -> int:
        body = self._call("GET", path, params)
        if isinstance(body, list) and len(body) == 1:
            body = body[0]
        count = body.get("count") if isinstance(body, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise ServerError(f'{path}: expected [{{"count": N}}], got {_kind(body)}')
        return count


def _stream_filters(
    state: str | None,
    trigger_name: str | None,
    distinguishing_traits: TraitFilter | None,
    older_than: datetime | str | None,
    younger_than: datetime | str | None,
) -> dict[str, object]:
    return {
        "state": state,
        "trigger_name": trigger_name,
        "distinguishing_traits": join_traits(distinguishing_traits),
        "older_than": older_than,
        "younger_than": younger_than,
    }


def _event_filters(
    event_name: str | None,
    from_datetime: datetime | str | None,
    to_datetime: datetime | str | None,
    traits: TraitFilter | None,
) -> dict[str, object]:
    return {
        "event_name": event_name,
        "from_datetime": from_datetime,
        "to_datetime": to_datetime,
        "traits": join_traits(traits),
    }


def _segment(value: object) -> str:
    """``value`` as one path segment (a ``/`` in a message id stays inside it)."""
    return quote(str(value), safe="")


def _one(body: Any, path: str) -> Row:
    if isinstance(body, dict):
        return body
    if isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict):
        return body[0]
    raise ServerError(f"{path}: expected a list with one stream, got {_kind(body)}")


def _kind(body: Any) -> str:
    if isinstance(body, list):
        return f"a list of {len(body)}"
    return type(body).__name__
