"""Errors raised by shoebox, under StackTach's exception root."""

from __future__ import annotations

from stacktach.exceptions import ConfigError, PermanentError, StackTachError

__all__ = ["ArchiveClosed", "CorruptArchive", "ShoeboxConfigError", "ShoeboxError"]


class ShoeboxError(StackTachError):
    """Root of the errors shoebox raises on purpose."""


class ShoeboxConfigError(ShoeboxError, ConfigError):
    """An archive option (format, template, callback) is invalid."""


class ArchiveClosed(ShoeboxError):
    """A write, flush or roll was asked of an archive that is closed."""


class CorruptArchive(ShoeboxError, PermanentError):
    """An archive file cannot be read past some point; says where and why.

    ``offset`` is a byte offset (binary files, gzip streams) and ``line`` a
    1-based line number (JSON files); one of them is set, or neither when the
    problem concerns the whole file (a checksum in the name, for instance).
    """

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        offset: int | None = None,
        line: int | None = None,
    ) -> None:
        self.path = path
        self.reason = reason
        self.offset = offset
        self.line = line
        if line is not None:
            where = f"line {line}: "
        elif offset is not None:
            where = f"byte offset {offset}: "
        else:
            where = ""
        super().__init__(f"{path}: {where}{reason}")
