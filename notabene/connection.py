# mypy: disallow-untyped-calls=False
# (kombu's annotations are partial; every function of ours is still annotated.)
"""Broker connections from URLs.

Supported URLs (anything else is a :class:`~stacktach.exceptions.ConfigError`):

``amqp://user:password@host:5672/vhost``
    RabbitMQ through py-amqp (``amqps://`` for TLS). The default vhost ``/`` is
    written ``amqp://user:password@host:5672//``.
``filesystem:///var/lib/stacktach/broker``
    The embedded broker: everything after ``filesystem://`` is a folder (absolute
    with a third slash, relative to the working directory otherwise). Processes
    that use the same folder reach each other. Under it notabene creates
    ``data/`` (one file per message), ``control/`` (exchange binding tables),
    ``inflight/`` (messages delivered but not yet acked, per consumer) - see
    :mod:`notabene.transport.filesystem`. The folder must be on a local
    filesystem (it relies on ``flock`` and atomic ``rename``).
``memory://``
    In-process only; for tests (:mod:`notabene.transport.memory`: unacked
    messages return to their queue when a consumer closes, as on RabbitMQ).

RabbitMQ cluster nodes can be listed for failover, separated by ``;``:
``amqp://u:p@rabbit1//;amqp://u:p@rabbit2//`` - each reconnection attempt moves
to the next node (``?failover_strategy=shuffle`` picks them in random order
instead of ``round-robin``, the default; spread many consumers over the nodes
with it). Query parameters given on any URL of the list apply to the whole list.

Query parameters become options: ``heartbeat`` and ``connect_timeout`` go to
:class:`Connection`, every other one becomes a transport option, with
numbers and ``true``/``false`` converted, e.g. ``filesystem:///srv/b?polling_interval=0.05``
or ``amqp://h//?heartbeat=30``.

:func:`connect` does no I/O; a :class:`Connection` connects on first use.
:func:`establish` connects with bounded exponential backoff and turns failures
into :class:`~notabene.exceptions.BrokerUnavailable` (retry later) or
:class:`~notabene.exceptions.BrokerConfigError` (credentials, vhost, arguments).
"""

from __future__ import annotations

import difflib
import logging
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from kombu.connection import Connection
from kombu.exceptions import OperationalError

from notabene import amqp_transport
from notabene.exceptions import (
    BrokerConfigError,
    BrokerUnavailable,
    PublishNotConfirmed,
)
from notabene.retry import Backoff
from notabene.transport.filesystem import Transport as FilesystemTransport
from notabene.transport.memory import Transport as MemoryTransport
from stacktach.exceptions import ConfigError

__all__ = [
    "SCHEMES",
    "amqp_url",
    "connect",
    "establish",
    "filesystem_folders",
    "is_config_error",
    "is_recoverable",
    "redact_url",
]

LOG = logging.getLogger(__name__)

#: URL schemes notabene accepts.
SCHEMES = ("amqp", "amqps", "pyamqp", "filesystem", "memory")

#: AMQP reply codes that mean "the configuration is wrong", not "try again":
#: 402 INVALID_PATH, 403 ACCESS_REFUSED, 406 PRECONDITION_FAILED,
#: 530 NOT_ALLOWED (unknown vhost), 540 NOT_IMPLEMENTED.
CONFIG_REPLY_CODES = frozenset({402, 403, 406, 530, 540})

_CONNECTION_KEYS: dict[str, Any] = {
    "heartbeat": float,
    "connect_timeout": float,
    "failover_strategy": str,
}
#: kombu's names for the order in which failover URLs are tried.
FAILOVER_STRATEGIES = ("round-robin", "shuffle")

# Poll intervals of the virtual transports: kombu's default of 1 s would add up
# to a second of latency to every batch.
_DEFAULT_POLLING = {"filesystem": 0.05, "memory": 0.01}


def redact_url(url: str) -> str:
    """Return ``url`` with passwords replaced by ``***`` (for logs and errors).

    Failover lists (``amqp://h1//;amqp://h2//``) are redacted URL by URL.
    """
    if ";" in url:
        return ";".join(redact_url(part) for part in url.split(";"))
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable broker URL>"
    if password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def amqp_url(
    host: str = "localhost",
    port: int = 5672,
    user: str = "guest",
    password: str = "guest",
    vhost: str = "/",
    *,
    ssl: bool = False,
) -> str:
    """Build a broker URL from separate settings (the older ``yagi.conf`` keys).

    User, password and vhost are percent-encoded, so any characters work;
    ``vhost="/"`` gives the usual ``...:5672//``.
    """
    scheme = "amqps" if ssl else "amqp"
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    path = "/" if vhost == "/" else quote(vhost, safe="")
    return f"{scheme}://{credentials}@{host}:{port}/{path}"


def filesystem_folders(root: str | os.PathLike[str]) -> dict[str, str]:
    """Return the transport options for a filesystem broker rooted at ``root``."""
    base = os.path.abspath(os.path.expanduser(os.fspath(root)))
    data = os.path.join(base, "data")
    return {
        "data_folder_in": data,
        "data_folder_out": data,
        "control_folder": os.path.join(base, "control"),
        "inflight_folder": os.path.join(base, "inflight"),
    }


def _coerce(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigError(
            f"broker URL {redact_url(url)!r} has no scheme; expected one of "
            f"{', '.join(s + '://' for s in SCHEMES)}"
        )
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        close = difflib.get_close_matches(scheme, SCHEMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unsupported broker URL scheme {scheme!r}{hint} "
            f"(supported: {', '.join(SCHEMES)})"
        )
    return scheme


def connect(url: str, **transport_options: Any) -> Connection:
    """Build a :class:`Connection` for ``url`` (no network or disk I/O yet).

    ``transport_options`` are kombu transport options; they override options
    given in the URL's query string (``heartbeat`` and ``connect_timeout`` are
    passed to :class:`kombu.Connection` instead). Raises :class:`ConfigError` for an
    unsupported scheme or a ``filesystem://`` URL without a folder.
    """
    scheme = _scheme(url)
    bases, queries = [], []
    for part in url.split(";"):
        base_part, _, query_part = part.strip().partition("?")
        if base_part:
            _scheme(base_part)
            bases.append(base_part)
        queries.append(query_part)
    base = ";".join(bases)
    conn_kwargs: dict[str, Any] = {}
    options: dict[str, Any] = {}
    pairs = [p for q in queries for p in parse_qsl(q, keep_blank_values=True)]
    for key, value in pairs:
        if key in _CONNECTION_KEYS:
            conn_kwargs[key] = _CONNECTION_KEYS[key](value)
        else:
            options[key] = _coerce(value)
    for key, value in transport_options.items():
        if key in _CONNECTION_KEYS:
            conn_kwargs[key] = _CONNECTION_KEYS[key](value)
        else:
            options[key] = value
    strategy = conn_kwargs.get("failover_strategy")
    if strategy is not None and strategy not in FAILOVER_STRATEGIES:
        raise ConfigError(
            f"broker URL {redact_url(url)!r}: failover_strategy={strategy!r} is "
            f"not one of {', '.join(FAILOVER_STRATEGIES)}"
        )
    if scheme in _DEFAULT_POLLING:
        options.setdefault("polling_interval", _DEFAULT_POLLING[scheme])

    if scheme == "filesystem":
        folder = base[len("filesystem://") :]
        if folder:
            for key, value in filesystem_folders(folder).items():
                options.setdefault(key, value)
        elif "data_folder_in" not in options:
            raise ConfigError(
                "filesystem:// needs a folder, e.g. "
                "filesystem:///var/lib/stacktach/broker"
            )
        return Connection(
            transport=FilesystemTransport, transport_options=options, **conn_kwargs
        )
    if scheme == "memory":
        return Connection(
            transport=MemoryTransport, transport_options=options, **conn_kwargs
        )
    # amqp:// reads through notabene.amqp_transport; amqps:// (TLS) is kombu's own.
    transport = amqp_transport.Transport if scheme in ("amqp", "pyamqp") else None
    # kombu reads the query itself when it is left on the URL; we already have it.
    return Connection(
        base, transport=transport, transport_options=options, **conn_kwargs
    )


def is_config_error(exc: BaseException) -> bool:
    """True if ``exc`` is the broker refusing our configuration (CONFIG_REPLY_CODES)."""
    return getattr(exc, "code", None) in CONFIG_REPLY_CODES


def is_recoverable(conn: Connection, exc: BaseException) -> bool:
    """True if ``exc`` means "broker away, try again", not a bug or bad config."""
    if is_config_error(exc):
        return False
    if isinstance(exc, PublishNotConfirmed):
        return True
    kinds: tuple[type[BaseException], ...] = (
        *conn.recoverable_connection_errors,
        *conn.recoverable_channel_errors,
        *conn.connection_errors,
        *conn.channel_errors,
        OperationalError,
        OSError,
        socket.timeout,
    )
    return isinstance(exc, kinds)


def config_error(url: str, exc: BaseException, what: str) -> BrokerConfigError:
    """Wrap a broker refusal in :class:`BrokerConfigError` naming ``what`` failed."""
    hint = _CONFIG_HINTS.get(getattr(exc, "code", None), "")
    text = " ".join(str(exc).split())
    return BrokerConfigError(
        f"broker refused {what}: {text}{hint}", source=redact_url(url)
    )


_CONFIG_HINTS: dict[object, str] = {
    403: " (check the user and password in the broker URL)",
    530: " (check the vhost in the broker URL: it must exist and the user may use it)",
    406: " (a queue or exchange exists with other arguments: match or delete it)",
}


def discard(conn: Connection | None) -> None:
    """Drop ``conn`` without a network round trip (it may already be dead)."""
    if conn is None:
        return
    try:
        conn.collect()
    except Exception:
        LOG.debug("error while discarding a broker connection", exc_info=True)


def establish(
    url: str,
    transport_options: dict[str, Any] | None = None,
    *,
    backoff: Backoff | None = None,
    stop: threading.Event | None = None,
    deadline: float | None = None,
) -> Connection:
    """Connect to ``url``, retrying with ``backoff``; return the open connection.

    Raises :class:`BrokerUnavailable` when the policy is exhausted, when the next
    attempt would start after ``deadline`` (a :func:`time.monotonic` value; a
    daemon's bounded start-up) or ``stop`` is set while waiting, and
    :class:`BrokerConfigError` at once when the broker refuses the credentials
    or the vhost.
    """
    attempts = (backoff or Backoff()).attempts(stop=stop)
    conn = connect(url, **(transport_options or {}))
    while True:
        try:
            # No kombu-level retry: the backoff policy here decides.
            conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)
            return conn
        except Exception as exc:
            if is_config_error(exc):
                discard(conn)
                raise config_error(url, exc, "the connection") from exc
            if not is_recoverable(conn, exc):
                discard(conn)
                raise
            delay = attempts.failed()
            if (
                delay is not None
                and deadline is not None
                and time.monotonic() + delay > deadline
            ):
                delay = None
            if delay is not None:
                LOG.warning(
                    "broker %s unreachable (%s: %s); attempt %d, retrying in %.1fs",
                    redact_url(url),
                    type(exc).__name__,
                    exc,
                    attempts.failures,
                    delay,
                )
            if delay is None or not attempts.wait(delay):
                discard(conn)
                raise BrokerUnavailable(
                    redact_url(url), attempts.failures, exc
                ) from exc
            conn.maybe_switch_next()  # next failover URL, if any
