"""``klugman watch``: follow ``GET /v1/stream`` (server-sent events) as it happens.

One line per event - time, deployment, event type, instance, request id and a
short summary - or per stream change with ``--streams``; ``--json`` prints the
server's JSON, one line per message (``{"event": ...}`` or ``{"stream": ...}``).

:class:`LiveFeed` reads the stream with :mod:`http.client` line by line. When
the connection drops (server restart, network), it says so on stderr, waits
the server's ``retry:`` delay and reconnects with ``Last-Event-ID``: the server
sends what was stored in between, so nothing is missed and nothing repeats.
A refused parameter or token (4xx) ends it with the usual exit status; Ctrl-C
ends it with 0.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import click

from klugman.client import Client
from klugman.errors import ServerError, Unreachable, for_status
from klugman.output import api_errors, session_of
from klugman.transport import object_hook
from stacktach import jsonutil

__all__ = ["LiveFeed", "Message", "event_line", "stream_line", "watch"]

#: The wait before reconnecting when the server did not say (``retry:``).
DEFAULT_RETRY = 2.0
#: Heartbeats come every 15 s by default: this much silence is a dead link.
READ_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Message:
    """One server-sent event: its type, decoded data and id."""

    event: str
    data: Any
    id: str | None


class LiveFeed:
    """The messages of ``GET /v1/stream?params``, across reconnections.

    ``notice`` gets one line for each connection lost and made again. 4xx
    answers raise the :mod:`klugman.errors` class of their status.
    """

    def __init__(
        self,
        client: Client,
        params: Mapping[str, str | None],
        *,
        last_id: str | None = None,
        notice: Callable[[str], None] = lambda line: None,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        parts = urlsplit(client.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        query = {k: v for k, v in params.items() if v is not None}
        self._target = parts.path.rstrip("/") + "/v1/stream"
        if query:
            self._target += "?" + urlencode(query, quote_via=quote)
        self._url = client.url
        self._token = client.token
        self._connect_timeout = client.timeout
        self._read_timeout = read_timeout
        self.last_id = last_id
        self.retry = DEFAULT_RETRY
        self._notice = notice

    def __iter__(self) -> Iterator[Message]:
        lost = False  # (a first connection that fails counts as lost)
        while True:
            try:
                response, conn = self._open()
            except (Unreachable, ServerError) as exc:
                self._notice(f"{exc}; trying again in {self.retry:g} s")
                lost = True
                time.sleep(self.retry)
                continue
            if lost:
                since = f" from id {self.last_id}" if self.last_id else ""
                self._notice(f"reconnected to {self._url}, resuming{since}")
            else:
                self._notice(f"watching {self._url} (Ctrl-C to stop)")
            try:
                yield from self._messages(response)
                why = "the server ended the stream"
            except (OSError, http.client.HTTPException) as exc:
                why = f"connection lost ({type(exc).__name__})"
            finally:
                conn.close()
            self._notice(f"{why}; reconnecting in {self.retry:g} s")
            lost = True
            time.sleep(self.retry)

    def _open(self) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        headers = {"Accept": "text/event-stream", "User-Agent": "klugman"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self._connect_timeout)
        try:
            conn.request("GET", self._target, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise Unreachable(f"{self._url}: {type(exc).__name__}: {exc}") from None
        if response.status != 200:
            body = response.read()
            conn.close()
            self._fail(response.status, response.reason, body)
        if conn.sock is not None:
            conn.sock.settimeout(self._read_timeout)
        return response, conn

    def _fail(self, status: int, reason: str, body: bytes) -> None:
        description = None
        try:
            decoded = json.loads(body)
            if isinstance(decoded, dict):
                description = decoded.get("description") or decoded.get("title")
        except ValueError:
            pass
        cls = for_status(status)
        message = str(description or f"HTTP {status} {reason}")
        raise cls(message, status=status, description=description)

    def _messages(self, response: http.client.HTTPResponse) -> Iterator[Message]:
        event, seen_id = "message", None
        data: list[str] = []
        while True:
            raw = response.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                if seen_id is not None:
                    self.last_id = seen_id
                if data:
                    text = "\n".join(data)
                    yield Message(
                        event, json.loads(text, object_hook=object_hook), seen_id
                    )
                event, seen_id, data = "message", None, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                seen_id = value
            elif name == "retry" and value.isdigit():
                self.retry = int(value) / 1000


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return str(value) if value else "-"


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value).replace("\n", " ")


def event_line(event: Mapping[str, Any]) -> str:
    """One line for an event: time, deployment, type, instance, request, summary."""
    summary = []
    state = event.get("state")
    if state:
        detail = event.get("state_description")
        summary.append(f"state={state}" + (f"/{detail}" if detail else ""))
    for name in ("host", "message"):
        if event.get(name):
            summary.append(f"{name}={_text(event[name])}")
    return "  ".join(
        [
            _when(event.get("timestamp")),
            _text(event.get("deployment")),
            _text(event.get("event_type")),
            _text(event.get("instance_id")),
            _text(event.get("request_id")),
            " ".join(summary) or "-",
        ]
    )


def stream_line(change: Mapping[str, Any]) -> str:
    """One line for a stream change: time, stream id, change, state, trigger,
    distinguishing traits, reason."""
    traits = change.get("distinguishing_traits") or {}
    shown = ",".join(f"{k}={_text(_plain(v))}" for k, v in sorted(traits.items()))
    return "  ".join(
        [
            _when(change.get("at")),
            f"stream {change.get('id')}",
            _text(change.get("change")),
            _text(change.get("state")),
            _text(change.get("trigger_name")),
            shown or "-",
            _text(change.get("reason")),
        ]
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return jsonutil.dumps(value)
    return value


@click.command()
@click.option("--event-type", help="Only events of this type (a glob is allowed).")
@click.option(
    "--traits",
    "traits",
    multiple=True,
    metavar="NAME:VALUE",
    help="Only events with these traits (name:value or name:type:value; "
    "';' or repeat for several).",
)
@click.option("--deployment", help="Only events whose deployment trait is this.")
@click.option(
    "--streams",
    "streams",
    is_flag=True,
    help="Also show stream changes (created, ready, fired, error, reset...).",
)
@click.option("--streams-only", is_flag=True, help="Only stream changes, no events.")
@click.option("--since", help="Start from this id (as printed with --json).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines for scripts.")
@click.pass_context
@api_errors
def watch(
    ctx: click.Context,
    event_type: str | None,
    traits: tuple[str, ...],
    deployment: str | None,
    streams: bool,
    streams_only: bool,
    since: str | None,
    as_json: bool,
) -> None:
    """Print events (and stream changes) as they are stored, until Ctrl-C.

    Reconnects by itself when the connection drops and resumes where it was
    (a notice on stderr): nothing stored meanwhile is missed.
    """
    session = session_of(ctx, as_json)
    kind = "streams" if streams_only else ("all" if streams else "events")
    params = {
        "kind": kind,
        "event_name": event_type,
        "traits": ";".join(traits) if traits else None,
        "deployment": deployment,
        "since": since,
    }
    feed = LiveFeed(
        session.client,
        params,
        notice=lambda line: click.echo(f"klugman: {line}", err=True),
    )
    try:
        for message in feed:
            if session.as_json:
                click.echo(
                    jsonutil.dumps({message.event: message.data, "id": message.id})
                )
            elif message.event == "event":
                click.echo(event_line(message.data))
            elif message.event == "stream":
                click.echo(stream_line(message.data))
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or | head closed
        ctx.exit(0)
