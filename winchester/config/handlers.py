"""Pipeline handler names: the built-in aliases and how a handler string resolves.

A handler is named in ``winchester.yaml``'s ``pipeline_handlers`` by a built-in
alias (``logger``, ``usage``, ``notabene``, ``atompub``) or by an import string
(``package.module:Class``, ``/dir|package.module:Class``). The built-ins need not
be listed there: ``pipelines.yaml`` may use their names directly. The original
StackTach class paths (``winchester.pipeline_handler:LoggingHandler`` ...) map to
the built-ins, so the original configs keep working.

:data:`BUILTIN_HANDLERS` is the only table to change when a built-in's class
moves: :func:`check_handler` reports a built-in whose module does not exist yet
as ``"pending"`` rather than as an error, and as ``"ok"`` once it imports.
"""

from __future__ import annotations

from typing import Any, Literal

from stacktach import plugins
from stacktach.exceptions import PluginError

__all__ = [
    "BUILTIN_HANDLERS",
    "LEGACY_HANDLERS",
    "check_handler",
    "resolve_handler",
]

#: Built-in handler alias -> import string.
BUILTIN_HANDLERS: dict[str, str] = {
    "logger": "winchester.handlers.logger:LoggingHandler",
    "usage": "winchester.handlers.usage:UsageHandler",
    "notabene": "winchester.handlers.notabene:NotabeneHandler",
    "atompub": "winchester.handlers.atompub:AtomPubHandler",
}

#: The original StackTach import strings -> the built-in alias that replaces them.
LEGACY_HANDLERS: dict[str, str] = {
    "winchester.pipeline_handler:LoggingHandler": "logger",
    "winchester.pipeline_handler:UsageHandler": "usage",
    "winchester.pipeline_handler:NotabeneHandler": "notabene",
    "winchester.pipeline_handler:AtomPubHandler": "atompub",
}

_KIND = "pipeline handler"


def resolve_handler(spec: str) -> Any:
    """Import the handler class ``spec`` names (an alias or an import string).

    Raises :class:`~stacktach.exceptions.PluginError` naming the string and what
    went wrong (unknown alias with "did you mean", module or class not found, not
    callable).
    """
    handler = plugins.load(
        LEGACY_HANDLERS.get(spec, spec), BUILTIN_HANDLERS, kind=_KIND
    )
    if not callable(handler):
        raise PluginError(
            f"{_KIND} {spec!r} is a {type(handler).__name__}, not a class"
        )
    return handler


def check_handler(spec: str) -> Literal["ok", "pending"]:
    """``"ok"`` when ``spec`` resolves, ``"pending"`` for a built-in not shipped yet.

    Any other failure raises :class:`~stacktach.exceptions.PluginError`.
    """
    try:
        resolve_handler(spec)
    except PluginError as exc:
        alias = LEGACY_HANDLERS.get(spec, spec)
        if alias in BUILTIN_HANDLERS and _module_missing(exc, BUILTIN_HANDLERS[alias]):
            return "pending"
        raise
    return "ok"


def _module_missing(exc: PluginError, target: str) -> bool:
    cause = exc.__cause__
    if not isinstance(cause, ModuleNotFoundError) or not cause.name:
        return False
    module = target.rpartition("|")[2].partition(":")[0]
    return module == cause.name or module.startswith(cause.name + ".")
