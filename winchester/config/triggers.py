"""``triggers.yaml``: trigger definitions, loaded, validated and compiled once.

The file is a list of triggers::

    - name: usage_audit                 # required, unique in the file
      debug_level: 2                    # 0 (default), 1 counts, 2 counts + reasons
      distinguished_by: [instance_id, {timestamp: day}]
      expiration: "$last + 2d"          # required; $first / $last only
      fire_pipeline: usage_fire         # at least one of the two pipelines
      expire_pipeline: usage_expire
      fire_delay: 0                     # seconds after the fire criteria hold
      match_criteria: [...]             # required, OR: the first that matches is used
      fire_criteria: [...]              # required, AND, each `number` times
      load_criteria: [...]              # accepted for compatibility; unused (warning)

Criteria are described in :mod:`winchester.config.criteria`. A
``distinguished_by`` entry is a trait name (its value is the key) or
``{trait: "<timex>"}`` evaluated with ``$timestamp`` = the trait's value, whose
range (``day`` gives one stream per calendar day) is the key. The matching
criterion's ``map_distinguished_by`` takes a distinguishing value from another
trait: ``{timestamp: audit_period_beginning}`` files the end-of-day
``compute.instance.exists`` under the day it audits. An event lacking a
distinguishing trait (after mapping) does not match.

The original sample's misspelling ``map_distingushed_by`` is accepted with a
warning; any other unknown key is an error with "did you mean".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stacktach.exceptions import ConfigError
from stacktach.yamlutil import key_line, load_yaml
from winchester import timex
from winchester.config.criteria import Criterion, build_criterion
from winchester.config.definition import Match, TriggerDefinition
from winchester.config.diagnostics import (
    ConfigWarning,
    WarnFn,
    check_keys,
    did_you_mean,
    fail,
    kind,
    log_warning,
)

__all__ = [
    "EXPIRATION_VARIABLES",
    "TRIGGER_KEYS",
    "Match",
    "TriggerDefinition",
    "build_triggers",
    "load_triggers",
]

TRIGGER_KEYS = (
    "name",
    "debug_level",
    "distinguished_by",
    "expiration",
    "fire_pipeline",
    "expire_pipeline",
    "fire_delay",
    "match_criteria",
    "fire_criteria",
    "load_criteria",
)
#: ``$timestamp`` is accepted in ``expiration`` too: it is ``$last``.
EXPIRATION_VARIABLES = frozenset({"first", "last", "timestamp"})


def load_triggers(
    path: str | Path, *, warn: WarnFn | None = None
) -> list[TriggerDefinition]:
    """Load and compile a ``triggers.yaml`` file.

    Raises :class:`~stacktach.exceptions.ConfigError` as ``file:line: key: message``;
    warnings (the misspelling, ``load_criteria``) go to ``warn``, by default to the
    ``winchester.config`` logger.
    """
    return build_triggers(load_yaml(path), source=str(path), warn=warn)


def build_triggers(
    data: Any, *, source: str = "<triggers>", warn: WarnFn | None = None
) -> list[TriggerDefinition]:
    """Compile already-parsed trigger definitions (a list of mappings)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError(
            f"expected a list of trigger definitions, got {kind(data)}",
            source=source,
            line=key_line(data),
        )
    seen: dict[str, int | None] = {}
    triggers = []
    for index, item in enumerate(data):
        trigger = _Builder(source, warn or log_warning).trigger(index, item)
        if trigger.name in seen:
            first = seen[trigger.name]
            raise fail(
                f"duplicate trigger name (first defined on line {first})",
                source=source,
                key=trigger.name,
                mapping=item,
                at="name",
            )
        seen[trigger.name] = trigger.line
        triggers.append(trigger)
    return triggers


class _Builder:
    """Validates one trigger mapping, producing precise errors."""

    def __init__(self, source: str, warn: WarnFn) -> None:
        self.source = source
        self.warn = warn
        self.label = ""
        self.item: Mapping[str, Any] = {}

    def fail(self, key: str, message: str, line: int | None = None) -> ConfigError:
        at = key.split(".", maxsplit=1)[0].split("[", maxsplit=1)[0]
        return ConfigError(
            message,
            source=self.source,
            key=f"{self.label}.{key}",
            line=line or key_line(self.item, at if at in self.item else None),
        )

    def trigger(self, index: int, item: Any) -> TriggerDefinition:
        self.label = f"trigger #{index + 1}"
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"expected a trigger definition mapping, got {kind(item)}",
                source=self.source,
                key=self.label,
            )
        self.item = item
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("name", f"required: a non-empty string, got {kind(name)}")
        self.label = name
        check_keys(
            item, TRIGGER_KEYS, source=self.source, prefix=f"{name}.", what="a trigger"
        )
        for key in ("expiration", "match_criteria", "fire_criteria"):
            if key not in item:
                raise self.fail(key, "required key is missing")
        debug_level = item.get("debug_level", 0)
        if debug_level.__class__ is not int or debug_level not in (0, 1, 2):
            raise self.fail(
                "debug_level", f"expected 0, 1 or 2, got {kind(debug_level)}"
            )
        pipelines = {k: self.pipeline(k) for k in ("fire_pipeline", "expire_pipeline")}
        if not any(pipelines.values()):
            raise self.fail(
                "fire_pipeline", "give fire_pipeline, expire_pipeline or both"
            )
        delay = item.get("fire_delay", 0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
            raise self.fail("fire_delay", f"expected seconds >= 0, got {kind(delay)}")
        load: tuple[Criterion, ...] = ()
        if "load_criteria" in item:
            self.warn(
                self.note("load_criteria", "accepted but unused (as in the original)")
            )
            load = self.criteria("load_criteria", "load", required=False)
        expiration = self.expiration()
        distinguished_by = self.distinguished_by()
        match_criteria = self.criteria("match_criteria", "match")
        self.check_maps(match_criteria, [name for name, _ in distinguished_by])
        return TriggerDefinition(
            name,
            expiration=expiration,
            match_criteria=match_criteria,
            fire_criteria=self.criteria("fire_criteria", "fire"),
            distinguished_by=distinguished_by,
            fire_pipeline=pipelines["fire_pipeline"],
            expire_pipeline=pipelines["expire_pipeline"],
            fire_delay=delay,
            debug_level=debug_level,
            load_criteria=load,
            source=self.source,
            line=key_line(item),
            lines={k: line for k in item if (line := key_line(item, k)) is not None},
        )

    def check_maps(self, criteria: tuple[Criterion, ...], names: list[str]) -> None:
        """A map_distinguished_by key must be a distinguishing trait."""
        raw = self.item["match_criteria"]
        for number, criterion in enumerate(criteria):
            for dist in criterion.map_distinguished_by:
                if dist in names:
                    continue
                spelled = next(k for k in raw[number] if k.startswith("map_"))
                mapping = raw[number][spelled]
                raise self.fail(
                    f"match_criteria[{number}].{spelled}.{dist}",
                    f"{dist!r} is not in distinguished_by"
                    f"{did_you_mean(dist, names) if names else ' (it is empty)'}",
                    key_line(mapping, dist),
                )

    def note(self, key: str, message: str) -> ConfigWarning:
        return ConfigWarning(
            message, self.source, key_line(self.item, key), f"{self.label}.{key}"
        )

    def pipeline(self, key: str) -> str | None:
        value = self.item.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.fail(key, f"expected a pipeline name, got {kind(value)}")
        return value

    def expiration(self) -> timex.Expression:
        expr = self.parse_timex("expiration", self.item["expiration"])
        extra = expr.variables - EXPIRATION_VARIABLES
        if extra:
            names = ", ".join(f"${v}" for v in sorted(extra))
            raise self.fail(
                "expiration",
                f"may use only $first and $last (and $timestamp, which is $last), "
                f"not {names}",
            )
        return expr

    def parse_timex(
        self, key: str, text: Any, line: int | None = None
    ) -> timex.Expression:
        if not isinstance(text, str):
            raise self.fail(key, f"expected a timex expression, got {kind(text)}", line)
        try:
            return timex.compile(text)
        except timex.TimexError as exc:
            raise self.fail(key, str(exc), line) from None

    def distinguished_by(self) -> tuple[tuple[str, timex.Expression | None], ...]:
        value = self.item.get("distinguished_by") or []
        if not isinstance(value, list):
            raise self.fail("distinguished_by", f"expected a list, got {kind(value)}")
        parts: list[tuple[str, timex.Expression | None]] = []
        for number, entry in enumerate(value):
            key = f"distinguished_by[{number}]"
            expr = None
            trait = entry
            if isinstance(entry, Mapping):
                line = key_line(entry)
                if len(entry) != 1:
                    raise self.fail(
                        key, "expected one {trait: <timex expression>} pair", line
                    )
                trait, text = next(iter(entry.items()))
                expr = self.parse_timex(key, text, line)
                if not expr.variables <= {"timestamp"}:
                    raise self.fail(
                        key,
                        "the expression may use only $timestamp (the trait's value)",
                        line,
                    )
            if not isinstance(trait, str) or not trait:
                raise self.fail(key, f"expected a trait name, got {kind(trait)}")
            if trait in (name for name, _ in parts):
                raise self.fail(key, f"trait {trait!r} is listed twice")
            parts.append((trait, expr))
        return tuple(parts)

    def criteria(
        self, key: str, role: str, *, required: bool = True
    ) -> tuple[Criterion, ...]:
        value = self.item.get(key)
        if value is None and not required:
            return ()
        if not isinstance(value, list) or (required and not value):
            hint = " (use '- event_type: \"*\"' to match any event)" if required else ""
            raise self.fail(
                key, f"expected a non-empty list of criteria{hint}, got {kind(value)}"
            )
        return tuple(
            build_criterion(
                entry,
                source=self.source,
                key=f"{self.label}.{key}[{number}]",
                role=role,
                warn=self.warn,
                line=key_line(self.item, key),
            )
            for number, entry in enumerate(value)
        )
