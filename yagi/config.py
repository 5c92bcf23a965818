"""``yagi.conf``: the original INI format, validated strictly.

Sections and keys (anything else is an error naming the file, section and key;
sections of the original's other handlers are accepted and ignored, with a
warning):

``[global]``          ``update_timer`` (seconds between statistics lines, 300),
                      ``deployment`` (region/cell name recorded on every event and
                      archive record; default: the host name), ``verbose``, ``debug``
``[rabbit_broker]``   ``url`` (a broker URL), or the original's ``host``, ``port``,
                      ``user``, ``password``, ``vhost``, ``ssl``; ``reconnect_delay``,
                      ``max_wait``, ``poll_delay``, ``max_connection_age`` and
                      ``exchange_name`` are accepted for compatibility, with a
                      warning that they are not used
``[consumers]``       ``queues``: comma-separated queue names
``[consumer:<queue>]`` ``apps`` (handler chain), ``exchange``, ``exchange_type``,
                      ``routing_key``, ``durable``, ``auto_delete``,
                      ``exchange_durable`` (default: ``durable``), ``max_messages``
                      (batch size, per queue), ``max_wait`` (seconds a batch may
                      wait to fill), ``prefetch``, ``queue_type`` (``quorum``),
                      ``deployment``
``[filters]``, ``[exclude_filters]``, ``[discard_filters]``
                      ``<handler> = event_type, event_type`` (globs); a discarded
                      notification is acked without being processed
``[winchester]``      ``config_file`` (``[winchester:<queue>]`` overrides per queue)
``[shoebox]``         archive settings (``[shoebox:<queue>]`` overrides): see
                      :mod:`yagi.handlers.archive`
``[logging]``         ``logfile``, ``default_level``, ``config_file``
``[event_worker]``    ``pidfile``, ``daemonize``, ``event_driver`` (accepted)

Per-queue settings take effect per queue or are refused: one process has one
broker connection and one batch loop, so ``max_wait`` and ``prefetch`` must be
the same in every ``[consumer:<queue>]`` of a config (an error names the
section and key that differ; run one yagi-event per queue for different
values); ``max_messages`` is honoured per queue (a queue's messages are handled
in pieces of at most its ``max_messages``). Keys of the original that this
yagi-event cannot honour are errors saying what to use instead:
``[consumer:*] exchange_auto_delete = true`` and ``filters`` (use the
``[filters]`` section), ``[shoebox*] roll_checker`` (use ``roll_size_mb`` and
``roll_minutes``), ``wrap_payload_with_region = true``, ``wrap_region`` and
``wrap_cell`` (every record's metadata holds ``deployment`` instead).
"""

from __future__ import annotations

import configparser
import difflib
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import notabene
from stacktach.exceptions import ConfigError

__all__ = ["ConsumerConfig", "YagiConfig", "load", "shoebox_number"]

LOG = logging.getLogger(__name__)

KNOWN: dict[str, set[str]] = {
    "global": {"verbose", "debug", "update_timer", "deployment"},
    "event_worker": {"pidfile", "daemonize", "event_driver"},
    "rabbit_broker": {
        "url",
        "host",
        "port",
        "user",
        "password",
        "vhost",
        "ssl",
        "poll_delay",
        "reconnect_delay",
        "max_wait",
        "max_connection_age",
        "exchange_name",
    },
    "consumers": {"queues"},
    "consumer": {
        "apps",
        "exchange",
        "exchange_type",
        "routing_key",
        "durable",
        "auto_delete",
        "exchange_durable",
        "exchange_auto_delete",
        "max_messages",
        "max_wait",
        "prefetch",
        "queue_type",
        "deployment",
        "filters",
    },
    "filters": set(),  # any handler name
    "exclude_filters": set(),
    "discard_filters": set(),
    "winchester": {"config_file"},
    "shoebox": {
        "working_directory",
        "destination_folder",
        "filename_template",
        "roll_manager",
        "roll_size_mb",
        "roll_minutes",
        "format",
        "callback",
        "callbacks",
        "roll_checker",
        "wrap_payload_with_region",
        "wrap_region",
        "wrap_cell",
        "reject_folder",
    },
    "logging": {"logfile", "default_level", "config_file"},
    "stats": {"enabled", "host", "port", "failure", "elapsed", "messages_sent"},
}
#: Sections of the original's other handlers: accepted, ignored, warned about.
IGNORED = {
    "oahu",
    "event_feed",
    "persistence",
    "hub",
    "atompub",
    "cufpub",
    "elasticsearch",
    "stacktach",
    "handler_auth",
    "nova",
    "filter",
}
_PER_QUEUE = {"consumer", "winchester", "shoebox"}
#: The original's broker keys this consumer has no use for (warned about).
_COMPAT_ONLY = (
    "poll_delay",
    "reconnect_delay",
    "max_wait",
    "max_connection_age",
    "exchange_name",
)
_OPEN_KEYS = {"filters", "exclude_filters", "discard_filters"}


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """One ``[consumer:<queue>]``."""

    queue: str
    apps: tuple[str, ...]
    exchange: str
    exchange_type: str = "topic"
    routing_key: str = ""
    durable: bool = True
    auto_delete: bool = False
    max_messages: int = 100
    max_wait: float = 0.5
    prefetch: int | None = None
    queue_type: str | None = None
    deployment: str = ""
    exchange_durable: bool | None = None

    def queue_spec(self) -> notabene.QueueSpec:
        """The queue (and its exchange and binding) as notabene declares it."""
        return notabene.QueueSpec(
            name=self.queue,
            exchange=self.exchange,
            routing_key=self.routing_key,
            exchange_type=self.exchange_type,
            durable=self.durable,
            auto_delete=self.auto_delete,
            exchange_durable=self.exchange_durable,
            arguments={"x-queue-type": self.queue_type} if self.queue_type else {},
        )


@dataclass(slots=True)
class YagiConfig:
    """A validated yagi.conf."""

    source: str
    parser: configparser.RawConfigParser
    broker_url: str
    consumers: list[ConsumerConfig]
    update_timer: float = 300.0
    deployment: str = field(default_factory=socket.gethostname)

    def section(self, name: str, queue: str) -> dict[str, str]:
        """``[name]`` with ``[name:<queue>]`` over it (a handler's settings)."""
        values: dict[str, str] = {}
        for section in (name, f"{name}:{queue}"):
            if self.parser.has_section(section):
                values.update(self.parser.items(section))
        return values

    def event_types(self, kind: str, handler: str) -> tuple[str, ...]:
        """The globs of ``[filters]``/``[exclude_filters]``/``[discard_filters]``."""
        if not self.parser.has_option(kind, handler):
            return ()
        return tuple(_split(self.parser.get(kind, handler)))


def shoebox_number(
    settings: Mapping[str, str], key: str, default: float, section: str = "shoebox"
) -> float:
    """``settings[key]`` as a number > 0; ``ConfigError`` naming the key otherwise."""
    raw = settings.get(key)
    if raw is None or not str(raw).strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"expected a number, got {raw!r}", key=f"[{section}] {key}"
        ) from None
    if not value > 0:
        raise ConfigError(f"must be > 0, got {raw!r}", key=f"[{section}] {key}")
    return value


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load(
    paths: list[str | Path], *, warn: Callable[[str], None] | None = None
) -> YagiConfig:
    """Read and validate one yagi.conf (or several, concatenated in order).

    The original sandbox concatenated ``yagi.conf.common`` and
    ``yagi.conf.winchester``; give both. Raises :class:`ConfigError`.
    """
    warn = warn or LOG.warning
    parser = configparser.RawConfigParser(strict=True)
    source = ", ".join(str(p) for p in paths)
    text = ""
    for path in paths:
        try:
            text += Path(path).read_text(encoding="utf-8") + "\n"
        except OSError as exc:
            raise ConfigError(
                f"cannot read: {exc.strerror}", source=str(path)
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"not a text file (UTF-8 INI expected; byte {exc.start} is "
                f"{exc.object[exc.start : exc.start + 1]!r})",
                source=str(path),
            ) from None
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(f"invalid INI: {exc}", source=source) from None
    for section in parser.sections():
        kind, _, _queue = section.partition(":")
        if kind in IGNORED:
            warn(f"{source}: [{section}] is not used by this yagi-event and is ignored")
            continue
        if kind not in KNOWN or (_queue and kind not in _PER_QUEUE):
            close = difflib.get_close_matches(kind, list(KNOWN), n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            raise ConfigError(f"unknown section [{section}]{hint}", source=source)
        if kind in _OPEN_KEYS:
            continue
        for key in parser.options(section):
            if key not in KNOWN[kind]:
                close = difflib.get_close_matches(key, sorted(KNOWN[kind]), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"unknown key{hint}", source=source, key=f"[{section}] {key}"
                )
    for key in _COMPAT_ONLY:
        if parser.has_option("rabbit_broker", key):
            warn(f"{source}: [rabbit_broker] {key} is accepted and not used")
    getter = _Getter(parser, source)
    queues = _split(parser.get("consumers", "queues", fallback=""))
    if not queues:
        raise ConfigError(
            "no queues to consume", source=source, key="[consumers] queues"
        )
    deployment = getter.text("global", "deployment", socket.gethostname())
    consumers = [getter.consumer(queue, deployment) for queue in queues]
    getter.check_shared(consumers)
    getter.check_shoebox()
    return YagiConfig(
        source=source,
        parser=parser,
        broker_url=getter.broker_url(),
        consumers=consumers,
        update_timer=getter.number("global", "update_timer", 300.0),
        deployment=deployment,
    )


class _Getter:
    def __init__(self, parser: configparser.RawConfigParser, source: str) -> None:
        self.parser = parser
        self.source = source

    def fail(self, section: str, key: str, message: str) -> ConfigError:
        return ConfigError(message, source=self.source, key=f"[{section}] {key}")

    def text(self, section: str, key: str, default: str) -> str:
        return self.parser.get(section, key, fallback=default).strip() or default

    def number(
        self, section: str, key: str, default: float, *, integer: bool = False
    ) -> float:
        raw = self.parser.get(section, key, fallback=None)
        if raw is None or not raw.strip():
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise self.fail(section, key, f"expected {kind}, got {raw!r}") from None
        if value < 0:
            raise self.fail(section, key, f"must not be negative, got {raw!r}")
        return value

    def flag(self, section: str, key: str, default: bool) -> bool:
        if not self.parser.has_option(section, key):
            return default
        try:
            return self.parser.getboolean(section, key)
        except ValueError:
            raw = self.parser.get(section, key)
            raise self.fail(
                section, key, f"expected true or false, got {raw!r}"
            ) from None

    def port(self, section: str) -> int:
        port = int(self.number(section, "port", 5672, integer=True))
        if not 0 < port < 65536:
            raise self.fail(section, "port", f"expected 1 to 65535, got {port}")
        return port

    def broker_url(self) -> str:
        section = "rabbit_broker"
        url = self.parser.get(section, "url", fallback="").strip()
        if url:
            return url
        return notabene.amqp_url(
            host=self.text(section, "host", "localhost"),
            port=self.port(section),
            user=self.text(section, "user", "guest"),
            password=self.parser.get(section, "password", fallback="guest"),
            vhost=self.text(section, "vhost", "/"),
            ssl=self.flag(section, "ssl", False),
        )

    def consumer(self, queue: str, deployment: str) -> ConsumerConfig:
        section = f"consumer:{queue}"
        if not self.parser.has_section(section):
            raise ConfigError(
                f"queue {queue!r} is listed in [consumers] but has no [{section}]",
                source=self.source,
            )
        apps = tuple(_split(self.parser.get(section, "apps", fallback="")))
        if not apps:
            raise self.fail(section, "apps", "required: the handler chain")
        exchange = self.text(section, "exchange", "")
        if not exchange:
            raise self.fail(section, "exchange", "required")
        max_messages = int(self.number(section, "max_messages", 100, integer=True))
        if max_messages < 1:
            raise self.fail(section, "max_messages", "must be at least 1")
        prefetch = self.parser.get(section, "prefetch", fallback=None)
        if self.flag(section, "exchange_auto_delete", False):
            raise self.fail(
                section,
                "exchange_auto_delete",
                "not supported: exchanges are declared auto_delete=false "
                "(remove the key)",
            )
        if self.parser.has_option(section, "filters"):
            raise self.fail(
                section,
                "filters",
                "not used here: give event type filters per handler in the "
                "[filters] section (<handler> = event_type, ...)",
            )
        exchange_durable = (
            self.flag(section, "exchange_durable", True)
            if self.parser.has_option(section, "exchange_durable")
            else None
        )
        return ConsumerConfig(
            queue=queue,
            apps=apps,
            exchange=exchange,
            exchange_type=self.text(section, "exchange_type", "topic"),
            routing_key=self.text(section, "routing_key", queue),
            durable=self.flag(section, "durable", True),
            auto_delete=self.flag(section, "auto_delete", False),
            max_messages=max_messages,
            max_wait=self.number(section, "max_wait", 0.5),
            prefetch=int(self.number(section, "prefetch", 0, integer=True))
            if prefetch
            else None,
            queue_type=self.parser.get(section, "queue_type", fallback=None),
            deployment=self.text(section, "deployment", deployment),
            exchange_durable=exchange_durable,
        )

    def check_shoebox(self) -> None:
        """Refuse the original's shoebox keys this archive cannot honour."""
        instead = {
            "roll_checker": "use roll_size_mb and roll_minutes instead",
            "wrap_region": "every record's metadata holds 'deployment' instead "
            "([global] or [consumer:<queue>] deployment)",
            "wrap_cell": "every record's metadata holds 'deployment' instead "
            "([global] or [consumer:<queue>] deployment)",
        }
        for section in self.parser.sections():
            if section.partition(":")[0] != "shoebox":
                continue
            for key, hint in instead.items():
                if self.parser.has_option(section, key):
                    raise self.fail(section, key, f"not supported: {hint}")
            if self.flag(section, "wrap_payload_with_region", False):
                raise self.fail(
                    section,
                    "wrap_payload_with_region",
                    "not supported: every record's metadata holds 'deployment' "
                    "instead (set it to false or remove it)",
                )

    def check_shared(self, consumers: list[ConsumerConfig]) -> None:
        """``max_wait`` and ``prefetch`` are the same for every queue, or refused."""
        first = consumers[0]
        for other in consumers[1:]:
            for key in ("max_wait", "prefetch"):
                if getattr(other, key) != getattr(first, key):
                    raise self.fail(
                        f"consumer:{other.queue}",
                        key,
                        f"{getattr(other, key)} differs from [consumer:{first.queue}] "
                        f"{key} = {getattr(first, key)}; one yagi-event uses one "
                        f"{key} for all its queues: make them equal or run a "
                        "yagi-event per queue",
                    )
