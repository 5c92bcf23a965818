"""``pipelines.yaml``: pipeline name -> the handlers it runs, in order.

::

    usage_fire:
      - logger                          # a handler name
      - name: notabene                  # or a name with constructor parameters
        params: {exchange: nova, queue_name: monitor.info}

Handler names are those of ``winchester.yaml``'s ``pipeline_handlers`` plus the
built-ins (see :mod:`winchester.config.handlers`); an unknown one is an error
naming file, line and pipeline, with "did you mean". :func:`check_references`
checks that every pipeline a trigger names exists. Nothing here imports handler
classes: ``check-config`` does that.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktach.exceptions import ConfigError
from stacktach.yamlutil import key_line, load_yaml
from winchester.config.diagnostics import check_keys, did_you_mean, fail, kind
from winchester.config.triggers import TriggerDefinition

__all__ = [
    "HandlerSpec",
    "build_pipelines",
    "check_references",
    "load_pipelines",
    "reference_errors",
]

_ENTRY_KEYS = ("name", "params")


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """One step of a pipeline: the handler's name and its constructor keywords.

    ``params`` is plain data (dicts, lists, scalars) from the YAML; ``source`` and
    ``line`` say where the step was written.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)


def load_pipelines(
    path: str | Path, handler_names: Collection[str]
) -> dict[str, list[HandlerSpec]]:
    """Load and validate a ``pipelines.yaml`` file.

    ``handler_names`` are the names a step may use (``settings.handler_specs()``).
    Raises :class:`~stacktach.exceptions.ConfigError` as ``file:line: key: message``.
    """
    return build_pipelines(load_yaml(path), handler_names, source=str(path))


def build_pipelines(
    data: Any, handler_names: Collection[str], *, source: str = "<pipelines>"
) -> dict[str, list[HandlerSpec]]:
    """Validate already-parsed pipelines (a mapping of name -> list of steps)."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            "expected a mapping of pipeline name -> list of handlers, "
            f"got {kind(data)}",
            source=source,
            line=key_line(data),
        )
    known = set(handler_names)
    pipelines: dict[str, list[HandlerSpec]] = {}
    for name, steps in data.items():
        where: dict[str, Any] = {"source": source, "mapping": data, "at": name}
        if not isinstance(name, str) or not name:
            raise fail(
                f"pipeline name must be a string, got {kind(name)}",
                key=str(name),
                **where,
            )
        if not isinstance(steps, list) or not steps:
            raise fail(
                f"expected a non-empty list of handlers, got {kind(steps)}",
                key=name,
                **where,
            )
        pipelines[name] = [
            _step(step, known, source=source, key=f"{name}[{number}]", where=where)
            for number, step in enumerate(steps)
        ]
    return pipelines


def _step(
    step: Any, known: set[str], *, source: str, key: str, where: dict[str, Any]
) -> HandlerSpec:
    line = key_line(where["mapping"], where["at"])
    params: Mapping[str, Any] = {}
    if isinstance(step, str):
        name = step
    elif isinstance(step, Mapping):
        check_keys(
            step, _ENTRY_KEYS, source=source, prefix=f"{key}.", what="a pipeline step"
        )
        line = key_line(step) or line
        given = step.get("name")
        if not isinstance(given, str) or not given:
            raise ConfigError(
                f"required: the handler name, got {kind(given)}",
                source=source,
                key=f"{key}.name",
                line=line,
            )
        name = given
        params = step.get("params") or {}
        if not isinstance(params, Mapping) or not all(
            isinstance(k, str) for k in params
        ):
            raise ConfigError(
                f"expected a mapping of keyword -> value, got {kind(params)}",
                source=source,
                key=f"{key}.params",
                line=key_line(step, "params"),
            )
    else:
        raise ConfigError(
            f"expected a handler name or {{name, params}}, got {kind(step)}",
            source=source,
            key=key,
            line=line,
        )
    if name not in known:
        raise ConfigError(
            f"unknown handler {name!r}{did_you_mean(name, known)} "
            "(handlers are the built-ins and winchester.yaml's pipeline_handlers)",
            source=source,
            key=key,
            line=line,
        )
    return HandlerSpec(name, _plain(params), source, line)


def _plain(value: Any) -> Any:
    """YAML data without the line bookkeeping: plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def reference_errors(
    triggers: Iterable[TriggerDefinition],
    pipelines: Mapping[str, object],
    *,
    pipelines_source: str | None = None,
) -> list[ConfigError]:
    """One error per trigger pipeline that ``pipelines`` lacks, naming the trigger."""
    errors = []
    where = f" in {pipelines_source}" if pipelines_source else ""
    for trigger in triggers:
        for key in ("fire_pipeline", "expire_pipeline"):
            name = getattr(trigger, key)
            if name is not None and name not in pipelines:
                errors.append(
                    ConfigError(
                        f"no pipeline {name!r}{where}{did_you_mean(name, pipelines)}",
                        source=trigger.source,
                        key=f"{trigger.name}.{key}",
                        line=trigger.lines.get(key, trigger.line),
                    )
                )
    return errors


def check_references(
    triggers: Iterable[TriggerDefinition], pipelines: Mapping[str, object]
) -> None:
    """Raise the first :func:`reference_errors` error, if any."""
    errors = reference_errors(triggers, pipelines)
    if errors:
        raise errors[0]
