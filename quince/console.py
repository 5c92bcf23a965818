"""The web console: ``/ui`` (static files of :mod:`quince.ui`) and the raw
notification of an event, ``GET /v1/events/{message_id}/raw``.

The console is read-only HTML, CSS and JavaScript shipped in the package (no
build step); it reads the JSON API and ``/v1/stream`` from the browser, so the
page itself holds no data and is served without a token even when
``api.auth_reads`` is on (the browser asks for the token and sends it on every
data request).

The raw notification is looked up in the shoebox archives of
``api.archive_folder``: only the files whose time span (cached per file by
path, mtime and size) covers the event's time are read, newest first, and
the first record whose message id matches is answered. A 404 says why when
there is no folder, no such event, or no such record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import falcon

from quince.archives import ReportCache
from quince.context import QuinceContext
from shoebox.exceptions import CorruptArchive
from shoebox.reader import read
from shoebox.summary import archive_files, record_id
from winchester.storage import queries

__all__ = ["UI_DIR", "Console", "RawNotification", "add_console"]

#: Where the console's static files are (``quince/ui``).
UI_DIR = Path(__file__).resolve().parent / "ui"

#: Clock skew allowed between an event's time and its archive file's span.
SLACK = timedelta(seconds=2)

Span = tuple[datetime | None, datetime | None]


class Console:
    """``GET /ui``: the console's page."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.cache_control = ["no-cache"]
        resp.data = (UI_DIR / "index.html").read_bytes()


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _covers(span: Span, when: datetime) -> bool:
    first, last = span
    if first is None or last is None:  # no times in the file: cannot rule it out
        return True
    return _aware(first) - SLACK <= when <= _aware(last) + SLACK


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class RawNotification:
    """``GET /v1/events/{message_id}/raw``: the archived notification."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx
        self._reports = ReportCache()

    def _span(self, path: Path) -> Span | None:
        report = self._reports.report(path)
        return None if report is None else (report.first, report.last)

    def _find(self, folder: Path, message_id: str, when: datetime) -> Any:
        try:
            paths = archive_files([folder])
        except OSError:
            return None
        self._reports.keep_only(paths)
        for path in reversed(paths):  # names sort by time: the newest first
            span = self._span(path)
            if span is None or not _covers(span, when):
                continue
            try:
                for record in read(path):
                    if record_id(record.body, record.metadata) == message_id:
                        return {
                            "message_id": message_id,
                            "archive": path.name,
                            "metadata": record.metadata,
                            "notification": _decoded(record.body),
                        }
            except (CorruptArchive, OSError):
                continue  # shoebox verify reports it; the next file may hold it
        return None

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, message_id: str
    ) -> None:
        folder = self.ctx.settings.api.archive_folder
        if folder is None:
            raise falcon.HTTPNotFound(
                title="No archive folder",
                description="api.archive_folder is not set in winchester.yaml.",
            )
        event = None
        if "\x00" not in message_id and len(message_id) <= 128:
            event = self.ctx.read(
                lambda conn: queries.event_by_message_id(conn, message_id)
            )
        if event is None:
            raise falcon.HTTPNotFound(
                title="Event not found",
                description=f"There is no event {message_id[:128]!r}.",
            )
        found = self._find(folder, message_id, _aware(event.generated))
        if found is None:
            raise falcon.HTTPNotFound(
                title="Not archived",
                description=(
                    f"No archive file of {folder} around "
                    f"{event.generated.isoformat(' ', 'seconds')} holds "
                    f"notification {message_id!r}."
                ),
            )
        resp.media = found


def add_console(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Serve the console's files under ``/ui/static/`` (``/ui`` is in ROUTES)."""
    app.add_static_route("/ui/static", str(UI_DIR))
