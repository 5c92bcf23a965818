"""``winchester.yaml``: every key declared once, validated when the file is loaded.

:data:`~winchester.config.schema.SETTINGS` lists each key with its type, default
and help text; :meth:`WinchesterSettings.load` reads a file against it. Any
unknown key, wrong type or invalid value raises
:class:`~stacktach.exceptions.ConfigError` as ``file:line: key: message`` (with
"did you mean" for a misspelt key). The four distiller keys are read by
:class:`distiller.settings.DistillerSettings`.

Files named by the config (``distiller_config``, ``trigger_definitions``,
``pipeline_config``, ``logging_config``) are looked up along ``search_path``:
the ``config_path`` folders in order (relative ones from this file's folder),
then this file's own folder. Loading the settings does not open them, so a
missing file is reported - with every folder searched - only when something
asks for it (:meth:`WinchesterSettings.locate`); ``check-config`` asks for all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distiller.settings import DistillerSettings
from stacktach.exceptions import ConfigError
from stacktach.yamlutil import key_line, load_yaml
from winchester import timex
from winchester.config.diagnostics import (
    ConfigWarning,
    WarnFn,
    check_keys,
    fail,
    kind,
    log_warning,
)
from winchester.config.handlers import BUILTIN_HANDLERS
from winchester.config.schema import (
    DISTILLER_KEYS,
    FILE_KEYS,
    REQUIRED,
    SETTINGS,
    ApiSettings,
    Context,
    DatabaseSettings,
    Setting,
)

__all__ = [
    "FILE_KEYS",
    "SETTINGS",
    "ApiSettings",
    "DatabaseSettings",
    "Setting",
    "WinchesterSettings",
    "find_file",
]


def find_file(
    name: str,
    search_path: Sequence[Path],
    *,
    source: str | None = None,
    key: str | None = None,
    line: int | None = None,
) -> Path:
    """The first ``folder/name`` that is a file, searching ``search_path`` in order.

    An absolute ``name`` is used as it is. Raises ``ConfigError`` listing every
    place it looked (and which folders do not exist).
    """
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [d / path for d in search_path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(
        str(c) + ("" if c.parent.is_dir() else " (no such folder)") for c in candidates
    )
    raise ConfigError(
        f"file {name!r} not found; looked for {looked}",
        source=source,
        key=key,
        line=line,
    )


@dataclass(frozen=True, slots=True)
class WinchesterSettings:
    """A validated ``winchester.yaml``; attributes are named after its keys.

    ``source`` is the file, ``search_path`` the folders other files are found in.
    Use :meth:`locate` for a file key's path and :meth:`distiller_settings` for the
    distiller's keys.
    """

    source: Path
    search_path: tuple[Path, ...]
    config_path: tuple[Path, ...]
    database: DatabaseSettings
    distiller_config: str | None
    trigger_definitions: str | None
    pipeline_config: str | None
    pipeline_handlers: dict[str, str]
    pipeline_worker_batch_size: int
    pipeline_worker_delay: float
    statistics_period: float
    purge_completed_streams: bool
    trim_events: bool
    trim_events_age: timex.Expression
    trim_events_batch_size: int
    time_sync_endpoint: str | None
    log_level: str
    log_file: str | None
    logging_config: str | None
    clock: str
    clock_max_skew: float
    max_notification_size: int
    indexed_traits: tuple[str, ...]
    max_attempts: int
    lease_seconds: float
    api: ApiSettings = field(default_factory=ApiSettings)
    _distiller: DistillerSettings | None = field(default=None, repr=False)
    _lines: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls, path: str | Path, *, warn: WarnFn | None = None
    ) -> WinchesterSettings:
        """Read and validate ``path``; ``ConfigError`` naming file, line and key.

        Warnings (deprecated or legacy values) go to ``warn``, by default to the
        ``winchester.config`` logger. No other file is opened.
        """
        source = Path(path)
        data = load_yaml(source)
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"expected a mapping of settings, got {kind(data)}", source=str(source)
            )
        return cls.from_mapping(data, source=source, warn=warn)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: Path, warn: WarnFn | None = None
    ) -> WinchesterSettings:
        """Validate already-parsed settings that came from the file ``source``."""
        name = str(source)
        check_keys(
            data,
            (s.name for s in SETTINGS),
            source=name,
            prefix="",
            what="winchester.yaml",
        )
        base_dir = source.absolute().parent
        ctx = Context(name, base_dir, data, warn or log_warning)
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            if setting.parse is None:
                continue
            if setting.name not in data and setting.default is REQUIRED:
                raise ConfigError(
                    "required key is missing", source=name, key=setting.name
                )
            raw = data.get(setting.name, setting.default)
            try:
                values[setting.name] = setting.parse(raw, ctx)
            except ConfigError:
                raise
            except ValueError as exc:
                raise fail(
                    str(exc),
                    source=name,
                    key=setting.name,
                    mapping=data,
                    at=setting.name,
                ) from None
        values["distiller_config"] = None
        distiller = None
        if "distiller_config" in data:
            distiller = DistillerSettings.from_mapping(data, source=name)
            values["distiller_config"] = data["distiller_config"]
        else:
            for key in DISTILLER_KEYS[1:]:
                if data.get(key):
                    ctx.warn(
                        ConfigWarning(
                            "has no effect without distiller_config",
                            name,
                            key_line(data, key),
                            key,
                        )
                    )
        search = [*values["config_path"]]
        if base_dir not in search:
            search.append(base_dir)
        lines = _key_lines(data)
        return cls(
            source=source,
            search_path=tuple(search),
            _distiller=distiller,
            _lines=lines,
            **values,
        )

    def locate(self, key: str) -> Path | None:
        """The file a file key names, found along the search path; None if unset.

        Raises ``ConfigError`` (this file, the key's line) listing where it looked.
        """
        if key not in FILE_KEYS:
            raise ValueError(f"{key!r} is not a file key; expected one of {FILE_KEYS}")
        name: str | None = getattr(self, key)
        if name is None:
            return None
        return find_file(
            name,
            self.search_path,
            source=str(self.source),
            key=key,
            line=self._lines.get(key),
        )

    def distiller_settings(self) -> DistillerSettings | None:
        """The distiller's settings with the definitions file located; None if unset."""
        path = self.locate("distiller_config")
        if self._distiller is None or path is None:
            return None
        return dataclasses.replace(self._distiller, definitions=path)

    def handler_specs(self) -> dict[str, str]:
        """Every usable handler name -> its alias or import string (built-ins first)."""
        specs = {name: name for name in BUILTIN_HANDLERS}
        specs.update(self.pipeline_handlers)
        return specs

    def line_of(self, key: str) -> int | None:
        """The line of a key (``a`` or ``a.b`` one level down), if it is there."""
        return self._lines.get(key)


def _key_lines(data: Mapping[str, Any]) -> dict[str, int]:
    lines: dict[str, int] = {}
    for key, value in data.items():
        if (line := key_line(data, key)) is not None:
            lines[str(key)] = line
        if isinstance(value, Mapping):
            for sub in value:
                if (line := key_line(value, sub)) is not None:
                    lines[f"{key}.{sub}"] = line
    return lines
