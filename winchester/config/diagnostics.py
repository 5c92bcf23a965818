"""What the config loaders report besides errors: warnings, and key checking helpers.

Errors are :class:`~stacktach.exceptions.ConfigError` (raised, they stop loading).
Warnings are :class:`ConfigWarning` values handed to a ``warn`` callback the caller
passes to a loader; without one they go to the ``winchester.config`` logger. Both
render as ``file:line: key: message`` (a warning with ``warning:`` before the
message), so ``check-config`` prints them the same way.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stacktach.exceptions import ConfigError
from stacktach.yamlutil import describe as kind
from stacktach.yamlutil import key_line

__all__ = [
    "ConfigWarning",
    "WarnFn",
    "check_keys",
    "did_you_mean",
    "fail",
    "kind",
    "log_warning",
]

_log = logging.getLogger("winchester.config")


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """A problem that does not stop the config from loading, and where it is."""

    message: str
    source: str | None = None
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.source:
            where = self.source + (f":{self.line}" if self.line is not None else "")
            where += ": "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}warning: {self.message}"


WarnFn = Callable[[ConfigWarning], None]


def log_warning(warning: ConfigWarning) -> None:
    """The default ``warn`` callback: log at WARNING on ``winchester.config``."""
    _log.warning("%s", warning)


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known name, else the known names."""
    choices = sorted(known)
    close = difflib.get_close_matches(str(name), choices, n=2, cutoff=0.6)
    if close:
        return f"; did you mean {' or '.join(repr(c) for c in close)}?"
    if choices:
        return f"; expected one of: {', '.join(choices)}"
    return ""


def fail(
    message: str, *, source: str, key: str, mapping: Any = None, at: Any = None
) -> ConfigError:
    """A ``ConfigError`` with the line of ``at`` in ``mapping`` (or the mapping's)."""
    return ConfigError(message, source=source, key=key, line=key_line(mapping, at))


def check_keys(
    mapping: Mapping[Any, Any],
    known: Iterable[str],
    *,
    source: str,
    prefix: str,
    what: str,
) -> None:
    """Raise a ``ConfigError`` for the first key of ``mapping`` not in ``known``.

    ``prefix`` is the key path of the mapping (``"test_trigger."``) and ``what``
    names it in the message ("a trigger"). The message suggests the closest known
    key ("did you mean ...?").
    """
    allowed = set(known)
    for key in mapping:
        if key not in allowed:
            raise fail(
                f"unknown key in {what}{did_you_mean(key, allowed)}",
                source=source,
                key=f"{prefix}{key}",
                mapping=mapping,
                at=key,
            )
