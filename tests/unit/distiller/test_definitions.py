"""Loading event definitions: the sample files load, and every mistake is named."""

from pathlib import Path
from textwrap import dedent

import pytest

from distiller.definitions import DefinitionError, load_definitions
from distiller.event import TraitType
from stacktach.exceptions import ConfigError

SAMPLES = [
    ("event_definitions.yaml", False),
    ("winchester-etc/event_definitions.yaml", False),
    ("stackdistiller-etc/event_definitions.yaml", False),
    ("ceilometer_event_definitions.yaml", True),
    ("ceilometer_event_definitions.yaml", False),
]


@pytest.mark.parametrize(("name", "ceilometer"), SAMPLES)
def test_sample_files_load_unchanged(
    corpus_config: Path, name: str, ceilometer: bool
) -> None:
    definitions = load_definitions(corpus_config / name, ceilometer=ceilometer)
    assert definitions
    assert all(d.traits for d in definitions)


def test_merge_keys_give_the_exists_definition_the_instance_traits(
    corpus_config: Path,
) -> None:
    definitions = load_definitions(corpus_config / "event_definitions.yaml")
    exists = next(
        d for d in definitions if d.event_types == ["compute.instance.exists"]
    )
    types = {t.name: t.trait_type for t in exists.traits}
    assert types["memory_mb"] is TraitType.INT
    assert types["audit_period_beginning"] is TraitType.DATETIME
    assert types["launched_at"] is TraitType.DATETIME
    assert types["instance_id"] is TraitType.TEXT
    # the defaults are there, and the file's own request_id/tenant_id override them
    assert {"service", "request_id", "tenant_id"} <= set(types)


def test_defaults_per_mode(corpus_config: Path) -> None:
    plain = load_definitions(corpus_config / "ceilometer_event_definitions.yaml")
    ceilo = load_definitions(
        corpus_config / "ceilometer_event_definitions.yaml", ceilometer=True
    )
    # image_volume_cache.* defines only image_id and host: the rest are defaults
    [names_plain] = [
        {t.name for t in d.traits}
        for d in plain
        if d.event_types == ["image_volume_cache.*"]
    ]
    [names_ceilo] = [
        {t.name for t in d.traits}
        for d in ceilo
        if d.event_types == ["image_volume_cache.*"]
    ]
    assert names_plain == {"service", "request_id", "tenant_id", "image_id", "host"}
    assert names_ceilo == {
        "service",
        "request_id",
        "tenant_id",
        "project_id",
        "user_id",
        "image_id",
        "host",
    }


def load_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "event_definitions.yaml"
    path.write_text(dedent(text).lstrip("\n"))
    return path


# (yaml, expected line, fragments that must all be in the message)
ERRORS = [
    ("event_type: x\n", 1, ["expected a list of event definitions"]),
    ("- just a string\n", None, ["definition #1", "expected a mapping"]),
    (
        """
        - event_type: compute.*
          traits: {}
          trait: {}
        """,
        3,
        ["definition #1 (event_type 'compute.*')", ": trait:", "unknown key"],
    ),
    (
        """
        - event_type: compute.*
        """,
        1,
        [
            "definition #1 (event_type 'compute.*')",
            ": traits:",
            "required key is missing",
        ],
    ),
    (
        """
        - traits: {}
        """,
        1,
        ["definition #1", ": event_type:", "required key is missing"],
    ),
    (
        """
        - event_type: []
          traits: {}
        """,
        1,
        ["event_type", "non-empty list of globs"],
    ),
    (
        """
        - event_type: [compute.*, 7]
          traits: {}
        """,
        1,
        ["event_type[1]", "expected a non-empty string, got 7"],
    ),
    (
        """
        - event_type: a
          traits: [x]
        """,
        2,
        ["traits", "expected a mapping of trait name"],
    ),
    (
        """
        - event_type: a
          traits:
            memory_mb: payload.memory_mb
        """,
        3,
        ["traits.memory_mb", "expected a mapping with 'fields'"],
    ),
    (
        """
        - event_type: a
          traits:
            memory_mb:
              field: payload.memory_mb
        """,
        4,
        ["traits.memory_mb.field", "unknown key"],
    ),
    (
        """
        - event_type: a
          traits:
            memory_mb:
              type: int
        """,
        4,
        ["traits.memory_mb.fields", "required key is missing"],
    ),
    (
        """
        - event_type: a
          traits:
            memory_mb:
              fields: [payload.a, 3]
        """,
        4,
        ["traits.memory_mb.fields", "non-empty list"],
    ),
    (
        """
        - event_type: a
          traits:
            memory_mb:
              fields: payload.memory_mb
              type: integer
        """,
        5,
        [
            "traits.memory_mb.type",
            "unknown type 'integer'",
            "text, int, float, datetime",
        ],
    ),
    (
        """
        - event_type: a
          traits:
            memory_mb:
              fields: payload.[
        """,
        4,
        ["traits.memory_mb.fields", "invalid JSONPath 'payload.['"],
    ),
    (
        """
        - event_type: a
          traits:
            host:
              fields: publisher_id
              plugin: spilt
        """,
        5,
        [
            "traits.host.plugin.name",
            "unknown trait plugin 'spilt'",
            "did you mean 'split'",
        ],
    ),
    (
        """
        - event_type: a
          traits:
            host:
              fields: publisher_id
              plugin:
                parameters: {segment: 1}
        """,
        6,
        ["traits.host.plugin.name", "without a name"],
    ),
    (
        """
        - event_type: a
          traits:
            host:
              fields: publisher_id
              plugin:
                name: split
                parameters:
                  segmnt: 1
        """,
        8,
        [
            "traits.host.plugin.parameters.segmnt",
            "plugin 'split' has no parameter 'segmnt'",
            "separator, segment, max_split",
        ],
    ),
    (
        """
        - event_type: a
          traits:
            host:
              fields: publisher_id
              plugin:
                name: split
                parameters: {segment: one}
        """,
        7,
        ["traits.host.plugin.parameters", "segment must be an integer"],
    ),
    (
        """
        - event_type: a
          traits:
            host:
              fields: publisher_id
              plugin: {name: split, params: {}}
        """,
        5,
        ["traits.host.plugin.params", "unknown key"],
    ),
    (
        """
        - event_type: a
          traits:
            host:
              fields: publisher_id
              plugin: {name: "json:dumps"}
        """,
        5,
        ["traits.host.plugin.name", "'json:dumps' is not a class"],
    ),
    (
        """
        - event_type: a
          traits:
            host:
              fields: publisher_id
              plugin: {name: "json:JSONDecoder"}
        """,
        5,
        ["traits.host.plugin.name", "JSONDecoder is not a trait plugin"],
    ),
    (
        """
        - event_type: a
          traits:
            host:
              fields: publisher_id
              plugin: {name: "no_such_module_q:Plugin"}
        """,
        5,
        ["traits.host.plugin.name", "cannot import 'no_such_module_q'"],
    ),
    (
        """
        - event_type: a
          traits:
            host: {fields: x}
            host: {fields: y}
        """,
        4,
        ["key 'host' appears twice"],
    ),
    ("- event_type: [a\n", 2, ["invalid YAML"]),
]


@pytest.mark.parametrize(("text", "line", "fragments"), ERRORS)
def test_every_mistake_names_file_line_definition_and_key(
    tmp_path: Path, text: str, line: int | None, fragments: list[str]
) -> None:
    path = load_text(tmp_path, text)
    with pytest.raises(DefinitionError) as info:
        load_definitions(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    if line is not None:
        assert message.startswith(f"{path}:{line}: "), message
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(info.value, ConfigError)


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="file not found"):
        load_definitions(tmp_path / "absent.yaml")


def test_empty_file_means_no_definitions(tmp_path: Path) -> None:
    assert load_definitions(load_text(tmp_path, "# nothing yet\n")) == []


def test_extra_plugins_by_name(tmp_path: Path) -> None:
    path = load_text(
        tmp_path,
        """
        - event_type: a
          traits:
            size:
              fields: payload.size
              plugin: mine
        """,
    )
    with pytest.raises(DefinitionError, match="unknown trait plugin 'mine'"):
        load_definitions(path)
    definitions = load_definitions(
        path, plugins={"mine": "distiller.plugins.split:SplitPlugin"}
    )
    assert [t.name for t in definitions[0].traits][-1] == "size"
