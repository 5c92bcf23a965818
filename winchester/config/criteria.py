"""Criteria: the event tests of trigger definitions, compiled once per definition.

A criterion is a mapping with these keys (all optional)::

    event_type: [compute.instance.*, "!compute.instance.exists"]   # default "*"
    number: 2                       # fire criteria: events needed (default 1)
    timestamp: "day($launched_at)"  # the event's timestamp must be in the result
    traits:
      os_distro: ubuntu             # a constant: type-aware equality
      memory_mb: {int: "> 4096"}    # =, !=, >, <, >=, <= (bare number: =)
      instance_type: {text: m1.small}
      audit_period_ending: {datetime: "$audit_period_beginning + 1d"}
    map_distinguished_by: {timestamp: audit_period_beginning}

Timex expressions (``timestamp`` and ``datetime:``) see every datetime trait of the
event as a variable, plus ``$timestamp`` (the event's own timestamp); one that
names a trait the event lacks does not match. Names ``timestamp``, ``event_type``
and ``message_id`` read the event's envelope (as in ``Event.as_dict``).

Equality is type-aware: an int trait 512 equals ``512`` but not ``"512"``; ints
and floats compare as numbers; ``{text: ...}`` matches text traits only.

:meth:`Criterion.matches` is the hot path (per event, per trigger, at ingest):
event-type globs are one precompiled regex (a set for plain names), each trait
condition one closure. :meth:`Criterion.mismatch` is the slow path that says why
an event does not match, for debug level 2. :func:`build_criterion` raises
:class:`~stacktach.exceptions.ConfigError` naming file, line and key for anything
invalid - including an unknown condition type such as ``numeric:``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import Any

from distiller.event import Event
from stacktach.exceptions import ConfigError
from stacktach.yamlutil import key_line
from winchester import timex
from winchester.config.conditions import (
    Condition,
    build_condition,
    compile_timex,
    in_expression,
    timex_variables,
)
from winchester.config.diagnostics import (
    ConfigWarning,
    WarnFn,
    check_keys,
    fail,
    kind,
    log_warning,
)

__all__ = [
    "CRITERION_KEYS",
    "MISSPELLINGS",
    "Criterion",
    "build_criterion",
    "compile_event_types",
]

CRITERION_KEYS = ("event_type", "number", "timestamp", "traits", "map_distinguished_by")
#: Misspellings accepted with a warning: the original sample triggers.yaml has one.
MISSPELLINGS = {"map_distingushed_by": "map_distinguished_by"}

_GLOB_CHARS = re.compile(r"[*?\[]")


def compile_event_types(globs: list[str]) -> Callable[[str], object] | None:
    """One test for globs with ``!`` exclusions; None when everything matches.

    Only exclusions means "everything but those". Plain names become a set
    lookup; anything else one regex (includes, behind a negative lookahead of
    the excludes).
    """
    includes = [g for g in globs if not g.startswith("!")] or ["*"]
    excludes = [g[1:] for g in globs if g.startswith("!")]
    if not excludes and "*" in includes:
        return None
    if not excludes and not any(_GLOB_CHARS.search(g) for g in includes):
        return frozenset(includes).__contains__
    exclude = "|".join(fnmatch.translate(g) for g in excludes)
    include = "|".join(fnmatch.translate(g) for g in includes)
    pattern = (f"(?!{exclude})" if exclude else "") + f"(?:{include})"
    return re.compile(pattern).match


class Criterion:
    """A compiled criterion; see the module docstring for the format.

    ``event_types`` (the globs), ``number``, ``timestamp`` (an Expression or None),
    ``conditions`` and ``map_distinguished_by`` are read-only attributes;
    ``source``/``line``/``key`` say where it was defined.
    """

    __slots__ = (
        "_checks",
        "_type_test",
        "conditions",
        "event_types",
        "key",
        "line",
        "map_distinguished_by",
        "number",
        "source",
        "timestamp",
    )

    def __init__(
        self,
        event_types: list[str],
        *,
        number: int = 1,
        timestamp: timex.Expression | None = None,
        conditions: tuple[Condition, ...] = (),
        map_distinguished_by: Mapping[str, str] | None = None,
        source: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.event_types = tuple(event_types)
        self.number = number
        self.timestamp = timestamp
        self.conditions = conditions
        self.map_distinguished_by: Mapping[str, str] = dict(map_distinguished_by or {})
        self.source = source
        self.line = line
        self.key = key
        self._type_test = compile_event_types(event_types)
        checks = [c.check for c in conditions]
        if timestamp is not None:
            expr = timestamp
            checks.append(lambda event: in_expression(event.timestamp, expr, event))
        self._checks = tuple(checks)

    def matches(self, event: Event) -> bool:
        """True when ``event`` satisfies every part of this criterion."""
        test = self._type_test
        if test is not None and not test(event.event_type):
            return False
        for check in self._checks:  # noqa: SIM110 - no generator on the hot path
            if not check(event):
                return False
        return True

    def mismatch(self, event: Event) -> str | None:
        """Why ``event`` does not match ("wrong event type", ...); None if it does."""
        test = self._type_test
        if test is not None and not test(event.event_type):
            return "wrong event type"
        for condition in self.conditions:
            reason = condition.reason(event)
            if reason is not None:
                return reason
        if self.timestamp is not None:
            env = timex_variables(event, self.timestamp.variables)
            if isinstance(env, str):
                return f"no datetime trait {env!r} for timestamp"
            if not in_expression(event.timestamp, self.timestamp, event):
                return "not time yet"
        return None

    def __repr__(self) -> str:
        return f"Criterion({list(self.event_types)!r}, number={self.number})"


def build_criterion(
    data: Any,
    *,
    source: str,
    key: str,
    role: str = "match",
    warn: WarnFn | None = None,
    line: int | None = None,
) -> Criterion:
    """Compile one criterion mapping; ``ConfigError`` naming ``key`` if invalid.

    ``key`` is the criterion's key path for messages (``t.match_criteria[0]``);
    ``role`` is ``match``, ``fire`` or ``load`` and only selects warnings (``number``
    counts in fire criteria only, ``map_distinguished_by`` acts in match criteria
    only). The misspelling ``map_distingushed_by`` is accepted with a warning.
    ``line`` is reported when ``data`` is not a mapping (so has no line itself).
    """
    warn = warn or log_warning
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"expected a criterion mapping (event_type, traits, ...), got {kind(data)}",
            source=source,
            key=key,
            line=line,
        )
    check_keys(
        data,
        (*CRITERION_KEYS, *MISSPELLINGS),
        source=source,
        prefix=f"{key}.",
        what="a criterion",
    )
    values = dict(data)
    for wrong, right in MISSPELLINGS.items():
        if wrong not in data:
            continue
        if right in data:
            raise fail(
                f"both {right!r} and its misspelling {wrong!r} are given",
                source=source,
                key=f"{key}.{wrong}",
                mapping=data,
                at=wrong,
            )
        warn(
            ConfigWarning(
                f"misspelling of {right!r}; accepted as {right!r} for compatibility "
                "with the original sample (correct the spelling)",
                source,
                key_line(data, wrong),
                f"{key}.{wrong}",
            )
        )
        values[right] = values.pop(wrong)

    def where(name: str) -> dict[str, Any]:
        at: str | None = name
        if name not in data:
            at = next(
                (w for w, r in MISSPELLINGS.items() if r == name and w in data), None
            )
        return {"source": source, "key": f"{key}.{name}", "mapping": data, "at": at}

    event_types = _event_types(values.get("event_type", "*"), where("event_type"))
    number = values.get("number", 1)
    if number.__class__ is not int or number < 1:
        raise fail(f"expected an integer >= 1, got {kind(number)}", **where("number"))
    if role == "match" and number != 1:
        warn(_note("number counts only in fire_criteria", where("number")))
    stamp = values.get("timestamp")
    expression = None
    if stamp is not None:
        expression = compile_timex(stamp, where("timestamp"))
    traits = values.get("traits") or {}
    if not isinstance(traits, Mapping):
        raise fail(
            f"expected a mapping of trait name -> condition, got {kind(traits)}",
            **where("traits"),
        )
    conditions = tuple(
        build_condition(name, spec, traits, source=source, key=f"{key}.traits.{name}")
        for name, spec in traits.items()
    )
    mapping = _name_map(
        values.get("map_distinguished_by"), where("map_distinguished_by")
    )
    if mapping and role != "match":
        warn(_note("acts only in match_criteria", where("map_distinguished_by")))
    return Criterion(
        event_types,
        number=number,
        timestamp=expression,
        conditions=conditions,
        map_distinguished_by=mapping,
        source=source,
        line=key_line(data),
        key=key,
    )


def _note(message: str, where: dict[str, Any]) -> ConfigWarning:
    return ConfigWarning(
        f"{message}; ignored here",
        where["source"],
        key_line(where["mapping"], where["at"]),
        where["key"],
    )


def _event_types(value: Any, where: dict[str, Any]) -> list[str]:
    globs = [value] if isinstance(value, str) else value
    if not isinstance(globs, list) or not globs:
        raise fail(
            f"expected a glob or a non-empty list of globs, got {kind(value)}", **where
        )
    for glob in globs:
        if not isinstance(glob, str) or glob in ("", "!"):
            raise fail(f"expected a non-empty glob string, got {kind(glob)}", **where)
    return list(globs)


def _name_map(value: Any, where: dict[str, Any]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise fail(
            "expected a mapping of distinguishing trait -> event trait name, "
            f"got {kind(value)}",
            **where,
        )
    return dict(value)
