"""pipelines.yaml: handler steps, unknown names, references from triggers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stacktach.exceptions import ConfigError
from winchester.config import (
    HandlerSpec,
    check_references,
    load_pipelines,
    load_triggers,
    reference_errors,
)

Write = Callable[[str, str], Path]
HANDLERS = {"logger", "usage", "notabene", "atompub"}


def test_names_and_steps_with_params(write: Write) -> None:
    path = write(
        "pipelines.yaml",
        """
        fire:
          - logger
          - name: notabene
            params: {exchange: nova, env_keys: [usage_notifications]}
        expire:
          - name: usage
        """,
    )
    pipelines = load_pipelines(path, HANDLERS)
    assert pipelines == {
        "fire": [
            HandlerSpec("logger"),
            HandlerSpec(
                "notabene", {"exchange": "nova", "env_keys": ["usage_notifications"]}
            ),
        ],
        "expire": [HandlerSpec("usage")],
    }
    params = pipelines["fire"][1].params
    assert type(params) is dict and type(params["env_keys"]) is list
    assert (pipelines["fire"][0].source, pipelines["fire"][0].line) == (str(path), 1)
    assert pipelines["fire"][1].line == 3


def test_empty_file(write: Write) -> None:
    assert load_pipelines(write("pipelines.yaml", "---\n"), HANDLERS) == {}


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [
        (
            "fire:\n  - loger\n",
            1,
            "fire[0]",
            "unknown handler 'loger'; did you mean 'logger'?",
        ),
        (
            "fire:\n  - logger\n  - name: usagee\n",
            3,
            "fire[1]",
            "did you mean 'usage'?",
        ),
        ("fire:\n  - nme: logger\n", 2, "fire[0].nme", "did you mean 'name'?"),
        ("fire:\n  - params: {}\n", 2, "fire[0].name", "required: the handler name"),
        ("fire:\n  - name: logger\n    params: [a]\n", 3, "fire[0].params", "mapping"),
        ("fire:\n  - [logger]\n", 1, "fire[0]", "handler name or {name, params}"),
        ("fire: []\n", 1, "fire", "non-empty list of handlers"),
        ("fire: logger\n", 1, "fire", "non-empty list of handlers"),
        ("x: [logger]\n3: [logger]\n", 2, "3", "pipeline name must be a string"),
    ],
)
def test_errors_name_file_line_and_pipeline(
    write: Write, text: str, line: int, key: str, fragment: str
) -> None:
    path = write("pipelines.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_pipelines(path, HANDLERS)
    error = info.value
    assert (error.source, error.line, error.key) == (str(path), line, key)
    assert fragment in error.reason
    assert str(error).startswith(f"{path}:{line}: {key}: ")


def test_not_a_mapping(write: Write) -> None:
    with pytest.raises(ConfigError, match="mapping of pipeline name"):
        load_pipelines(write("pipelines.yaml", "- logger\n"), HANDLERS)


def test_configured_handler_names_are_usable(write: Write) -> None:
    path = write("pipelines.yaml", "fire: [mine]\n")
    assert load_pipelines(path, HANDLERS | {"mine"}) == {"fire": [HandlerSpec("mine")]}
    with pytest.raises(ConfigError, match="unknown handler 'mine'"):
        load_pipelines(path, HANDLERS)


TRIGGERS = """
- name: a
  expiration: $last + 1h
  fire_pipeline: fire
  expire_pipeline: expire
  match_criteria: [{}]
  fire_criteria: [{}]
- name: b
  expiration: $last + 1h
  fire_pipeline: fier
  match_criteria: [{}]
  fire_criteria: [{}]
"""


def test_references_name_the_trigger_and_line(write: Write) -> None:
    path = write("triggers.yaml", TRIGGERS)
    triggers = load_triggers(path)
    pipelines = {"fire": [HandlerSpec("logger")], "expire": [HandlerSpec("logger")]}
    check_references(triggers[:1], pipelines)
    errors = reference_errors(triggers, pipelines, pipelines_source="pipelines.yaml")
    assert [str(e) for e in errors] == [
        f"{path}:9: b.fire_pipeline: no pipeline 'fier' in pipelines.yaml; "
        "did you mean 'fire'?"
    ]
    with pytest.raises(ConfigError, match=r"b\.fire_pipeline: no pipeline 'fier'"):
        check_references(triggers, pipelines)
    assert len(reference_errors(triggers, {})) == 3
