"""``/v2/archives``: the shoebox archive files of ``api.archive_folder``.

Each file is read once by shoebox's summary (records, time span) and the result
cached by (path, mtime, size), so a listing costs one ``stat`` per file after
the first. A 404 says so when no folder is configured.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import falcon

from quince.context import QuinceContext
from shoebox.summary import FileReport, archive_files, examine

__all__ = ["ArchiveList", "ReportCache"]


class ReportCache:
    """shoebox's summary of each archive file, read once and kept by (path,
    mtime, size): after the first, a lookup costs one ``stat``."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], FileReport]] = {}
        self._lock = threading.Lock()

    def report(self, path: Path) -> FileReport | None:
        """The summary of ``path``; None when it is gone."""
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        report = examine(path)
        with self._lock:
            self._cache[path] = (key, report)
        return report

    def keep_only(self, paths: list[Path]) -> None:
        """Forget the files not in ``paths`` (removed or rolled away)."""
        with self._lock:
            for gone in set(self._cache) - set(paths):
                del self._cache[gone]


class ArchiveList:
    """``GET /v2/archives``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx
        self._reports = ReportCache()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        folder = self.ctx.settings.api.archive_folder
        if folder is None:
            raise falcon.HTTPNotFound(
                title="No archive folder",
                description="api.archive_folder is not set in winchester.yaml.",
            )
        try:
            paths = archive_files([folder])
        except OSError as exc:
            raise falcon.HTTPNotFound(
                title="No archive folder", description=f"{folder}: {exc}"
            ) from None
        out: list[dict[str, Any]] = []
        for path in paths:
            report = self._reports.report(path)
            if report is None:  # removed while listing
                continue
            out.append(
                {
                    "name": path.name,
                    "path": str(path),
                    "size": report.size,
                    "first": report.first,
                    "last": report.last,
                    "records": report.records,
                }
            )
        self._reports.keep_only(paths)
        resp.media = out
