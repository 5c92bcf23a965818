"""What runs after a roll: the callback contract, the built-ins, and loading.

A callback is any object with ``on_roll(path) -> path | None``. The archive
calls its callbacks in order with the finished file's path; each returns the
file's new path (or None when it left the file where it was). When a callback
removes the file (``Delete``, an upload that cleans up) the callbacks after it
are skipped. A callback that raises is logged and counted
(``archive.stats.callback_errors``); the callbacks after it are skipped for
that file - an upload that failed must not be followed by a delete - and
archiving goes on.

Callbacks are named by ``module:Class`` strings or by the aliases below; a
class is built with the archive's ``callback_options`` that its constructor
declares (the original built every plugin from its config section)::

    change_extension   ChangeExtension(new_ext)     rename with a new extension
    move               MoveTo(folder)               move into another folder
    delete             Delete()                     remove the file

The original's names (``shoebox.handlers:ChangeExtensionCallback``,
``MoveFileCallback``, ``DeleteFileCallback`` and their keyword names
``new_extension``, ``destination_folder``) are accepted too.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from shoebox.exceptions import ShoeboxConfigError
from shoebox.naming import unique_names
from stacktach import plugins
from stacktach.exceptions import PluginError

__all__ = [
    "ALIASES",
    "ChangeExtension",
    "ChangeExtensionCallback",
    "Delete",
    "DeleteFileCallback",
    "MoveFileCallback",
    "MoveTo",
    "RollCallback",
    "load_callbacks",
]


@runtime_checkable
class RollCallback(Protocol):
    """Called with each finished file; returns its new path or None (unchanged)."""

    def on_roll(self, path: Path) -> Path | None:
        """Act on the finished file at ``path``."""
        ...


class ChangeExtension:
    """Rename the file with a new extension: ``x.json.gz`` -> ``x.json.done``.

    ``append=True`` keeps the old one instead (``x.json.gz.done``), as the
    original ``ChangeExtensionCallback`` did.
    """

    def __init__(
        self,
        new_ext: str | None = None,
        *,
        new_extension: str | None = None,
        append: bool = False,
    ) -> None:
        ext = new_ext if new_ext is not None else new_extension
        if ext is None:
            ext = ".done"
        if not ext or "/" in ext or ext in (".", ".."):
            raise ShoeboxConfigError(f"invalid extension {ext!r}", key="new_ext")
        self.ext = ext if ext.startswith(".") else f".{ext}"
        self.append = append

    def on_roll(self, path: Path) -> Path:
        """Rename ``path``; ``FileExistsError`` if the new name is taken."""
        if self.append:
            target = path.with_name(path.name + self.ext)
        else:
            target = path.with_suffix(self.ext)
        _rename_no_clobber(path, target)
        return target


class ChangeExtensionCallback(ChangeExtension):
    """The original's name: appends the extension (default ``.done``)."""

    def __init__(
        self, new_extension: str = ".done", *, new_ext: str | None = None
    ) -> None:
        super().__init__(new_ext if new_ext is not None else new_extension, append=True)


class MoveTo:
    """Move the file into ``folder`` (created if missing), never overwriting."""

    def __init__(
        self, folder: str | Path | None = None, *, destination_folder: str | None = None
    ) -> None:
        chosen = folder if folder is not None else destination_folder
        if chosen is None:
            raise ShoeboxConfigError("MoveTo needs a folder", key="folder")
        self.folder = Path(chosen)

    def on_roll(self, path: Path) -> Path:
        """Move ``path``; a taken name gets a ``-N`` suffix."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if path.parent.resolve() == self.folder.resolve():
            return path
        for name in unique_names(path.name):
            target = self.folder / name
            if target.exists():
                continue
            try:
                _rename_no_clobber(path, target)
            except FileExistsError:
                continue
            return target
        raise FileExistsError(f"no free name for {path.name} in {self.folder}")


MoveFileCallback = MoveTo


class Delete:
    """Remove the file (for instance after an earlier callback uploaded it)."""

    def on_roll(self, path: Path) -> None:
        """Remove ``path``."""
        path.unlink()


DeleteFileCallback = Delete

ALIASES: dict[str, Any] = {
    "change_extension": ChangeExtension,
    "move": MoveTo,
    "delete": Delete,
    "shoebox.handlers:ChangeExtensionCallback": ChangeExtensionCallback,
    "shoebox.handlers:MoveFileCallback": MoveFileCallback,
    "shoebox.handlers:DeleteFileCallback": DeleteFileCallback,
}


def _rename_no_clobber(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        # Another file system, or no hard links: move unless the name is taken.
        if target.exists():
            raise FileExistsError(f"{target} exists") from None
        shutil.move(source, target)
        return
    source.unlink()


def load_callbacks(
    specs: Iterable[str | RollCallback] | str,
    options: Mapping[str, Any] | None = None,
) -> list[RollCallback]:
    """Build the callbacks ``specs`` name (a list, or a comma-separated string).

    Strings are aliases or ``module:Class``; a class (or factory) is called with
    the entries of ``options`` its signature accepts. Raises
    ``ShoeboxConfigError`` for an unknown name or an object without ``on_roll``.
    """
    if isinstance(specs, str):
        specs = [part.strip() for part in specs.split(",") if part.strip()]
    built: list[RollCallback] = []
    for spec in specs:
        if not isinstance(spec, str):
            built.append(_checked(spec, repr(spec)))
            continue
        try:
            target = plugins.load(spec, ALIASES, kind="archive callback")
        except PluginError as exc:
            raise ShoeboxConfigError(str(exc), key="callbacks") from None
        if isinstance(target, RollCallback) and not inspect.isclass(target):
            built.append(target)
            continue
        if not callable(target):
            raise ShoeboxConfigError(
                f"archive callback {spec!r} is neither a class nor a callback",
                key="callbacks",
            )
        try:
            instance = target(**_accepted(target, options or {}))
        except (TypeError, ValueError) as exc:
            raise ShoeboxConfigError(
                f"archive callback {spec!r}: {exc}", key="callbacks"
            ) from exc
        built.append(_checked(instance, spec))
    return built


def _accepted(factory: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``options`` that ``factory`` takes as keyword arguments."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(options)
    names = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    return {key: value for key, value in options.items() if key in names}


def _checked(candidate: Any, spec: str) -> RollCallback:
    if not callable(getattr(candidate, "on_roll", None)):
        raise ShoeboxConfigError(
            f"archive callback {spec} has no on_roll(path) method", key="callbacks"
        )
    result: RollCallback = candidate
    return result
