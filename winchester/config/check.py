"""Validate a whole configuration set without starting or connecting to anything.

:func:`check_config` loads ``winchester.yaml`` and every file it names - the
distiller's event definitions, triggers, pipelines - checks that the triggers'
pipelines exist and that every pipeline handler class imports, warns when a
handler's worst-case run (its ``worst_case_seconds(params)``) is longer than
``lease_seconds``, and collects
every error and warning it finds instead of stopping at the first (a file that
fails stops only the checks that need it). The database URL is parsed, never
connected to, but its driver must import (the error names the pip package). A
``logging_config`` that is not a fileConfig file is an error, a missing one a
warning (the sample sets name one they do not ship; the daemons refuse to start
without it). The ``check-config`` command
(:mod:`winchester.config.cli`) prints the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from stacktach.exceptions import ConfigError
from stacktach.logsetup import check_logging_config
from winchester.config.diagnostics import ConfigWarning
from winchester.config.handlers import check_handler, resolve_handler
from winchester.config.pipelines import HandlerSpec, load_pipelines, reference_errors
from winchester.config.settings import WinchesterSettings, find_file
from winchester.config.triggers import TriggerDefinition, load_triggers
from winchester.handlers.base import worst_case_seconds
from winchester.storage.engine import check_url

__all__ = ["CheckResult", "check_config"]


@dataclass(slots=True)
class CheckResult:
    """What :func:`check_config` found; ``ok`` when there is no error.

    ``files`` maps each file key to the path it was found at; ``handlers`` maps
    each handler name in use to ``"ok"``, ``"pending"`` (a built-in whose class
    is not shipped yet) or ``"error"``; ``event_definitions`` is None when
    ``distiller_config`` is not set.
    """

    config: Path
    settings: WinchesterSettings | None = None
    files: dict[str, Path] = field(default_factory=dict)
    event_definitions: int | None = None
    triggers: list[TriggerDefinition] = field(default_factory=list)
    pipelines: dict[str, list[HandlerSpec]] = field(default_factory=dict)
    handlers: dict[str, str] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[ConfigWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not self.errors

    def summary(self) -> str:
        """One line: the counts and the verdict."""
        counts = [
            f"{len(self.triggers)} triggers",
            f"{len(self.pipelines)} pipelines",
            f"{self.event_definitions or 0} event definitions",
        ]
        pending = sum(1 for status in self.handlers.values() if status == "pending")
        handlers = f"{len(self.handlers)} handlers"
        if pending:
            handlers += f" ({pending} built-in, not installed yet)"
        counts.append(handlers)
        verdict = "OK" if self.ok else f"{len(self.errors)} error(s)"
        if self.warnings:
            verdict += f", {len(self.warnings)} warning(s)"
        return f"{self.config}: {', '.join(counts)}: {verdict}"


def check_config(path: str | Path) -> CheckResult:
    """Load and cross-check the configuration set rooted at ``path``."""
    result = CheckResult(config=Path(path))
    warn = result.warnings.append
    try:
        settings = WinchesterSettings.load(path, warn=warn)
    except ConfigError as exc:
        result.errors.append(exc)
        return result
    result.settings = settings
    for folder in settings.config_path:
        if not folder.is_dir():
            warn(
                ConfigWarning(
                    f"folder {str(folder)!r} does not exist; files are looked for in "
                    f"{', '.join(map(str, settings.search_path))}",
                    str(settings.source),
                    settings.line_of("config_path"),
                    "config_path",
                )
            )
    _check_distiller(settings, result)
    _check_triggers(settings, result)
    _check_pipelines(settings, result)
    pipelines_ok = settings.pipeline_config is None or "pipeline_config" in result.files
    if "trigger_definitions" in result.files and pipelines_ok:
        pipelines_file = result.files.get("pipeline_config")
        result.errors.extend(
            reference_errors(
                result.triggers,
                result.pipelines,
                pipelines_source=str(pipelines_file or "pipeline_config (not set)"),
            )
        )
    _check_handlers(settings, result)
    _check_leases(settings, result)
    _check_logging(settings, result)
    _check_database(settings, result)
    return result


def _locate(settings: WinchesterSettings, key: str, result: CheckResult) -> Path | None:
    try:
        path = settings.locate(key)
    except ConfigError as exc:
        result.errors.append(exc)
        return None
    if path is not None:
        result.files[key] = path
    return path


def _check_distiller(settings: WinchesterSettings, result: CheckResult) -> None:
    if (
        settings.distiller_config is None
        or _locate(settings, "distiller_config", result) is None
    ):
        return
    try:
        distiller_settings = settings.distiller_settings()
        if distiller_settings is not None:
            result.event_definitions = len(distiller_settings.build().definitions)
    except ConfigError as exc:
        result.errors.append(exc)


def _check_triggers(settings: WinchesterSettings, result: CheckResult) -> None:
    path = _locate(settings, "trigger_definitions", result)
    if path is None:
        return
    try:
        result.triggers = load_triggers(path, warn=result.warnings.append)
    except ConfigError as exc:
        result.errors.append(exc)
        del result.files["trigger_definitions"]


def _check_pipelines(settings: WinchesterSettings, result: CheckResult) -> None:
    path = _locate(settings, "pipeline_config", result)
    if path is None:
        return
    try:
        result.pipelines = load_pipelines(path, set(settings.handler_specs()))
    except ConfigError as exc:
        result.errors.append(exc)
        del result.files["pipeline_config"]


def _check_handlers(settings: WinchesterSettings, result: CheckResult) -> None:
    specs = settings.handler_specs()
    used = {step.name for steps in result.pipelines.values() for step in steps}
    for name in sorted(used | set(settings.pipeline_handlers)):
        spec = specs[name]
        try:
            result.handlers[name] = check_handler(spec)
        except ConfigError as exc:
            result.handlers[name] = "error"
            key = f"pipeline_handlers.{name}"
            result.errors.append(
                ConfigError(
                    exc.reason,
                    source=str(settings.source),
                    key=key,
                    line=settings.line_of(key),
                )
            )


def _check_leases(settings: WinchesterSettings, result: CheckResult) -> None:
    """A WARNING for each handler whose worst case exceeds ``lease_seconds``."""
    specs = settings.handler_specs()
    lease = settings.lease_seconds
    for pipeline, steps in result.pipelines.items():
        for step in steps:
            if result.handlers.get(step.name) != "ok":
                continue
            try:
                seconds = worst_case_seconds(
                    resolve_handler(specs[step.name]), step.params or {}
                )
            except ConfigError as exc:
                result.errors.append(
                    ConfigError(
                        exc.reason,
                        source=step.source,
                        key=f"{pipeline}.{step.name}.{exc.key or 'params'}",
                        line=step.line,
                    )
                )
                continue
            except (TypeError, ValueError):
                continue
            if seconds > lease:
                result.warnings.append(
                    ConfigWarning(
                        f"handler {step.name!r} can take up to {seconds:g} s per "
                        f"run (its retries, waits and timeouts), longer than "
                        f"lease_seconds ({lease:g} s, {settings.source}); the worker "
                        "renews its leases while it works, but a worker that stops "
                        "renewing mid-commit (paused, cut off from the database) "
                        "lets another run the side effects again: raise "
                        f"lease_seconds to at least {seconds:g}",
                        step.source,
                        step.line,
                        f"{pipeline}.{step.name}",
                    )
                )


def _check_logging(settings: WinchesterSettings, result: CheckResult) -> None:
    if settings.logging_config is None:
        return
    source, line = str(settings.source), settings.line_of("logging_config")
    try:
        path = find_file(settings.logging_config, settings.search_path)
    except ConfigError as exc:
        # A warning, so that the original sample sets (which name a logging.conf
        # they do not ship) still check; the daemons refuse to start without it.
        result.warnings.append(
            ConfigWarning(
                f"{exc.reason}; pipeline-worker will not start without it "
                "(create it, or remove logging_config)",
                source,
                line,
                "logging_config",
            )
        )
        return
    result.files["logging_config"] = path
    try:
        check_logging_config(path)
    except ConfigError as exc:
        result.errors.append(
            ConfigError(exc.reason, source=source, key="logging_config", line=line)
        )


def _check_database(settings: WinchesterSettings, result: CheckResult) -> None:
    try:
        check_url(settings.database.url)
    except ConfigError as exc:
        key = "database.url"
        result.errors.append(
            ConfigError(
                exc.reason,
                source=str(settings.source),
                key=key,
                line=settings.line_of(key),
            )
        )


def database_label(settings: WinchesterSettings) -> str:
    """The database URL with its password hidden, for printing."""
    return make_url(settings.database.url).render_as_string(hide_password=True)
