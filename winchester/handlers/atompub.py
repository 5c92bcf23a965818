"""The ``atompub`` pipeline handler: POST matching events to an Atom collection.

Guarantees (see :mod:`winchester.handlers.base` for the contract):

* :meth:`AtomPubHandler.handle_events` picks the events whose ``event_type``
  matches ``event_types`` and renders their entries (:mod:`atom_entry`); no I/O.
  An event it cannot render (no ``message_id``, a value JSON cannot hold, a bad
  time for CUF) fails the run before anything is posted.
* :meth:`AtomPubHandler.commit` POSTs each entry, in order. The entry id is
  ``urn:uuid:<message_id>``, so a stream run again posts the same ids and the
  server answers 409 for those it has: 409 counts as delivered (idempotence).
* 2xx: posted. 409: already there. 401 with ``auth_*`` set: fetch a new token
  (Rackspace Identity API-key auth) and retry, once per entry.
* Connection errors, timeouts, 5xx, 408 and 429 are retried, waiting
  ``wait_interval`` seconds, then twice as long each time up to ``max_wait``,
  for ``max_attempts`` attempts in all; then :class:`HandlerError` names the URL
  and the last error, and the commit stops (the original retried forever and
  blocked its worker). The worst case before giving up, for one entry, is
  :meth:`AtomPubHandler.worst_case_seconds`: ``max_attempts * http_timeout``
  (twice that with ``auth_*``: a token request per attempt) plus the waits -
  1,050 s with the defaults. The worker renews its leases meanwhile;
  ``check-config`` warns when it exceeds ``lease_seconds``.
* Any other answer (400, 403, 404, 3xx ...) rejects that entry for good: the
  remaining entries are still posted, then :class:`HandlerError` lists the
  rejected ones, so the stream goes to error and nothing is lost silently (the
  original logged 400 and went on). Once the cause is fixed, resetting the
  stream posts again; the entries already there answer 409.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any
from urllib.parse import urlsplit

from stacktach.exceptions import ConfigError
from winchester.handlers import atom_entry
from winchester.handlers.atom_entry import Entry
from winchester.handlers.base import EventDict, HandlerError, PipelineHandler

__all__ = ["AtomPubHandler", "AtomPubStats", "Entry"]

LOG = logging.getLogger(__name__)

_NAME = "atompub"
USER_AGENT = "StackTach-Winchester"
#: Error statuses worth retrying besides 5xx.
RETRY_STATUSES = frozenset({408, 429})
#: How much of a response body is read (for error messages).
_MAX_BODY = 64 * 1024


@dataclass(slots=True)
class AtomPubStats:
    """What the handler has done since it was built (all commits)."""

    posted: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    auth_refreshes: int = 0


@dataclass(frozen=True, slots=True)
class _Auth:
    user: str
    key: str
    server: str


class _Transient(Exception):
    """A failure worth retrying (connection, timeout, 5xx)."""


class _Rejected(Exception):
    """The server refused one entry for good."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Do not follow redirects: urllib would turn the POST into a GET."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _config_error(key: str, message: str) -> ConfigError:
    return ConfigError(f"{_NAME} handler: {message}", key=f"params.{key}")


def _http_url(key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _config_error(key, f"expected an http(s) URL, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _config_error(key, f"expected an http(s) URL, got {value!r}")
    if parts.username is not None or parts.password is not None:
        raise _config_error(
            key, "credentials belong in auth_user/auth_key, not in the URL"
        )
    return value


def _strings(key: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _config_error(key, f"expected a list of strings, got {value!r}")


def _text(key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise _config_error(key, f"expected a string, got {value!r}")


def _seconds(key: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _config_error(key, f"expected a number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise _config_error(key, f"must be {'> 0' if positive else '>= 0'}")
    return float(value)


def _excerpt(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return f": {text[:200]}" if text else ""


class AtomPubHandler(PipelineHandler):
    """POST each matching event as an Atom entry (see the module docstring).

    Parameters (the original's, plus ``max_attempts``):

    ``url`` (required)
        The Atom collection to POST entries to (``http://`` or ``https://``).
    ``event_types`` (default: every type)
        Glob patterns (``compute.instance.exists.*``) of the event types to
        post; a pattern starting with ``!`` excludes. Only exclusions: every
        other type is posted.
    ``content_format`` (default ``json``)
        ``json``: the event as JSON (``application/json``). ``cuf_xml``: a
        Rackspace CUF usage ``<event>`` (``application/xml``), and ``.cuf`` is
        appended to the event type in the entry's title and categories.
    ``extra_info``
        Values for the CUF attributes that are not traits (``data_center``,
        ``region``); they override traits of the same name.
    ``title``
        Title of every entry (default: the event type).
    ``categories``
        Extra category terms, before the event type and
        ``original_message_id:<id>`` (added when the event has one).
    ``auth_user``, ``auth_key``, ``auth_server``
        Rackspace Identity API-key credentials and the identity server's token
        URL (``.../v2.0/tokens``); all three or none. The token is sent as
        ``X-Auth-Token``, kept for later commits, and renewed on a 401.
    ``wait_interval`` (30), ``max_wait`` (600), ``max_attempts`` (5)
        Retry policy: first wait, longest wait (seconds), attempts in all.
    ``http_timeout`` (120)
        Seconds to wait for the server to connect or answer, per attempt.

    ``sleep`` (not a YAML parameter) replaces :func:`time.sleep` for the waits.
    Raises :class:`~stacktach.exceptions.ConfigError` for a missing or invalid
    parameter and :class:`TypeError` for an unknown one.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        event_types: str | Sequence[str] | None = None,
        extra_info: Mapping[str, Any] | None = None,
        content_format: str = "json",
        title: str | None = None,
        categories: str | Sequence[str] | None = None,
        auth_user: str = "",
        auth_key: str = "",
        auth_server: str = "",
        wait_interval: float = 30,
        max_wait: float = 600,
        http_timeout: float = 120,
        max_attempts: int = 5,
        sleep: Callable[[float], object] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.url = _http_url("url", url)
        self.included_types, self.excluded_types = atom_entry.split_patterns(
            _strings("event_types", event_types)
        )
        if content_format not in atom_entry.CONTENT_FORMATS:
            raise _config_error(
                "content_format",
                f"unknown content format {content_format!r}; expected one of "
                f"{', '.join(atom_entry.CONTENT_FORMATS)}",
            )
        self.content_format = content_format
        if extra_info is not None and not isinstance(extra_info, Mapping):
            raise _config_error("extra_info", f"expected a mapping, got {extra_info!r}")
        self.extra_info: dict[str, Any] = dict(extra_info or {})
        self.title = None if title is None else _text("title", title)
        self.categories = _strings("categories", categories)
        self._render = functools.partial(
            atom_entry.render_entry,
            content_format=content_format,
            extra_info=self.extra_info,
            title=self.title,
            categories=self.categories,
        )
        self._auth = self._auth_settings(auth_user, auth_key, auth_server)
        self.wait_interval = _seconds("wait_interval", wait_interval)
        self.max_wait = _seconds("max_wait", max_wait)
        self.http_timeout = _seconds("http_timeout", http_timeout, positive=True)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise _config_error(
                "max_attempts", f"expected a number, got {max_attempts!r}"
            )
        if max_attempts < 1:
            raise _config_error("max_attempts", "must be >= 1")
        self.max_attempts = max_attempts
        self._sleep: Callable[[float], object] = time.sleep if sleep is None else sleep
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._token: str | None = None
        self._pending: list[Entry] = []
        self._stream_id: object = None
        self.stats = AtomPubStats()

    @classmethod
    def worst_case_seconds(cls, params: Mapping[str, Any]) -> float:
        """How long one entry can take before the handler gives up (seconds).

        Every attempt waits ``http_timeout`` (twice with ``auth_*``: the token
        request may time out too), and the waits between the ``max_attempts``
        attempts double from ``wait_interval`` up to ``max_wait``. Raises
        :class:`~stacktach.exceptions.ConfigError` for a bad value.
        """
        wait_interval = _seconds("wait_interval", params.get("wait_interval", 30))
        max_wait = _seconds("max_wait", params.get("max_wait", 600))
        timeout = _seconds(
            "http_timeout", params.get("http_timeout", 120), positive=True
        )
        attempts = params.get("max_attempts", 5)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise _config_error(
                "max_attempts", f"expected an integer >= 1, got {attempts!r}"
            )
        per_attempt = timeout * (2 if params.get("auth_server") else 1)
        waits = sum(
            min(max_wait, wait_interval * 2.0 ** min(n - 1, 32))
            for n in range(1, attempts)
        )
        return attempts * per_attempt + waits

    @staticmethod
    def _auth_settings(user: object, key: object, server: object) -> _Auth | None:
        given = {"auth_user": user, "auth_key": key, "auth_server": server}
        values = {name: _text(name, value) for name, value in given.items()}
        missing = [name for name, value in values.items() if not value]
        if len(missing) == len(values):
            return None
        if missing:
            raise _config_error(
                missing[0], "auth_user, auth_key and auth_server go together"
            )
        server = _http_url("auth_server", values["auth_server"])
        return _Auth(values["auth_user"], values["auth_key"], server)

    @property
    def pending(self) -> tuple[Entry, ...]:
        """The entries the next :meth:`commit` posts."""
        return tuple(self._pending)

    def match_type(self, event_type: str) -> bool:
        """True if ``event_type`` is included and not excluded by ``event_types``."""
        return atom_entry.type_matches(
            event_type, self.included_types, self.excluded_types
        )

    # ------------------------------------------------------------------ run

    def handle_events(
        self, events: list[EventDict], env: dict[str, Any]
    ) -> list[EventDict]:
        """Render the entries of the matching events; return ``events`` unchanged.

        Raises :class:`HandlerError` for a matching event that cannot be rendered.
        """
        self._pending = []
        self._stream_id = env.get("stream_id")
        pending = []
        for event in events:
            if self.match_type(str(event.get("event_type", ""))):
                try:
                    pending.append(self._render(event))
                except ValueError as exc:
                    raise HandlerError(f"{_NAME}: {exc}") from exc
        self._pending = pending
        LOG.debug(
            "stream %s: %d of %d events to post to %s",
            self._stream_id,
            len(self._pending),
            len(events),
            self.url,
        )
        return events

    def commit(self) -> None:
        """POST every pending entry (see the module docstring for the policy).

        Raises :class:`HandlerError` when the server stays unreachable or failing
        (at once), refuses the credentials, or rejected entries (after posting
        the others).
        """
        entries, self._pending = self._pending, []
        if not entries:
            return
        posted = duplicates = 0
        rejected: list[str] = []
        for entry in entries:
            try:
                created = self._deliver(entry)
            except _Rejected as exc:
                self.stats.rejected += 1
                rejected.append(f"{entry.message_id} {exc}")
                LOG.error(
                    "stream %s: %s rejected the Atom entry of %s event %s: %s",
                    self._stream_id,
                    self.url,
                    entry.event_type,
                    entry.message_id,
                    exc,
                )
                continue
            if created:
                posted += 1
            else:
                duplicates += 1
        LOG.info(
            "stream %s: %d Atom entries posted to %s, %d already there, %d rejected",
            self._stream_id,
            posted,
            self.url,
            duplicates,
            len(rejected),
        )
        if rejected:
            more = f" and {len(rejected) - 3} more" if len(rejected) > 3 else ""
            raise HandlerError(
                f"{self.url} rejected {len(rejected)} of {len(entries)} Atom "
                f"entries: {'; '.join(rejected[:3])}{more}"
            )

    def rollback(self) -> None:
        """Forget the pending entries; nothing is posted."""
        self._pending = []

    # ------------------------------------------------------------------ HTTP

    def _delay(self, failures: int) -> float:
        """The wait after ``failures`` consecutive failures (1 or more)."""
        return min(self.max_wait, self.wait_interval * 2.0 ** min(failures - 1, 32))

    def _deliver(self, entry: Entry) -> bool:
        """POST one entry; True if created, False if the server already had it."""
        failures = 0
        refreshed = False
        while True:
            try:
                status, body = self._post(entry.document)
            except _Transient as exc:
                problem = str(exc)
            else:
                if 200 <= status < 300:
                    self.stats.posted += 1
                    return True
                if status == 409:
                    self.stats.duplicates += 1
                    LOG.debug("%s already has entry %s", self.url, entry.message_id)
                    return False
                if status == 401:
                    if self._auth is None:
                        raise HandlerError(
                            f"{self.url} answered 401 Unauthorized and no "
                            "auth_user/auth_key/auth_server is configured"
                        )
                    if refreshed:
                        raise HandlerError(
                            f"{self.url} answered 401 Unauthorized even with a "
                            f"new token from {self._auth.server}"
                        )
                    LOG.info("token refused by %s; authenticating again", self.url)
                    refreshed = True
                    self._token = None
                    self.stats.auth_refreshes += 1
                    continue
                if status < 500 and status not in RETRY_STATUSES:
                    raise _Rejected(f"HTTP {status}{_excerpt(body)}")
                problem = f"HTTP {status}{_excerpt(body)}"
            failures += 1
            if failures >= self.max_attempts:
                raise HandlerError(
                    f"could not POST the Atom entry of {entry.message_id} to "
                    f"{self.url} in {failures} attempts; last error: {problem}"
                )
            delay = self._delay(failures)
            self.stats.retries += 1
            LOG.warning(
                "POST of entry %s to %s failed (%s), attempt %d of %d; "
                "retrying in %.1fs",
                entry.message_id,
                self.url,
                problem,
                failures,
                self.max_attempts,
                delay,
            )
            self._sleep(delay)

    def _post(self, document: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/atom+xml", "User-Agent": USER_AGENT}
        if self._auth is not None:
            if self._token is None:
                self._token = self._authenticate(self._auth)
            headers["X-Auth-Token"] = self._token
        return self._request(self.url, document, headers)

    def _authenticate(self, auth: _Auth) -> str:
        """Get a token from the identity server (Rackspace API-key credentials)."""
        credentials = {"username": auth.user, "apiKey": auth.key}
        body = json.dumps({"auth": {"RAX-KSKEY:apiKeyCredentials": credentials}})
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        LOG.debug("authenticating %s at %s", auth.user, auth.server)
        status, answer = self._request(auth.server, body.encode(), headers)
        if status >= 500 or status in RETRY_STATUSES:
            raise _Transient(f"identity server {auth.server}: HTTP {status}")
        if not 200 <= status < 300:
            raise HandlerError(
                f"identity server {auth.server} refused the credentials of "
                f"{auth.user!r}: HTTP {status}{_excerpt(answer)}"
            )
        try:
            token = json.loads(answer)["access"]["token"]["id"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise HandlerError(
                f"identity server {auth.server} answered without access.token.id"
            )
        return token

    def _request(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """POST ``body``; return the status and (the start of) the response body.

        Raises :class:`_Transient` for connection errors and timeouts.
        """
        request = urllib.request.Request(
            url, data=body, headers=dict(headers), method="POST"
        )
        try:
            with self._opener.open(request, timeout=self.http_timeout) as response:
                return int(response.status), response.read(_MAX_BODY)
        except urllib.error.HTTPError as exc:
            with exc:
                try:
                    answer = exc.read(_MAX_BODY)
                except (OSError, http.client.HTTPException):
                    answer = b""
            return exc.code, answer
        except urllib.error.URLError as exc:
            reason = exc.reason
            kind = type(reason).__name__ if isinstance(reason, BaseException) else ""
            raise _Transient(f"{kind}: {reason}" if kind else str(reason)) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
