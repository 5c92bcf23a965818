"""YAML loading that remembers where things are, for precise config errors.

Mappings load as :class:`LineDict` - a ``dict`` that also knows the line it starts
on and the line of each key - so validation can say
``triggers.yaml:12: fire_criteria[0].number: expected an integer``. Anchors, aliases
and ``<<`` merge keys work as in ``yaml.safe_load``; a key written twice in one
mapping is an error (PyYAML would silently keep the last).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from stacktach.exceptions import ConfigError

__all__ = ["LineDict", "describe", "key_line", "load_yaml"]


class LineDict(dict[Any, Any]):
    """A dict loaded from YAML, with ``line`` and ``key_lines`` (1-based)."""

    __slots__ = ("key_lines", "line")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self.key_lines: dict[Any, int] = {}


def describe(value: Any) -> str:
    """A short description of a YAML value for error messages ("a list", "int 7")."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime):
        return f"datetime {value.isoformat()}"
    if isinstance(value, date):
        return f"date {value.isoformat()}"
    return f"{type(value).__name__} {value!r}"


def key_line(mapping: Any, key: Any = None) -> int | None:
    """The line of ``key`` in ``mapping`` (or of the mapping itself), if known."""
    if isinstance(mapping, LineDict):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return None


class _Loader(yaml.SafeLoader):
    """SafeLoader building LineDicts and refusing duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, (list, dict)):
            raise ConfigError(
                "a mapping key must be a scalar", source=loader.name, line=line
            )
        if key in seen:
            raise ConfigError(
                f"key {key!r} appears twice in one mapping (first on line {seen[key]})",
                source=loader.name,
                line=line,
            )
        seen[key] = line
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_yaml(path: str | Path) -> Any:
    """Load one YAML file; any problem is a :class:`ConfigError` naming the file."""
    source = str(path)
    try:
        with open(path, encoding="utf-8") as stream:
            loader = _Loader(stream)
            loader.name = source
            try:
                return loader.get_single_data()
            finally:
                loader.dispose()
    except FileNotFoundError:
        raise ConfigError("file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", source=source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(
            f"invalid YAML: {problem}{column}", source=source, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from None
