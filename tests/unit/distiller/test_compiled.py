"""The generated trait extractor against the loop over each trait's extractor.

Both must give the same traits (same values, same types, same order) and the
same failures, on the whole corpus and on corpus notifications whose values
were swapped for every awkward kind of value a notification can carry.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from distiller import Distiller, NotificationRejected
from distiller.convert import TraitConversionError
from distiller.definitions import EventDefinition, build_definitions
from tests.conftest import corpus_files

DEFINITIONS = [
    "event_definitions.yaml",
    "winchester-etc/event_definitions.yaml",
    "stackdistiller-etc/event_definitions.yaml",
    "ceilometer_event_definitions.yaml",
]

#: What a field can hold instead of what the corpus has there.
AWKWARD: list[Any] = [
    None,
    "",
    " 42 ",
    "4.5",
    "not a number",
    "2014-05-01 00:45:00.805827",
    "2014-05-1510: 24: 56",
    0,
    -1,
    2**63,
    1.5,
    7.0,
    float("inf"),
    True,
    False,
    [],
    [1, "a"],
    {},
    {"uuid": "nested", "kwargs": {"uuid": "deeper"}},
]


def looped(
    definition: EventDefinition, body: dict[str, Any]
) -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
    """The traits and failures as the distiller computed them trait by trait."""
    traits: dict[str, Any] = {}
    failed: list[tuple[str, str]] = []
    for trait in definition.traits:
        try:
            value = trait.extract(body)
        except TraitConversionError as exc:
            failed.append((trait.name, str(exc)))
            continue
        if value is not None:
            traits[trait.name] = value
    return typed(traits), failed


def generated(
    definition: EventDefinition, body: dict[str, Any]
) -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
    traits, failed = definition.extract_traits(body)
    return typed(traits), failed or []


def typed(traits: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(name, (type(value), value)) for name, value in traits.items()]


def bodies(corpus: Path, distiller: Distiller) -> list[tuple[dict[str, Any], str]]:
    """Each corpus notification that has a definition, as the distiller sees it."""
    found = []
    for path in corpus_files(corpus):
        for line in path.read_bytes().splitlines():
            try:
                event = distiller.distill_json(line)
            except NotificationRejected:
                continue
            if event is not None:
                found.append(
                    (distiller._envelope(orjson.loads(line)), event.event_type)
                )
    return found


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaves(v, (*path, k))] + [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaves(v, (*path, i))] + [path]
    return [path]


def replaced(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return body
    changed = copy.deepcopy(body)
    holder = changed
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = copy.deepcopy(value)
    return changed


@pytest.mark.parametrize(
    "ceilometer", [False, True], ids=["stackdistiller", "ceilometer"]
)
@pytest.mark.parametrize("definitions", DEFINITIONS)
def test_the_corpus_and_its_awkward_variants_give_what_the_loop_gives(
    corpus: Path, definitions: str, ceilometer: bool
) -> None:
    distiller = Distiller.from_file(
        corpus / "config" / definitions, ceilometer=ceilometer
    )
    rng = random.Random(f"{definitions}-{ceilometer}")
    compared = failures = 0
    for body, event_type in bodies(corpus, distiller):
        definition = distiller.definition_for(event_type)
        assert definition is not None
        assert generated(definition, body) == looped(definition, body)
        compared += 1
        for path in rng.sample(leaves(body), min(12, len(leaves(body)))):
            for value in rng.sample(AWKWARD, 4):
                variant = replaced(body, path, value)
                want = looped(definition, variant)
                assert generated(definition, variant) == want, (path, value)
                failures += len(want[1])
                compared += 1
    assert compared > 5000
    assert failures > 0  # the variants did reach conversions that fail


def test_each_kind_of_trait_and_failure_is_kept_apart() -> None:
    (definition,) = build_definitions(
        [
            {
                "event_type": "*",
                "traits": {
                    "id": {"fields": ["payload.missing", "payload.instance_id"]},
                    "memory": {"type": "int", "fields": "payload.memory_mb"},
                    "disk": {"type": "int", "fields": "payload.disk_gb"},
                    "dotted": {"fields": "payload.image_meta.'org.openstack__1__os'"},
                    "whole": {"fields": "payload.image_meta"},
                    "host": {
                        "fields": "publisher_id",
                        "plugin": {"name": "split", "parameters": {"segment": 1}},
                    },
                    "first_ip": {"fields": "payload.fixed_ips[0].address"},
                },
            }
        ]
    )
    body = {
        "publisher_id": "compute.host-1",
        "payload": {
            "instance_id": "i-1",
            "memory_mb": "lots",
            "disk_gb": 2**64,
            "image_meta": {"org.openstack__1__os": "linux", "b": 1, "a": [True]},
            "fixed_ips": [{"address": "10.0.0.1"}],
        },
    }
    traits, failed = definition.extract_traits(body)
    assert traits == {
        "service": "compute.host-1",  # a default trait
        "id": "i-1",
        "dotted": "linux",
        "whole": '{"a":[true],"b":1,"org.openstack__1__os":"linux"}',
        "host": "host-1",
        "first_ip": "10.0.0.1",
    }
    assert [name for name, _ in failed or []] == ["memory", "disk"]
    assert generated(definition, body) == looped(definition, body)
    # payload is not an object: nothing under it, and nothing fails
    assert definition.extract_traits({"publisher_id": "c.h", "payload": "x"}) == (
        {"service": "c.h", "host": "h"},
        None,
    )


def test_split_pieces_taken_inline_match_the_plugin() -> None:
    """The split plugin's piece is taken by the generated code itself: the first
    field that has the segment wins, other values are split as text, and the
    piece is converted to the trait's type, as the plugin and its converter do."""
    (definition,) = build_definitions(
        [
            {
                "event_type": "*",
                "traits": {
                    "cell": {
                        "fields": ["payload.short", "payload.cell", "publisher_id"],
                        "plugin": {"name": "split", "parameters": {"segment": 2}},
                    },
                    "number": {
                        "type": "int",
                        "fields": ["payload.version"],
                        "plugin": {
                            "name": "split",
                            "parameters": {"separator": "-", "segment": -1},
                        },
                    },
                },
            }
        ]
    )
    source = definition.extract_traits.__doc__ or ""
    assert "m = []" not in source  # no match list built for the plugin
    cases: list[dict[str, Any]] = [
        {"publisher_id": "compute.host.cell-9", "payload": {"short": "a.b"}},
        {"publisher_id": "x", "payload": {"short": "a.b", "cell": 1.25}},
        {"payload": {"cell": "a.b.c.d", "version": "v-12"}},
        {"payload": {"version": "v-twelve"}},
        {"payload": {"version": 7}},
        {"payload": {"version": True, "cell": ["a", "b"]}},
        {"payload": "not an object", "publisher_id": "a.b.c"},
    ]
    for body in cases:
        assert generated(definition, body) == looped(definition, body), body
    assert definition.extract_traits(cases[0])[0]["cell"] == "cell-9"
    assert definition.extract_traits(cases[2])[0]["number"] == 12
    assert [name for name, _ in definition.extract_traits(cases[3])[1] or []] == [
        "number"
    ]
