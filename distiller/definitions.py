"""Event definitions: loading and validating ``event_definitions.yaml``.

The file is a list of definitions; each has an ``event_type`` (a glob or a list of
globs, ``!glob`` excludes) and ``traits`` (name -> ``{fields, type, plugin}``). The
**last** definition that matches a notification's event type is used, so general
definitions come first and YAML merge keys (``<<: *instance_traits``) build the
specific ones. Both stackdistiller's files and Ceilometer's load unchanged.

Every definition gets default traits (a definition can override them by name):

* stackdistiller mode: ``service`` (``publisher_id``), ``request_id``
  (``_context_request_id``), ``tenant_id`` (``payload.tenant_id``, else
  ``_context_tenant``);
* Ceilometer mode: Ceilometer's converter's defaults - ``service``,
  ``request_id`` (``ctxt.request_id``), ``project_id`` and ``tenant_id``
  (``payload.tenant_id``, else ``ctxt.project_id``), ``user_id`` (``payload.user_id``,
  else ``ctxt.user_id``). Ceilometer reads ``ctxt.<key>`` from the message context,
  which on the wire is the flat ``_context_<key>`` keys, so paths starting with
  ``ctxt.`` read those; ``metadata.message_id`` and ``metadata.timestamp`` read the
  envelope keys.

Validation is strict: anything wrong raises :class:`DefinitionError` naming the
file, the line, the definition (its position and event type) and the key.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from distiller.compiled import TraitsExtractor, compile_traits
from distiller.convert import CONVERTERS, TraitConversionError, to_text
from distiller.event import TraitType, TraitValue
from distiller.jsonpath import JSONPathError, compile_union
from distiller.plugins import BUILTIN_PLUGINS
from distiller.traitplugin import adapt
from stacktach import plugins as plugin_loader
from stacktach.exceptions import ConfigError
from stacktach.yamlutil import describe, key_line, load_yaml

__all__ = [
    "CEILOMETER_DEFAULT_TRAITS",
    "DEFAULT_TRAITS",
    "DefinitionError",
    "EventDefinition",
    "TraitDefinition",
    "build_definitions",
    "load_definitions",
]

Extractor = Callable[[dict[str, Any]], TraitValue | None]

DEFAULT_TRAITS: dict[str, dict[str, Any]] = {
    "service": {"type": "text", "fields": "publisher_id"},
    "request_id": {"type": "text", "fields": "_context_request_id"},
    "tenant_id": {"type": "text", "fields": ["payload.tenant_id", "_context_tenant"]},
}

# As Ceilometer's current converter (openstack/ceilometer,
# ceilometer/event/converter.py, the default traits): the project and the tenant
# come from the payload's ``tenant_id``, else the context's ``project_id`` (older
# releases read the context's ``tenant``, which newer oslo.context no longer
# writes). Pinned by tests/unit/distiller/test_ceilometer_defaults.py.
CEILOMETER_DEFAULT_TRAITS: dict[str, dict[str, Any]] = {
    "service": {"type": "text", "fields": "publisher_id"},
    "request_id": {"type": "text", "fields": "ctxt.request_id"},
    "project_id": {
        "type": "text",
        "fields": ["payload.tenant_id", "ctxt.project_id"],
    },
    "user_id": {"type": "text", "fields": ["payload.user_id", "ctxt.user_id"]},
    "tenant_id": {
        "type": "text",
        "fields": ["payload.tenant_id", "ctxt.project_id"],
    },
}

_DEFINITION_KEYS = ("event_type", "traits")
_TRAIT_KEYS = ("fields", "type", "plugin")
_PLUGIN_KEYS = ("name", "parameters")
_TYPE_NAMES = "text, int, float, datetime"


class DefinitionError(ConfigError):
    """An event definitions file is invalid."""


def ceilometer_rewrite(head: str) -> str:
    """Map Ceilometer's ``ctxt.x`` / ``metadata.x`` path heads onto a flat message."""
    first, _, second = head.partition(".")
    if first == "ctxt":
        return f"_context_{second}"
    if first == "metadata" and second in ("message_id", "timestamp"):
        return second
    return head


class TraitDefinition:
    """One compiled trait: name, type and the function that extracts it."""

    __slots__ = ("_path", "apply_plugin", "extract", "name", "plugin", "trait_type")

    def __init__(
        self,
        name: str,
        trait_type: TraitType,
        fields: list[str],
        plugin: Callable[[list[tuple[str, Any]]], Any] | None,
        *,
        rewrite: Callable[[str], str] | None = None,
    ) -> None:
        self.name = name
        self.trait_type = trait_type
        self.plugin = plugin
        path = compile_union(fields, rewrite=rewrite)
        self._path = path
        #: The plugin's value of a match list, converted (None: no plugin).
        self.apply_plugin: Callable[[list[tuple[str, Any]]], TraitValue | None] | None
        self.apply_plugin = (
            None if plugin is None else _plugin_applier(plugin, CONVERTERS[trait_type])
        )
        self.extract: Extractor = _make_extractor(
            path.first, path.matches, trait_type, self.apply_plugin
        )

    def key_chains(self) -> list[tuple[str, ...]] | None:
        """The keys of each alternative of the fields when every one is a chain
        of plain keys (what :mod:`distiller.compiled` inlines), else None."""
        return self._path.key_chains()


def _plugin_applier(
    plugin: Callable[[list[tuple[str, Any]]], Any],
    convert: Callable[[Any], TraitValue | None],
) -> Callable[[list[tuple[str, Any]]], TraitValue | None]:
    def apply_plugin(found: list[tuple[str, Any]]) -> TraitValue | None:
        try:
            value = plugin(found)
        except Exception as exc:
            raise TraitConversionError(
                f"plugin failed: {type(exc).__name__}: {exc}"
            ) from exc
        return None if value is None else convert(value)

    return apply_plugin


def _make_extractor(
    first: Callable[[Any], Any],
    matches: Callable[[Any], list[tuple[str, Any]]],
    trait_type: TraitType,
    apply_plugin: Callable[[list[tuple[str, Any]]], TraitValue | None] | None,
) -> Extractor:
    convert = CONVERTERS[trait_type]
    if apply_plugin is not None:
        plugin_fn = apply_plugin

        def extract_with_plugin(body: dict[str, Any]) -> TraitValue | None:
            return plugin_fn(matches(body))

        return extract_with_plugin
    if trait_type is TraitType.TEXT:

        def extract_text(body: dict[str, Any]) -> TraitValue | None:
            value = first(body)
            if value is None or value.__class__ is str:
                return value
            return to_text(value)

        return extract_text

    def extract_typed(body: dict[str, Any]) -> TraitValue | None:
        value = first(body)
        return None if value is None else convert(value)

    return extract_typed


class EventDefinition:
    """One entry of the definitions list, compiled."""

    __slots__ = (
        "_exclude",
        "_include",
        "event_types",
        "extract_traits",
        "index",
        "is_catchall",
        "traits",
    )

    def __init__(
        self, index: int, event_types: list[str], traits: list[TraitDefinition]
    ) -> None:
        self.index = index
        self.event_types = event_types
        includes = [t for t in event_types if not t.startswith("!")]
        excludes = [t[1:] for t in event_types if t.startswith("!")]
        if excludes and not includes:
            includes = ["*"]
        self.is_catchall = "*" in includes and not excludes
        self._include = _glob_regex(includes)
        self._exclude = _glob_regex(excludes)
        self.traits = tuple(traits)
        self.extract_traits: TraitsExtractor = compile_traits(self.traits)

    def matches(self, event_type: str) -> bool:
        """True when ``event_type`` matches an include glob and no exclude glob."""
        if self._include is None or not self._include.match(event_type):
            return False
        return self._exclude is None or not self._exclude.match(event_type)

    def __repr__(self) -> str:
        return f"EventDefinition(#{self.index}, {self.event_types!r})"


def _glob_regex(globs: list[str]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


def load_definitions(
    path: str | Path,
    *,
    ceilometer: bool = False,
    plugins: Mapping[str, Any] | None = None,
) -> list[EventDefinition]:
    """Load and compile an ``event_definitions.yaml`` file.

    ``plugins`` adds trait plugin names (name -> class or import string) to the
    built-in ones. Raises :class:`DefinitionError` (a ``ConfigError``).
    """
    try:
        data = load_yaml(path)
    except ConfigError as exc:
        raise DefinitionError(exc.reason, source=exc.source, line=exc.line) from None
    return build_definitions(
        data, source=str(path), ceilometer=ceilometer, plugins=plugins
    )


def build_definitions(
    data: Any,
    *,
    source: str = "<definitions>",
    ceilometer: bool = False,
    plugins: Mapping[str, Any] | None = None,
) -> list[EventDefinition]:
    """Compile already-parsed definitions (a list of mappings)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise DefinitionError(
            f"expected a list of event definitions, got {describe(data)}",
            source=source,
            line=key_line(data),
        )
    aliases: dict[str, Any] = dict(BUILTIN_PLUGINS)
    aliases.update(plugins or {})
    defaults = CEILOMETER_DEFAULT_TRAITS if ceilometer else DEFAULT_TRAITS
    rewrite = ceilometer_rewrite if ceilometer else None
    builder = _Builder(source, aliases, rewrite)
    compiled_defaults = [
        builder.trait(name, cfg, None, "default traits")
        for name, cfg in defaults.items()
    ]
    return [
        builder.definition(index, item, compiled_defaults)
        for index, item in enumerate(data)
    ]


class _Builder:
    """Validates and compiles definitions, producing precise errors."""

    def __init__(
        self, source: str, aliases: dict[str, Any], rewrite: Callable[[str], str] | None
    ) -> None:
        self.source = source
        self.aliases = aliases
        self.rewrite = rewrite
        self.total = 0

    def fail(
        self, where: str, message: str, mapping: Any = None, key: Any = None
    ) -> DefinitionError:
        return DefinitionError(
            message, source=self.source, key=where, line=key_line(mapping, key)
        )

    def known_keys(
        self, prefix: str, mapping: dict[Any, Any], allowed: tuple[str, ...], what: str
    ) -> None:
        """Raise for the first key of ``mapping`` that is not in ``allowed``."""
        for key in mapping:
            if key not in allowed:
                raise self.fail(
                    f"{prefix}{key}",
                    f"unknown key; {what} has only {', '.join(allowed)}",
                    mapping,
                    key,
                )

    def definition(
        self, index: int, item: Any, defaults: list[TraitDefinition]
    ) -> EventDefinition:
        label = f"definition #{index + 1}"
        if not isinstance(item, dict):
            raise self.fail(
                label,
                f"expected a mapping with event_type and traits, got {describe(item)}",
                item,
            )
        event_type = item.get("event_type")
        if isinstance(event_type, str):
            label += f" (event_type {event_type!r})"
        elif isinstance(event_type, list) and event_type:
            more = ", ..." if len(event_type) > 1 else ""
            label += f" (event_type {event_type[0]!r}{more})"
        self.known_keys(f"{label}: ", item, _DEFINITION_KEYS, "a definition")
        for key in _DEFINITION_KEYS:
            if key not in item:
                raise self.fail(f"{label}: {key}", "required key is missing", item)
        types = self.event_types(label, item)
        traits_cfg = item["traits"]
        if traits_cfg is None:
            traits_cfg = {}
        if not isinstance(traits_cfg, dict):
            raise self.fail(
                f"{label}: traits",
                "expected a mapping of trait name -> definition, "
                f"got {describe(traits_cfg)}",
                item,
                "traits",
            )
        traits = {t.name: t for t in defaults}
        for name, cfg in traits_cfg.items():
            if not isinstance(name, str) or not name:
                raise self.fail(
                    f"{label}: traits",
                    f"trait name must be a string, got {name!r}",
                    traits_cfg,
                    name,
                )
            traits[name] = self.trait(name, cfg, traits_cfg, label)
        return EventDefinition(index, types, list(traits.values()))

    def event_types(self, label: str, item: dict[str, Any]) -> list[str]:
        value = item["event_type"]
        types = [value] if isinstance(value, str) else value
        if not isinstance(types, list) or not types:
            raise self.fail(
                f"{label}: event_type",
                f"expected a glob or a non-empty list of globs, got {describe(value)}",
                item,
                "event_type",
            )
        for number, glob in enumerate(types):
            if not isinstance(glob, str) or glob in ("", "!"):
                raise self.fail(
                    f"{label}: event_type[{number}]",
                    f"expected a non-empty string, got {glob!r}",
                    item,
                    "event_type",
                )
        return list(types)

    def trait(self, name: str, cfg: Any, parent: Any, label: str) -> TraitDefinition:
        where = f"{label}: traits.{name}"
        if not isinstance(cfg, dict):
            raise self.fail(
                where,
                f"expected a mapping with 'fields', got {describe(cfg)}",
                parent,
                name,
            )
        self.known_keys(f"{where}.", cfg, _TRAIT_KEYS, "a trait")
        if "fields" not in cfg:
            raise self.fail(f"{where}.fields", "required key is missing", cfg)
        fields = cfg["fields"]
        field_list = [fields] if isinstance(fields, str) else fields
        if (
            not isinstance(field_list, list)
            or not field_list
            or not all(isinstance(f, str) and f.strip() for f in field_list)
        ):
            raise self.fail(
                f"{where}.fields",
                "expected a JSONPath string or a non-empty list of them, "
                f"got {fields!r}",
                cfg,
                "fields",
            )
        type_name = cfg.get("type", "text")
        try:
            trait_type = TraitType.by_name(type_name)
        except (KeyError, TypeError):
            raise self.fail(
                f"{where}.type",
                f"unknown type {type_name!r}; expected one of {_TYPE_NAMES}",
                cfg,
                "type",
            ) from None
        plugin = self.plugin(where, cfg) if "plugin" in cfg else None
        try:
            return TraitDefinition(
                name, trait_type, field_list, plugin, rewrite=self.rewrite
            )
        except JSONPathError as exc:
            raise self.fail(f"{where}.fields", str(exc), cfg, "fields") from None

    def plugin(
        self, where: str, cfg: dict[str, Any]
    ) -> Callable[[list[tuple[str, Any]]], Any]:
        spec = cfg["plugin"]
        where = f"{where}.plugin"
        if isinstance(spec, str):
            name, params = spec, cast(dict[str, Any], {})
        elif isinstance(spec, dict):
            self.known_keys(f"{where}.", spec, _PLUGIN_KEYS, "a plugin")
            if "name" not in spec:
                raise self.fail(f"{where}.name", "plugin given without a name", spec)
            name = spec["name"]
            params = spec.get("parameters") or {}
            if not isinstance(params, dict):
                raise self.fail(
                    f"{where}.parameters",
                    f"expected a mapping, got {describe(params)}",
                    spec,
                    "parameters",
                )
        else:
            raise self.fail(
                where,
                f"expected a plugin name or {{name, parameters}}, got {describe(spec)}",
                cfg,
                "plugin",
            )
        try:
            factory = plugin_loader.load(name, self.aliases, kind="trait plugin")
        except ConfigError as exc:
            raise self.fail(
                f"{where}.name",
                exc.reason,
                spec if isinstance(spec, dict) else cfg,
                "name" if isinstance(spec, dict) else "plugin",
            ) from None
        line_source = spec if isinstance(spec, dict) else cfg
        if not inspect.isclass(factory):
            raise self.fail(
                f"{where}.name",
                f"{name!r} is not a class (got {describe(factory)})",
                line_source,
            )
        _check_parameters(self, where, name, factory, params, line_source)
        try:
            instance = factory(**params)
        except (TypeError, ValueError) as exc:
            raise self.fail(
                f"{where}.parameters",
                f"plugin {name!r}: {exc}",
                line_source,
                "parameters",
            ) from None
        try:
            return adapt(instance)
        except TypeError as exc:
            raise self.fail(f"{where}.name", str(exc), line_source) from None


def _check_parameters(
    builder: _Builder,
    where: str,
    name: str,
    factory: Any,
    params: dict[str, Any],
    line_source: Any,
) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    accepted = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    for key in params:
        if key not in accepted:
            raise builder.fail(
                f"{where}.parameters.{key}",
                f"plugin {name!r} has no parameter {key!r} "
                f"(it takes: {', '.join(accepted) or 'none'})",
                params,
                key,
            )
