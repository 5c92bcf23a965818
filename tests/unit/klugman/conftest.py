"""A small real HTTP server answering canned JSON in the shapes of API_CONTRACT.md.

``canned`` is an :class:`http.server.ThreadingHTTPServer` on a free port of
127.0.0.1, in a thread. A test sets ``canned.routes[(METHOD, PATH)]`` to
``(status, body)`` (a body that is not bytes is sent as JSON) or to a function
of the query ``{name: value}`` returning that; every request is recorded in
``canned.requests`` (method, path, query, headers) so the test can check what
klugman sent. An unknown route is a falcon-style 404.

These are unit tests of klugman's HTTP handling and formatting; klugman against
the real quince is ``tests/functional/test_klugman_live.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

Answer = tuple[int, Any]
Route = Answer | Callable[[dict[str, str]], Answer]


def dt(text: str) -> dict[str, str]:
    """The typed datetime encoding of the API."""
    return {"__type__": "datetime", "datetime": text}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Canned:
    url: str = ""
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def last(self) -> Request:
        return self.requests[-1]


def _handler(canned: Canned) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            canned.requests.append(
                Request(self.command, parts.path, query, dict(self.headers.items()))
            )
            route = canned.routes.get((self.command, parts.path))
            if route is None:
                status, body = 404, {"title": "404 Not Found"}
            elif callable(route):
                status, body = route(query)
            else:
                status, body = route
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if status != 204:
                self.wfile.write(data)

        do_GET = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's names

    return Handler


@pytest.fixture
def canned() -> Iterator[Canned]:
    """A running canned API server (see the module docstring)."""
    state = Canned()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


STREAM = {
    "id": 12,
    "name": "per_instance",
    "state": "error",
    "first_event": dt("2026-12-01T00:00:00.000000+00:00"),
    "last_event": dt("2026-12-01T03:15:42.123456+00:00"),
    "fire_timestamp": None,
    "expire_timestamp": dt("2026-12-02T03:15:42.123456+00:00"),
    "distinguishing_traits": {"instance_id": "i-0001", "tenant_id": "t-42"},
    "_mark": "c",
}

EVENT = {
    "message_id": "m-0001",
    "event_type": "compute.instance.create.end",
    "timestamp": dt("2026-12-01T00:00:05.000000+00:00"),
    "instance_id": "i-0001",
    "memory_mb": 512,
    "launched_at": dt("2026-12-01T00:00:04.500000+00:00"),
    "_mark": "1f",
}
