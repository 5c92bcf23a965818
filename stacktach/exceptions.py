"""The root of every exception StackTach raises on purpose.

The tree is shallow on purpose. Callers decide what to do from the branch:

* :class:`ConfigError` - fix the configuration; raised at start-up, never at run time.
* :class:`RecoverableError` - a dependency (broker, database) is away; retry later,
  the input is fine.
* :class:`PermanentError` - the input itself is bad; retrying will not help, so
  dead-letter it.
"""

from __future__ import annotations


class StackTachError(Exception):
    """Root of every error raised on purpose by StackTach code."""


class ConfigError(StackTachError):
    """A configuration file, key or command-line option is invalid.

    The message names where the problem is: the file (``source``), the line when
    YAML gives one, and the key path inside the file.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.key = key
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source:
            where = self.source
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.reason}"


class PluginError(ConfigError):
    """A plugin name or ``module:Class`` string cannot be resolved."""


class RecoverableError(StackTachError):
    """A dependency is unavailable; the same work can succeed later."""


class PermanentError(StackTachError):
    """The input can never be processed; retrying is pointless."""


class TimestampError(PermanentError, ValueError):
    """A timestamp string is not in any accepted format."""
