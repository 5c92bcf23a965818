"""Trigger definition errors: each names the file, the line and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacktach.exceptions import ConfigError
from winchester.config import load_triggers

Write = Callable[[str, str], Path]

# -- errors ---------------------------------------------------------------------


GOOD = {
    "name": "t",
    "expiration": "$last + 1h",
    "fire_pipeline": "p",
    "match_criteria": [{"event_type": "a"}],
    "fire_criteria": [{"event_type": "a"}],
}


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        (
            {"distingushed_by": ["a"]},
            "t.distingushed_by",
            "did you mean 'distinguished_by'?",
        ),
        ({"expiraton": "x"}, "t.expiraton", "did you mean 'expiration'?"),
        ({"expiration": None}, "t.expiration", "expected a timex expression"),
        ({"expiration": "$last + + 1h"}, "t.expiration", "timex"),
        ({"expiration": "$start + 1h"}, "t.expiration", "only $first and $last"),
        ({"debug_level": 3}, "t.debug_level", "0, 1 or 2"),
        ({"debug_level": True}, "t.debug_level", "0, 1 or 2"),
        ({"debug_level": 1.0}, "t.debug_level", "0, 1 or 2"),
        (
            {
                "distinguished_by": ["instance_id", {"timestamp": "day"}],
                "match_criteria": [{"map_distinguished_by": {"timestmp": "apb"}}],
            },
            "t.match_criteria[0].map_distinguished_by.timestmp",
            "not in distinguished_by; did you mean 'timestamp'?",
        ),
        (
            {"match_criteria": [{}, {"map_distingushed_by": {"timestamp": "apb"}}]},
            "t.match_criteria[1].map_distingushed_by.timestamp",
            "'timestamp' is not in distinguished_by (it is empty)",
        ),
        ({"fire_delay": -1}, "t.fire_delay", "seconds >= 0"),
        ({"fire_delay": "10s"}, "t.fire_delay", "seconds >= 0"),
        ({"fire_pipeline": None}, "t.fire_pipeline", "fire_pipeline, expire_pipeline"),
        ({"fire_pipeline": ["p"]}, "t.fire_pipeline", "pipeline name"),
        ({"match_criteria": []}, "t.match_criteria", "non-empty list"),
        ({"fire_criteria": []}, "t.fire_criteria", 'event_type: "*"'),
        ({"fire_criteria": {"event_type": "a"}}, "t.fire_criteria", "non-empty list"),
        ({"fire_criteria": ["a"]}, "t.fire_criteria[0]", "criterion mapping"),
        ({"distinguished_by": "instance_id"}, "t.distinguished_by", "expected a list"),
        (
            {"distinguished_by": [{"a": "day", "b": "day"}]},
            "t.distinguished_by[0]",
            "one {trait",
        ),
        (
            {"distinguished_by": [{"a": "day($x)"}]},
            "t.distinguished_by[0]",
            "only $timestamp",
        ),
        ({"distinguished_by": [{"a": "dya"}]}, "t.distinguished_by[0]", "timex"),
        ({"distinguished_by": ["a", "a"]}, "t.distinguished_by[1]", "listed twice"),
        ({"distinguished_by": [3]}, "t.distinguished_by[0]", "trait name"),
        (
            {"match_criteria": [{"traits": {"m": {"numeric": "> 1"}}}]},
            "t.match_criteria[0].traits.m.numeric",
            "unknown condition type",
        ),
        ({"name": ""}, "trigger #1.name", "non-empty string"),
    ],
)
def test_errors_name_file_line_and_key(
    write: Write, change: dict[str, Any], key: str, fragment: str
) -> None:
    data = {**GOOD, **change}
    path = write("triggers.yaml", "---\n" + yaml.safe_dump([data], sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_triggers(path)
    error = info.value
    assert (error.source, error.key) == (str(path), key)
    assert error.line is not None and error.line >= 2
    assert fragment in error.reason
    assert str(error).startswith(f"{path}:{error.line}: {key}: ")


def test_missing_required_keys(write: Write) -> None:
    for key in ("expiration", "match_criteria", "fire_criteria"):
        data = {k: v for k, v in GOOD.items() if k != key}
        path = write("triggers.yaml", yaml.safe_dump([data]))
        with pytest.raises(ConfigError, match=f"t.{key}: required key is missing"):
            load_triggers(path)


def test_duplicate_names_name_both_lines(write: Write) -> None:
    path = write(
        "triggers.yaml",
        """
        - {name: t, expiration: $last, fire_pipeline: p, match_criteria: [{}],
           fire_criteria: [{}]}
        - {name: u, expiration: $last, fire_pipeline: p, match_criteria: [{}],
           fire_criteria: [{}]}
        - {name: t, expiration: $last, fire_pipeline: p, match_criteria: [{}],
           fire_criteria: [{}]}
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_triggers(path)
    assert str(info.value) == (
        f"{path}:5: t: duplicate trigger name (first defined on line 1)"
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: t\n", "expected a list of trigger definitions"),
        ("- just a string\n", "expected a trigger definition mapping"),
    ],
)
def test_wrong_shapes(write: Write, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_triggers(write("triggers.yaml", text))


def test_yaml_errors_name_the_file_and_line(write: Write) -> None:
    path = write("triggers.yaml", "- name: t\n  expiration: [\n")
    with pytest.raises(ConfigError) as info:
        load_triggers(path)
    assert str(info.value).startswith(f"{path}:")
    assert info.value.line is not None
