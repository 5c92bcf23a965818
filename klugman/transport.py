"""One HTTP request to the API and its answer: query encoding, JSON, error mapping.

* A query value that is a :class:`~datetime.datetime` is sent as ISO 8601 UTC
  (:func:`iso_utc`), a boolean as ``true``/``false``; None is not sent.
* A 2xx answer in ``ok`` is decoded JSON (:func:`object_hook`: typed datetimes
  only), None for 204 or an empty body; anything else raises the
  :mod:`klugman.errors` class of its status, with the server's ``description``.
* No connection, a timeout, an unknown host: :class:`~klugman.errors.Unreachable`;
  not HTTP, or not JSON where JSON is due: :class:`~klugman.errors.ServerError`.
* One connection per request (gunicorn's sync workers close it anyway), no
  retries. The token goes in ``Authorization: Bearer`` and nowhere else - not in
  a message, not in a log line.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from klugman.errors import NotFound, ServerError, Unreachable, for_status
from stacktach.exceptions import TimestampError
from stacktach.timeutils import parse_timestamp

__all__ = ["Transport", "iso_utc", "object_hook", "query_text"]

LOG = logging.getLogger("klugman.client")


def iso_utc(value: datetime) -> str:
    """``value`` as ISO 8601 UTC, ``2026-12-01T00:00:00Z`` (``.ffffff`` when not 0).

    The shortest form every ISO 8601 parser accepts; a naive value is taken as UTC.
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def query_text(value: object) -> str:
    """A query-string value as the server reads it."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def object_hook(obj: dict[str, Any]) -> Any:
    """Decode the API's typed datetimes; leave every other object (and tag) as is.

    Only the datetime tag, so that what a client decodes does not depend on which
    other decoders happen to be registered with :mod:`stacktach.jsonutil` in the
    process; re-encoding with :func:`stacktach.jsonutil.dumps` gives the
    server's JSON back.
    """
    if obj.get("__type__") == "datetime" and isinstance(obj.get("datetime"), str):
        try:
            return parse_timestamp(obj["datetime"])
        except TimestampError:
            return obj
    return obj


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class Transport:
    """Requests to the API at ``url`` (``ValueError`` for a URL that is not http(s))."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.token = token or None
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        what: str | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """The decoded answer to ``method path?params``; ``what`` names a 404."""
        query = {k: query_text(v) for k, v in (params or {}).items() if v is not None}
        target = path + ("?" + urlencode(query, quote_via=quote) if query else "")
        LOG.debug("%s %s%s", method, self.url, target)
        status, reason, data = self._send(method, self._prefix + target)
        LOG.debug("HTTP %s %s, %d bytes", status, reason, len(data))
        if status in ok:
            if status == 204 or not data.strip():
                return None
            return self._decode(data, path, status)
        body = self._decode(data, path, status, strict=False)
        title = description = None
        if isinstance(body, dict):
            title = _str_or_none(body.get("title"))
            description = _str_or_none(body.get("description"))
        cls = for_status(status)
        if description:
            message = description
        elif cls is NotFound and what:
            message = f"{what} not found"
        else:
            message = title or f"HTTP {status} {reason}".strip()
        raise cls(
            message, status=status, title=title, description=description, body=body
        )

    def _send(self, method: str, target: str) -> tuple[int, str, bytes]:
        headers = {"Accept": "application/json", "User-Agent": "klugman"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        connection_class = (
            http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        )
        conn = connection_class(self._host, self._port, timeout=self.timeout)
        try:
            conn.request(method, target, headers=headers)
            response = conn.getresponse()
            return response.status, response.reason, response.read()
        except TimeoutError:
            raise Unreachable(
                f"{self.url}: no answer within {self.timeout:g} s"
            ) from None
        except socket.gaierror as exc:
            raise Unreachable(f"{self.url}: unknown host ({exc.strerror})") from None
        except ConnectionRefusedError:
            raise Unreachable(
                f"{self.url}: connection refused (is quince-api running there?)"
            ) from None
        except http.client.RemoteDisconnected:
            raise Unreachable(f"{self.url}: the server closed the connection") from None
        except OSError as exc:
            raise Unreachable(f"{self.url}: {exc.strerror or exc}") from None
        except http.client.HTTPException as exc:
            raise ServerError(
                f"{self.url}: not an HTTP answer ({type(exc).__name__})"
            ) from None
        finally:
            conn.close()

    def _decode(self, data: bytes, path: str, status: int, strict: bool = True) -> Any:
        try:
            return json.loads(data, object_hook=object_hook)
        except ValueError:
            if not strict:
                return None
            raise ServerError(
                f"{path}: HTTP {status} but the answer is not JSON "
                f"(is {self.url} the StackTach API?)"
            ) from None
