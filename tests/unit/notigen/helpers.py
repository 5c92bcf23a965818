"""Helpers for comparing generated notifications with the corpus."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

# Nested objects that are one and the same record wherever they appear: an
# instance's database row (scheduler spec, failed-call args).
_SAME_RECORD = (
    ("request_spec.instance_properties", "<instance>"),
    ("instance_properties", "<instance>"),
    ("args.instance", "<instance>"),
)


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every dict key below ``value``; list items add ``[]``."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, prefix + "[]")
    return paths


def canonical(path: str) -> str:
    """Name an instance record the same way wherever it is nested."""
    for prefix, name in _SAME_RECORD:
        if path == prefix or path.startswith(prefix + "."):
            return name + path[len(prefix) :]
    return path


def union_and_intersection(
    samples: Iterable[tuple[str, set[str]]],
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per key (event type): the union and the intersection of the sets."""
    union: dict[str, set[str]] = defaultdict(set)
    inter: dict[str, set[str]] = {}
    for key, values in samples:
        union[key] |= values
        inter[key] = set(values) if key not in inter else inter[key] & values
    return dict(union), inter
