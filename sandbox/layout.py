"""The sandbox's ``var/`` folder and the configuration written into it.

``var/`` (ignored by git) holds everything the sandbox creates::

    var/etc/          the configuration the processes read (rendered below)
    var/winchester.db the SQLite database (embedded default)
    var/broker/       the filesystem:// broker's messages and bindings
    var/archive/      shoebox's raw archives (working/, output/)
    var/log/          one log per process (screen mode and --detach)
    var/run/          pid files, the screenrc, the window scripts

:func:`render` copies ``etc/sandbox`` (embedded default) or ``etc/production``
(MariaDB + RabbitMQ) into ``var/etc`` with the few values the sandbox decides:
the API port, the URLs, the exchange and queue, and - for production files -
the event clock and kept streams that a simulated cloud needs. The processes
run with the repository root as their working directory, which the relative
paths of ``etc/sandbox`` are written for.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Layout", "Options", "render"]

#: The files of a configuration set, besides the yagi.conf.
SHARED_FILES = (
    "winchester.yaml",
    "pipelines.yaml",
    "triggers.yaml",
    "event_definitions.yaml",
    "logging.conf",
)
DEFAULT_DB_URL = "mysql+pymysql://root@127.0.0.1:3306/stacktach_sandbox"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_EXCHANGE = "nova"
DEFAULT_QUEUE = "monitor.info"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things are, for the repository at ``root``."""

    root: Path

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def etc(self) -> Path:
        return self.var / "etc"

    @property
    def run(self) -> Path:
        return self.var / "run"

    @property
    def log(self) -> Path:
        return self.var / "log"

    @property
    def winchester_yaml(self) -> Path:
        return self.etc / "winchester.yaml"

    @property
    def yagi_conf(self) -> Path:
        return self.etc / "yagi.conf"

    def make(self) -> None:
        """Create the folders (the data folders are created by their users)."""
        for folder in (self.etc, self.run, self.log):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True, slots=True)
class Options:
    """What the user chose: the engines, the names, the API port."""

    production: bool = False
    db_url: str = DEFAULT_DB_URL
    broker_url: str = DEFAULT_BROKER_URL
    exchange: str = DEFAULT_EXCHANGE
    queue: str = DEFAULT_QUEUE
    port: int = 8000

    @property
    def effective_broker_url(self) -> str:
        """The broker every process uses (the embedded one by default)."""
        return self.broker_url if self.production else "filesystem://var/broker"

    @property
    def usage_exchange(self) -> str:
        """Where the usage audit publishes (named after --exchange when given)."""
        if self.exchange == DEFAULT_EXCHANGE:
            return "stacktach"
        return f"{self.exchange}.usage"

    @property
    def usage_queue(self) -> str:
        if self.queue == DEFAULT_QUEUE:
            return "stacktach.usage"
        return f"{self.queue}.usage"


def _names(text: str, options: Options, *, ini: bool) -> str:
    """Point the exchange and queue names at the chosen ones."""
    if ini:
        text = re.sub(r"(?m)^exchange = nova$", f"exchange = {options.exchange}", text)
        text = re.sub(
            r"(?m)^(queues = |routing_key = )monitor\.info$",
            lambda m: m.group(1) + options.queue,
            text,
        )
        return text.replace("[consumer:monitor.info]", f"[consumer:{options.queue}]")
    text = re.sub(
        r"(?m)^(\s+exchange: )stacktach$",
        lambda m: m.group(1) + options.usage_exchange,
        text,
    )
    return re.sub(
        r"(?m)^(\s+queue_name: )stacktach\.usage$",
        lambda m: m.group(1) + options.usage_queue,
        text,
    )


def render(layout: Layout, options: Options) -> None:
    """Write ``var/etc`` from ``etc/sandbox`` or ``etc/production``."""
    layout.make()
    source = layout.root / "etc" / ("production" if options.production else "sandbox")
    port = f"127.0.0.1:{options.port}"
    for name in SHARED_FILES:
        text = (source / name).read_text()
        if name == "winchester.yaml":
            text = text.replace("127.0.0.1:8000", port)
        if name == "pipelines.yaml":
            text = _names(text, options, ini=False)
        if options.production:
            text = _production(text, layout, options)
        (layout.etc / name).write_text(text)
    yagi = source / ("yagi-cell1.conf" if options.production else "yagi.conf")
    text = _names(yagi.read_text(), options, ini=True)
    if options.production:
        text = _production(text, layout, options)
    else:
        text = text.replace("etc/sandbox/", "var/etc/")
    layout.yagi_conf.write_text(text)
    gunicorn = "gunicorn.conf.py"
    shutil.copy(layout.root / "etc" / gunicorn, layout.etc / gunicorn)


def _production(text: str, layout: Layout, options: Options) -> str:
    """A production file, made to run in the sandbox on the given engines."""
    text = text.replace("/etc/stacktach/", f"{layout.etc}/")
    text = text.replace("/var/lib/stacktach/", f"{layout.var}/")
    text = re.sub(r"mysql\+pymysql://\S+", lambda _: options.db_url, text)
    text = re.sub(r"amqp://\S+", lambda _: options.broker_url, text)
    # The sandbox simulates a cloud faster than real time (event clock), keeps
    # completed streams to show them, and needs no API token.
    text = re.sub(r"(?m)^clock: wall$", "clock: event", text)
    text = re.sub(
        r"(?m)^purge_completed_streams: true$", "purge_completed_streams: false", text
    )
    text = re.sub(r"(?m)^(\s+)token: CHANGE_ME$", r"\1# token: (none here)", text)
    return re.sub(r"(?m)^(\s+)workers: 4$", r"\1workers: 1", text)
