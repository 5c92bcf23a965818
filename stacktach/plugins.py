"""Plugin loading by name.

A plugin is named either by a short alias registered by the component that owns
it (``split``, ``logger``, ``usage`` ...) or by an import string in the form the
original StackTach configs use:

* ``package.module:Class`` (also ``module:function`` and ``module:Class.attr``);
* ``/some/dir|package.module:Class`` - ``/some/dir`` is put on ``sys.path`` first.

Resolution uses :mod:`importlib` (the PyPI ``simport`` package no longer imports on
Python 3.12). Every failure raises :class:`~stacktach.exceptions.PluginError`
naming the string, what was wrong, and - for an unknown alias - the closest known
names.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

from stacktach.exceptions import PluginError

__all__ = ["load", "resolve_import_string"]


def load(
    name: str,
    aliases: Mapping[str, Any] | None = None,
    *,
    kind: str = "plugin",
) -> Any:
    """Return the object ``name`` refers to.

    ``aliases`` maps short names to objects or to import strings. ``kind`` is used in
    error messages ("trait plugin", "pipeline handler" ...).
    """
    if not isinstance(name, str) or not name.strip():
        raise PluginError(f"{kind} name must be a non-empty string, got {name!r}")
    aliases = aliases or {}
    if name in aliases:
        target = aliases[name]
        return (
            resolve_import_string(target, kind=kind)
            if isinstance(target, str)
            else target
        )
    if ":" in name:
        return resolve_import_string(name, kind=kind)
    known = sorted(aliases)
    hint = ""
    close = difflib.get_close_matches(name, known, n=3)
    if close:
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?"
    elif known:
        hint = f"; known names: {', '.join(known)}"
    raise PluginError(
        f"unknown {kind} {name!r}{hint} "
        "(or give an import string such as 'package.module:Class')"
    )


def resolve_import_string(spec: str, *, kind: str = "plugin") -> Any:
    """Import ``[dir|]module:attr[.attr...]`` and return the attribute."""
    directory, bar, rest = spec.rpartition("|")
    if bar:
        if not directory:
            raise PluginError(f"{kind} {spec!r}: nothing before '|' (expected a dir)")
        if not os.path.isdir(directory):
            raise PluginError(f"{kind} {spec!r}: directory {directory!r} not found")
        if directory not in sys.path:
            sys.path.append(directory)
    module_name, colon, attr_path = rest.partition(":")
    if not colon:
        raise PluginError(
            f"{kind} {spec!r}: expected 'module:Class' (a ':' between the module "
            "and the object)"
        )
    if not module_name:
        raise PluginError(f"{kind} {spec!r}: no module before ':'")
    if not attr_path:
        raise PluginError(f"{kind} {spec!r}: nothing after ':' (expected a name)")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"{kind} {spec!r}: cannot import {module_name!r}: {exc}"
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            candidates = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, candidates, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise PluginError(
                f"{kind} {spec!r}: {module_name!r} has no attribute {part!r}{hint}"
            ) from None
    return obj
