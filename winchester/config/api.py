"""``api``: the settings of quince, the REST API (``quince-api``).

Every key is optional; the section itself may be left out::

    api:
      token: s3cret          # PUT/DELETE need "Authorization: Bearer s3cret"
      auth_reads: false      # true: every route but /healthcheck needs it
      bind: 127.0.0.1:8000   # quince-api's default --bind
      workers: 2             # quince-api's default --workers
      max_limit: 1000        # the largest ?limit= accepted (more is a 400)
      archive_folder: /var/lib/stacktach/archive   # /v2/archives lists it
      broker_url: amqp://guest:guest@localhost//   # /healthcheck checks it
      threads: 32            # quince-api's default --threads (gthread worker)
      request_slots: 2       # ordinary requests each worker runs at once
      sse_heartbeat_seconds: 15   # GET /v1/stream: a heartbeat after this silence
      sse_poll_seconds: 0.25      # GET /v1/stream: how often each process polls

``STACKTACH_API_TOKEN`` in the environment overrides ``token`` (read by quince,
not here). A relative ``archive_folder`` is relative to winchester.yaml's folder.
The token is never shown: the dataclass's repr hides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winchester.config.diagnostics import check_keys, fail, kind

__all__ = ["API_KEYS", "ApiSettings", "parse_api"]

API_KEYS = (
    "token",
    "auth_reads",
    "bind",
    "workers",
    "max_limit",
    "archive_folder",
    "broker_url",
    "threads",
    "request_slots",
    "sse_heartbeat_seconds",
    "sse_poll_seconds",
)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The ``api`` section (see the module docstring)."""

    token: str | None = field(default=None, repr=False)
    auth_reads: bool = False
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    max_limit: int = 1000
    archive_folder: Path | None = None
    broker_url: str | None = field(default=None, repr=False)
    threads: int = 32
    #: Ordinary requests a worker process runs at once (the others wait for
    #: a slot; live streams take none): see :mod:`quince.slots`.
    request_slots: int = 2
    sse_heartbeat_seconds: float = 15.0
    sse_poll_seconds: float = 0.25


def parse_api(value: Any, source: str, base_dir: Path) -> ApiSettings:
    """Validate the ``api`` mapping (None: all defaults)."""
    if value is None:
        return ApiSettings()
    if not isinstance(value, Mapping):
        raise ValueError(
            f"expected a mapping (token, auth_reads, ...), got {kind(value)}"
        )
    check_keys(value, API_KEYS, source=source, prefix="api.", what="api")

    def bad(key: str, message: str) -> Exception:
        return fail(message, source=source, key=f"api.{key}", mapping=value, at=key)

    values: dict[str, Any] = {}
    for key in ("token", "bind", "broker_url"):
        if key in value and value[key] is not None:
            text = value[key]
            if not isinstance(text, str) or not text.strip():
                raise bad(key, f"expected a non-empty string, got {kind(text)}")
            values[key] = text
    if "bind" in values and ":" not in values["bind"]:
        raise bad("bind", f"expected HOST:PORT, got {values['bind']!r}")
    if "auth_reads" in value:
        if not isinstance(value["auth_reads"], bool):
            raise bad(
                "auth_reads", f"expected true or false, got {kind(value['auth_reads'])}"
            )
        values["auth_reads"] = value["auth_reads"]
    for key, limits in (
        ("sse_heartbeat_seconds", (0.01, 3600.0)),
        ("sse_poll_seconds", (0.01, 60.0)),
    ):
        if key in value:
            number = value[key]
            low, high = limits
            if (
                isinstance(number, bool)
                or not isinstance(number, int | float)
                or not low <= number <= high
            ):
                raise bad(
                    key,
                    f"expected seconds from {low:g} to {high:g}, got {kind(number)}",
                )
            values[key] = float(number)
    for key, minimum in (
        ("workers", 1),
        ("max_limit", 1),
        ("threads", 1),
        ("request_slots", 1),
    ):
        if key in value:
            number = value[key]
            if (
                isinstance(number, bool)
                or not isinstance(number, int)
                or number < minimum
            ):
                raise bad(key, f"expected an integer >= {minimum}, got {kind(number)}")
            values[key] = number
    folder = value.get("archive_folder")
    if folder is not None:
        if not isinstance(folder, str) or not folder.strip():
            raise bad("archive_folder", f"expected a folder name, got {kind(folder)}")
        path = Path(folder).expanduser()
        values["archive_folder"] = path if path.is_absolute() else base_dir / path
    return ApiSettings(**values)
