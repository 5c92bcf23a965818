"""The ``atompub`` pipeline handler, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stacktach.exceptions import ConfigError
from winchester.handlers import atom_entry
from winchester.handlers.atompub import AtomPubHandler
from winchester.handlers.base import HandlerError

ATOM = "{http://www.w3.org/2005/Atom}"
D1 = datetime(2015, 8, 10, tzinfo=UTC)
D2 = datetime(2015, 8, 11, tzinfo=UTC)
LAUNCHED = datetime(2015, 8, 9, 15, 21, tzinfo=UTC)


# ---------------------------------------------------------------- the server


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def entry_id(self) -> str:
        node = ET.fromstring(self.body).find(f"{ATOM}id")
        assert node is not None and node.text is not None
        return node.text


@dataclass
class Feed:
    """An Atom collection at ``/feed`` and a Rackspace identity server at ``/tokens``.

    The feed stores entries by id (201, then 409 for the same id). Scripted
    ``statuses`` answer the next POSTs instead (nothing stored); ``delays`` make
    the next POSTs wait before answering. With ``token`` set, a POST without
    that ``X-Auth-Token`` gets 401; each ``/tokens`` call issues a new token.
    """

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    auth_statuses: list[int] = field(default_factory=list)
    token: str | None = None
    posts: list[Post] = field(default_factory=list)
    auth_requests: list[Any] = field(default_factory=list)
    entries: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed"

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tokens"

    def answer_feed(self, post: Post) -> tuple[int, bytes]:
        with self.lock:
            self.posts.append(post)
            delay = self.delays.pop(0) if self.delays else 0.0
        time.sleep(delay)
        with self.lock:
            if (
                self.token is not None
                and post.headers.get("X-Auth-Token") != self.token
            ):
                return 401, b"token expired"
            if self.statuses:
                return self.statuses.pop(0), b"scripted answer"
            entry_id = post.entry_id
            if entry_id in self.entries:
                return 409, b"already there"
            self.entries[entry_id] = post.body
            return 201, b""

    def answer_auth(self, post: Post) -> tuple[int, bytes]:
        with self.lock:
            self.auth_requests.append(json.loads(post.body))
            if self.auth_statuses:
                return self.auth_statuses.pop(0), b"{}"
            self.token = f"token-{len(self.auth_requests)}"
            return 200, json.dumps({"access": {"token": {"id": self.token}}}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        post = Post(self.path, dict(self.headers.items()), self.rfile.read(length))
        feed = self.server.feed
        if self.path == "/tokens":
            status, body = feed.answer_auth(post)
        else:
            status, body = feed.answer_feed(post)
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", feed.url + "/elsewhere")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, feed: Feed) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.feed = feed

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out has gone: nothing to report."""


@pytest.fixture
def feed() -> Iterator[Feed]:
    """A fresh Feed served on an ephemeral port for this test."""
    state = Feed()
    server = _Server(state)
    state.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def handler_for(feed: Feed, **params: Any) -> tuple[AtomPubHandler, list[float]]:
    """A handler posting to ``feed`` with tiny waits; also the waits it asked for."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    params.setdefault("wait_interval", 0.01)
    params.setdefault("max_wait", 0.05)
    params.setdefault("http_timeout", 5)
    return AtomPubHandler(feed.url, sleep=sleep, **params), sleeps


def event(
    n: int, event_type: str = "compute.instance.exists.verified", **traits: Any
) -> dict[str, Any]:
    return {
        "message_id": f"00000000-0000-0000-0000-{n:012d}",
        "event_type": event_type,
        "timestamp": D1,
        **traits,
    }


def run(handler: AtomPubHandler, events: list[dict[str, Any]]) -> None:
    handler.handle_events(events, {"stream_id": 1})
    handler.commit()


# ---------------------------------------------------------------- parameters


def test_event_types_parsing_and_matching() -> None:
    url = "http://127.0.0.1:1/feed"
    handler = AtomPubHandler(url)
    assert (handler.included_types, handler.excluded_types) == (("*",), ())
    handler = AtomPubHandler(url, event_types="test.thing")
    assert (handler.included_types, handler.excluded_types) == (("test.thing",), ())
    handler = AtomPubHandler(url, event_types=["!test.thing"])
    assert (handler.included_types, handler.excluded_types) == (("*",), ("test.thing",))
    handler = AtomPubHandler(url, event_types=["test.foo.*", "!test.wakka.*"])
    assert handler.match_type("test.foo.bar")
    assert handler.match_type("test.foo.baz")
    assert not handler.match_type("test.wakka.wakka")
    assert not handler.match_type("test.other")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "http(s) URL"),
        ({"url": "ftp://host/feed"}, "http(s) URL"),
        ({"url": "http://u:p@host/feed"}, "credentials belong"),
        ({"url": "http://h/f", "content_format": "xml"}, "unknown content format"),
        ({"url": "http://h/f", "auth_user": "u"}, "go together"),
        ({"url": "http://h/f", "extra_info": ["x"]}, "mapping"),
        ({"url": "http://h/f", "wait_interval": -1}, ">= 0"),
        ({"url": "http://h/f", "http_timeout": 0}, "> 0"),
        ({"url": "http://h/f", "max_attempts": 0}, ">= 1"),
        ({"url": "http://h/f", "event_types": [1]}, "list of strings"),
    ],
)
def test_invalid_parameters_are_config_errors(
    params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match="atompub handler") as caught:
        AtomPubHandler(**params)
    assert message in str(caught.value)


def test_unknown_parameter_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="retries"):
        AtomPubHandler("http://h/f", retries=3)


# ---------------------------------------------------------------- entries


def test_entry_document() -> None:
    document = atom_entry.entry_xml(
        message_id="12-34",
        event_type="test.thing.bar",
        content="TEST_CONTENT",
        content_type="test/thing",
        original_message_id="56-78",
    )
    assert document == (
        '<atom:entry xmlns:atom="http://www.w3.org/2005/Atom">'
        "<atom:id>urn:uuid:12-34</atom:id>"
        '<atom:category term="test.thing.bar" />'
        '<atom:category term="original_message_id:56-78" />'
        '<atom:title type="text">test.thing.bar</atom:title>'
        '<atom:content type="test/thing">TEST_CONTENT</atom:content></atom:entry>'
    )


def test_json_entry_escapes_and_round_trips() -> None:
    ev = event(1, display_name='<b>"Tom & Jerry"</b>', launched_at=LAUNCHED)
    entry = atom_entry.render_entry(ev, title="Server", categories=["a", "b"])
    root = ET.fromstring(entry.document)
    assert [c.get("term") for c in root.findall(f"{ATOM}category")] == [
        "a",
        "b",
        "compute.instance.exists.verified",
    ]
    assert root.findtext(f"{ATOM}title") == "Server"
    content = root.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "application/json"
    assert json.loads(content.text or "") == {
        **ev,
        "timestamp": "2015-08-10 00:00:00.000000",
        "launched_at": "2015-08-09 15:21:00.000000",
    }


def test_cuf_xml_matches_the_original() -> None:
    ev = {
        "message_id": "1234-56789",
        "event_type": "test.thing",
        "audit_period_beginning": datetime(2015, 8, 10),
        "audit_period_ending": datetime(2015, 8, 11),
        "launched_at": datetime(2015, 8, 9, 15, 21),
        "instance_id": "98765-4321",
        "state": "active",
        "state_description": "",
        "rax_options": "4",
    }
    assert atom_entry.cuf_xml(ev, {"data_center": "TST1", "region": "TST"}) == (
        '<event xmlns="http://docs.rackspace.com/core/event" '
        'xmlns:nova="http://docs.rackspace.com/event/nova" '
        'version="1" id="1234-56789" resourceId="98765-4321" '
        'resourceName="" dataCenter="TST1" region="TST" '
        'tenantId="" startTime="2015-08-10T00:00:00Z" '
        'endTime="2015-08-11T00:00:00Z" type="USAGE">'
        '<nova:product version="1" '
        'serviceCode="CloudServersOpenStack" '
        'resourceType="SERVER" flavorId="" flavorName="" '
        'status="ACTIVE" osLicenseType="WINDOWS" '
        'bandwidthIn="" bandwidthOut=""/></event>'
    )


@pytest.mark.parametrize(
    ("state", "description", "status"),
    [
        ("active", None, "ACTIVE"),
        ("active", "rebooting_hard", "HARD_REBOOT"),
        ("active", "resize_migrating", "RESIZE"),
        ("resized", "resize_reverting", "REVERT_RESIZE"),
        ("resized", None, "VERIFY_RESIZE"),
        ("stopped", None, "SHUTOFF"),
        ("soft-delete", None, "SOFT_DELETED"),
        ("melted", None, "UNKNOWN"),
    ],
)
def test_cuf_status(state: str, description: str | None, status: str) -> None:
    assert atom_entry.cuf_status(state, description) == status


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (0, ("LINUX", None)),
        ("1", ("RHEL", None)),
        (4 | 8, ("WINDOWS", "MSSQL")),
        (4 | 8 | 32, ("WINDOWS", "MSSQL_WEB")),
        (64 | 1, ("VYATTA", None)),
        (None, ("LINUX", None)),
    ],
)
def test_cuf_license(options: object, expected: tuple[str, str | None]) -> None:
    assert atom_entry.cuf_license(options) == expected


def test_cuf_period_is_clipped_to_the_audit_period() -> None:
    deleted = datetime(2015, 8, 10, 12, tzinfo=UTC)
    ev = {
        "audit_period_beginning": D1,
        "audit_period_ending": D2,
        "launched_at": "2015-08-10T06:00:00Z",
        "deleted_at": deleted,
    }
    assert atom_entry.cuf_period(ev) == (datetime(2015, 8, 10, 6, tzinfo=UTC), deleted)
    # Terminated before it was launched (bad data): start at the period's beginning.
    ev["deleted_at"] = datetime(2015, 8, 10, 1, tzinfo=UTC)
    assert atom_entry.cuf_period(ev)[0] == D1


def test_unrenderable_events_fail_handle_events(feed: Feed) -> None:
    handler, _ = handler_for(feed, content_format="cuf_xml")
    with pytest.raises(HandlerError, match="rax_options"):
        handler.handle_events([event(1, rax_options="lots")], {})
    with pytest.raises(HandlerError, match="no message_id"):
        handler.handle_events([{"event_type": "x"}], {})
    assert feed.posts == []


# ---------------------------------------------------------------- posting


def test_each_matching_event_is_posted_once_in_commit(feed: Feed) -> None:
    handler, _ = handler_for(
        feed, event_types=["compute.instance.exists.*", "!*.warnings"]
    )
    events = [
        event(1, original_message_id="aaaa"),
        event(2, "compute.instance.exists.warnings"),
        event(3, "compute.instance.create.end"),
        event(4, "compute.instance.exists.failed"),
    ]
    assert handler.handle_events(events, {"stream_id": 9}) is events
    assert [e.message_id for e in handler.pending] == [
        events[0]["message_id"],
        events[3]["message_id"],
    ]
    assert feed.posts == []  # nothing before commit
    handler.commit()
    assert [p.entry_id for p in feed.posts] == [
        f"urn:uuid:{events[0]['message_id']}",
        f"urn:uuid:{events[3]['message_id']}",
    ]
    first = feed.posts[0]
    assert first.path == "/feed"
    assert first.headers["Content-Type"] == "application/atom+xml"
    assert "X-Auth-Token" not in first.headers
    root = ET.fromstring(first.body)
    assert [c.get("term") for c in root.findall(f"{ATOM}category")] == [
        "compute.instance.exists.verified",
        "original_message_id:aaaa",
    ]
    assert handler.stats.posted == 2
    assert handler.pending == ()


def test_cuf_entries_are_posted_as_xml(feed: Feed) -> None:
    handler, _ = handler_for(
        feed, content_format="cuf_xml", extra_info={"region": "TST"}
    )
    run(handler, [event(1, audit_period_beginning=D1, audit_period_ending=D2)])
    [post] = feed.posts
    root = ET.fromstring(post.body)
    content = root.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "application/xml"
    cuf = content.find("{http://docs.rackspace.com/core/event}event")
    assert cuf is not None and cuf.get("region") == "TST"
    assert root.findtext(f"{ATOM}title") == "compute.instance.exists.verified.cuf"


def test_rollback_posts_nothing(feed: Feed) -> None:
    handler, _ = handler_for(feed)
    handler.handle_events([event(1)], {})
    handler.rollback()
    handler.commit()
    assert feed.posts == []


def test_a_stream_run_again_gets_409_which_is_fine(feed: Feed) -> None:
    handler, _ = handler_for(feed)
    events = [event(1), event(2)]
    run(handler, events)
    run(handler, events)  # e.g. the worker died after committing
    assert len(feed.posts) == 4
    assert len(feed.entries) == 2
    assert (handler.stats.posted, handler.stats.duplicates) == (2, 2)


def test_5xx_twice_then_201_succeeds(feed: Feed) -> None:
    feed.statuses = [503, 500]
    handler, sleeps = handler_for(feed)
    run(handler, [event(1)])
    assert len(feed.posts) == 3
    assert len(feed.entries) == 1
    assert sleeps == [0.01, 0.02]
    assert (handler.stats.retries, handler.stats.posted) == (2, 1)


def test_persistent_5xx_raises_after_max_attempts(feed: Feed) -> None:
    feed.statuses = [502] * 10
    handler, sleeps = handler_for(feed, max_attempts=5)
    with pytest.raises(HandlerError) as caught:
        run(handler, [event(1), event(2)])
    message = str(caught.value)
    assert feed.url in message
    assert "HTTP 502" in message
    assert "5 attempts" in message
    assert len(feed.posts) == 5  # the second entry is not tried
    assert sleeps == [0.01, 0.02, 0.04, 0.05]  # doubling, capped by max_wait


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_server_raises_after_max_attempts() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/feed"
    handler = AtomPubHandler(url, wait_interval=0, max_attempts=3)
    handler.handle_events([event(1)], {})
    with pytest.raises(HandlerError, match=r"3 attempts.*ConnectionRefused"):
        handler.commit()
    assert handler.stats.retries == 2


def test_a_timeout_is_retried_and_a_409_then_means_delivered(feed: Feed) -> None:
    # The server stores the entry after our 0.1 s timeout; the retry gets 409.
    feed.delays = [0.3]
    handler, sleeps = handler_for(feed, http_timeout=0.1, wait_interval=0.5, max_wait=1)
    run(handler, [event(1)])
    assert len(feed.posts) == 2
    assert len(feed.entries) == 1
    assert sleeps == [0.5]
    assert (handler.stats.posted, handler.stats.duplicates) == (0, 1)


def test_persistent_timeouts_raise(feed: Feed) -> None:
    feed.delays = [0.3, 0.3]
    handler, _ = handler_for(feed, http_timeout=0.1, max_attempts=2)
    with pytest.raises(HandlerError, match=r"2 attempts.*timed out"):
        run(handler, [event(1)])


def test_400_rejects_the_entry_but_posts_the_others_then_raises(feed: Feed) -> None:
    feed.statuses = [400]
    handler, sleeps = handler_for(feed)
    events = [event(1), event(2)]
    with pytest.raises(HandlerError) as caught:
        run(handler, events)
    message = str(caught.value)
    assert "rejected 1 of 2" in message
    assert events[0]["message_id"] in message
    assert "HTTP 400: scripted answer" in message
    assert list(feed.entries) == [f"urn:uuid:{events[1]['message_id']}"]
    assert sleeps == []  # never retried
    assert handler.stats.rejected == 1


def test_redirects_are_not_followed(feed: Feed) -> None:
    feed.statuses = [302]
    handler, _ = handler_for(feed)
    with pytest.raises(HandlerError, match="HTTP 302"):
        run(handler, [event(1)])
    assert [p.path for p in feed.posts] == ["/feed"]


def test_401_without_credentials_raises_at_once(feed: Feed) -> None:
    feed.token = "secret"
    handler, _ = handler_for(feed)
    with pytest.raises(HandlerError, match="401 Unauthorized and no auth_user"):
        run(handler, [event(1), event(2)])
    assert len(feed.posts) == 1


def auth_params(feed: Feed) -> dict[str, Any]:
    return {"auth_user": "stv3", "auth_key": "KEY", "auth_server": feed.auth_url}


def test_token_is_fetched_once_and_refreshed_on_401(feed: Feed) -> None:
    handler, _ = handler_for(feed, **auth_params(feed))
    run(handler, [event(1)])
    assert feed.auth_requests == [
        {"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": "stv3", "apiKey": "KEY"}}}
    ]
    assert feed.posts[0].headers["X-Auth-Token"] == "token-1"
    run(handler, [event(2)])  # the token is kept between streams
    assert len(feed.auth_requests) == 1
    feed.token = "rotated"  # the identity server expired our token
    run(handler, [event(3)])
    assert [p.headers["X-Auth-Token"] for p in feed.posts] == [
        "token-1",
        "token-1",
        "token-1",
        "token-2",
    ]
    assert len(feed.entries) == 3
    assert handler.stats.auth_refreshes == 1


def test_401_with_a_fresh_token_raises(feed: Feed) -> None:
    handler, _ = handler_for(feed, **auth_params(feed))
    feed.statuses = [401, 401]
    with pytest.raises(HandlerError, match="even with a new token"):
        run(handler, [event(1)])
    assert len(feed.auth_requests) == 2


def test_identity_server_refusal_raises(feed: Feed) -> None:
    feed.auth_statuses = [401]
    handler, _ = handler_for(feed, **auth_params(feed))
    with pytest.raises(HandlerError, match="refused the credentials of 'stv3'"):
        run(handler, [event(1)])
    assert feed.posts == []


def test_identity_server_5xx_is_retried(feed: Feed) -> None:
    feed.auth_statuses = [503]
    handler, sleeps = handler_for(feed, **auth_params(feed))
    run(handler, [event(1)])
    assert len(feed.auth_requests) == 2
    assert sleeps == [0.01]
    assert len(feed.entries) == 1
