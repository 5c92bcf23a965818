"""Criteria: event-type globs, type-aware trait conditions, timestamps, reasons."""

from __future__ import annotations

from typing import Any

import pytest

from stacktach.exceptions import ConfigError
from winchester.config import ConfigWarning, build_criterion
from winchester.config.criteria import compile_event_types

from .helpers import event, utc

Y = "triggers.yaml"


def crit(
    data: Any, warn: list[ConfigWarning] | None = None, role: str = "match"
) -> Any:
    sink: list[ConfigWarning] = [] if warn is None else warn
    return build_criterion(
        data, source=Y, key="t.match_criteria[0]", role=role, warn=sink.append
    )


# -- event types ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("globs", "event_type", "expected"),
    [
        (["*"], "anything", True),
        (["compute.instance.*"], "compute.instance.update", True),
        (["compute.instance.*"], "compute.instance", False),
        (["compute.instance.*"], "image.upload", False),
        (["compute.instance.exists"], "compute.instance.exists", True),
        (["compute.instance.exists"], "compute.instance.exists.verified", False),
        (["a", "b"], "b", True),
        (
            ["compute.instance.*", "!compute.instance.exists"],
            "compute.instance.exists",
            False,
        ),
        (
            ["compute.instance.*", "!compute.instance.exists"],
            "compute.instance.exists.x",
            True,
        ),
        (
            ["compute.instance.*", "!compute.instance.exists*"],
            "compute.instance.exists.x",
            False,
        ),
        (["!compute.instance.exists"], "image.upload", True),
        (["!compute.instance.exists"], "compute.instance.exists", False),
        (["compute.?.x"], "compute.a.x", True),
        (["compute.[ab].x"], "compute.c.x", False),
    ],
)
def test_event_type_globs_with_exclusions(
    globs: list[str], event_type: str, expected: bool
) -> None:
    assert crit({"event_type": globs}).matches(event(event_type)) is expected
    test = compile_event_types(globs)
    assert (True if test is None else bool(test(event_type))) is expected


def test_defaults_match_every_event_once() -> None:
    criterion = crit({})
    assert criterion.event_types == ("*",)
    assert criterion.number == 1
    assert compile_event_types(["*"]) is None
    assert criterion.matches(event("whatever"))
    assert crit(None).matches(event("whatever"))


def test_the_sample_match_list_excludes_the_exists_family() -> None:
    criterion = crit(
        {
            "event_type": [
                "compute.instance.*",
                "snapshot_instance",
                "!compute.instance.exists",
                "!compute.instance.exists.verified",
            ]
        }
    )
    assert criterion.matches(event("compute.instance.create.end"))
    assert criterion.matches(event("snapshot_instance"))
    assert not criterion.matches(event("compute.instance.exists"))
    assert not criterion.matches(event("compute.instance.exists.verified"))


# -- trait conditions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        (512, 512, True),
        (512, "512", False),  # type-aware: text is not a number
        ("512", 512, False),
        ("512", "512", True),
        (512, 512.0, True),  # numbers compare as numbers
        ("ubuntu", "ubuntu", True),
        ("ubuntu", "Ubuntu", False),
        (1.5, 1.5, True),
        ({"text": "512"}, "512", True),
        ({"string": 512}, "512", True),
        ({"text": "512"}, 512, False),
        ({"int": "> 4096"}, 8192, True),
        ({"int": "> 4096"}, 4096, False),
        ({"int": ">4096"}, 4097, True),
        ({"int": "< 5"}, 4, True),
        ({"int": "< 5"}, 5, False),
        ({"int": "= 3"}, 3, True),
        ({"int": "4096"}, 4096, True),
        ({"int": 4096}, 4096, True),
        ({"int": ">= 4096"}, 4096, True),
        ({"int": "<= 4096"}, 4097, False),
        ({"int": "!= 3"}, 4, True),
        ({"int": "!= 3"}, 3, False),
        ({"int": "> 4096"}, "8192", False),  # text never compares as a number
        ({"int": "> 4096"}, utc(2014, 1, 1), False),
        ({"float": "> 1.5"}, 1.75, True),
        ({"float": "> 1.5"}, 2, True),
        ({"float": "< 1.5"}, 1.5, False),
        (utc(2014, 8, 1), utc(2014, 8, 1), True),
        (utc(2014, 8, 1), "2014-08-01 00:00:00", False),
    ],
)
def test_type_aware_trait_conditions(
    condition: Any, value: Any, expected: bool
) -> None:
    criterion = crit({"traits": {"x": condition}})
    assert criterion.matches(event("e", x=value)) is expected
    assert (criterion.mismatch(event("e", x=value)) is None) is expected


def test_a_missing_trait_does_not_match() -> None:
    criterion = crit({"traits": {"memory_mb": {"int": "> 4096"}}})
    assert not criterion.matches(event("e"))
    assert criterion.mismatch(event("e")) == "no trait 'memory_mb'"


def test_datetime_condition_uses_the_events_datetime_traits() -> None:
    criterion = crit(
        {
            "event_type": "compute.instance.exists",
            "traits": {
                "audit_period_ending": {"datetime": "$audit_period_beginning + 1d"}
            },
        }
    )
    eod = event(
        "compute.instance.exists",
        audit_period_beginning=utc(2014, 8, 1),
        audit_period_ending=utc(2014, 8, 2),
    )
    mid_day = event(
        "compute.instance.exists",
        audit_period_beginning=utc(2014, 8, 1),
        audit_period_ending=utc(2014, 8, 1, 13),
    )
    assert criterion.matches(eod)
    assert not criterion.matches(mid_day)
    assert criterion.mismatch(mid_day) == (
        "trait 'audit_period_ending' fails in $audit_period_beginning + 1d"
    )
    # the expression needs a trait the event lacks: no match, and it says which
    lacking = event("compute.instance.exists", audit_period_ending=utc(2014, 8, 2))
    assert not criterion.matches(lacking)
    assert criterion.mismatch(lacking) == (
        "no datetime trait 'audit_period_beginning' for trait 'audit_period_ending'"
    )
    text = event("compute.instance.exists", audit_period_ending="2014-08-02")
    assert criterion.mismatch(text) == "trait 'audit_period_ending' is not a datetime"


def test_datetime_condition_with_a_range() -> None:
    criterion = crit({"traits": {"launched_at": {"datetime": "day($timestamp)"}}})
    day = utc(2014, 8, 1, 10)
    assert criterion.matches(event("e", day, launched_at=utc(2014, 8, 1, 23, 59)))
    assert not criterion.matches(event("e", day, launched_at=utc(2014, 8, 2)))


def test_timestamp_criterion_sees_all_datetime_traits_and_timestamp() -> None:
    criterion = crit({"timestamp": "$launched_at to $launched_at + 1h"})
    launched = utc(2014, 8, 1, 10)
    inside = event("e", utc(2014, 8, 1, 10, 30), launched_at=launched)
    outside = event("e", utc(2014, 8, 1, 11, 0), launched_at=launched)
    assert criterion.matches(inside)
    assert not criterion.matches(outside)
    assert criterion.mismatch(outside) == "not time yet"
    lacking = event("e", utc(2014, 8, 1, 10, 30))
    assert not criterion.matches(lacking)
    assert (
        criterion.mismatch(lacking) == "no datetime trait 'launched_at' for timestamp"
    )
    assert crit({"timestamp": "day($timestamp)"}).matches(inside)


def test_all_parts_must_hold() -> None:
    criterion = crit(
        {
            "event_type": "compute.instance.*",
            "traits": {"os_distro": "ubuntu", "memory_mb": {"int": "> 4096"}},
        }
    )
    assert criterion.matches(
        event("compute.instance.update", os_distro="ubuntu", memory_mb=8192)
    )
    small = event("compute.instance.update", os_distro="ubuntu", memory_mb=512)
    assert criterion.mismatch(small) == "trait 'memory_mb' fails > 4096"
    assert criterion.mismatch(event("image.upload")) == "wrong event type"
    assert (
        criterion.mismatch(
            event("compute.instance.update", os_distro="centos", memory_mb=8192)
        )
        == "trait 'os_distro' fails = 'ubuntu'"
    )


# -- configuration errors -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        (
            {"traits": {"memory_mb": {"numeric": "> 4096"}}},
            "traits.memory_mb.numeric",
            "unknown condition type 'numeric'; expected one of: datetime, float, int",
        ),
        (
            {"traits": {"memory_mb": {"itn": "> 4096"}}},
            "traits.memory_mb.itn",
            "did you mean 'int'?",
        ),
        ({"traits": {"x": {"int": "> lots"}}}, "traits.x.int", "expected an integer"),
        ({"traits": {"x": {"int": "> 4.5"}}}, "traits.x.int", "expected an integer"),
        ({"traits": {"x": {"int": "~ 4"}}}, "traits.x.int", "expected an integer"),
        ({"traits": {"x": {"float": "> nan"}}}, "traits.x.float", "NaN"),
        ({"traits": {"x": {"int": "> 1", "float": "> 1"}}}, "traits.x", "single-key"),
        ({"traits": {"x": {"datetime": "$a +"}}}, "traits.x.datetime", "timex"),
        ({"traits": {"x": True}}, "traits.x", "quote it"),
        ({"traits": {"x": [1, 2]}}, "traits.x", "got a list"),
        ({"traits": ["x"]}, "traits", "mapping of trait name"),
        ({"event_type": []}, "event_type", "non-empty list"),
        ({"event_type": ["a", ""]}, "event_type", "non-empty glob"),
        ({"number": 0}, "number", "integer >= 1"),
        ({"number": "2"}, "number", "integer >= 1"),
        ({"number": True}, "number", "integer >= 1"),
        ({"timestamp": "day("}, "timestamp", "timex"),
        ({"map_distinguished_by": ["timestamp"]}, "map_distinguished_by", "mapping"),
        ({"event_typ": "a"}, "event_typ", "did you mean 'event_type'?"),
        ({"trait": {}}, "trait", "did you mean 'traits'?"),
    ],
)
def test_config_errors_name_file_line_and_key(
    write: Any, data: dict[str, Any], key: str, fragment: str
) -> None:
    import yaml

    from stacktach.yamlutil import load_yaml

    path = write("t.yaml", "# first line\n" + yaml.safe_dump(data))
    loaded = load_yaml(path)
    with pytest.raises(ConfigError) as info:
        build_criterion(loaded, source=str(path), key="t.match_criteria[0]")
    error = info.value
    assert error.source == str(path)
    assert error.key == f"t.match_criteria[0].{key}"
    assert error.line is not None and error.line >= 2
    assert fragment in error.reason
    assert str(error).startswith(f"{path}:{error.line}: t.match_criteria[0].{key}: ")


def test_unknown_condition_type_fails_at_load_not_at_match() -> None:
    with pytest.raises(ConfigError, match="numeric"):
        crit({"traits": {"memory_mb": {"numeric": "> 4096"}}})


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="expected a criterion mapping"):
        crit("compute.instance.*")


# -- warnings and the misspelling -----------------------------------------------


def test_misspelled_map_is_accepted_with_a_warning() -> None:
    warnings: list[ConfigWarning] = []
    criterion = crit({"map_distingushed_by": {"timestamp": "apb"}}, warnings)
    assert criterion.map_distinguished_by == {"timestamp": "apb"}
    assert len(warnings) == 1
    assert warnings[0].key == "t.match_criteria[0].map_distingushed_by"
    assert "'map_distinguished_by'" in warnings[0].message


def test_both_spellings_is_an_error() -> None:
    with pytest.raises(ConfigError, match="both 'map_distinguished_by'"):
        crit({"map_distinguished_by": {"a": "b"}, "map_distingushed_by": {"a": "b"}})


def test_role_warnings() -> None:
    warnings: list[ConfigWarning] = []
    crit({"number": 2}, warnings, role="match")
    crit({"map_distinguished_by": {"a": "b"}}, warnings, role="fire")
    crit({"number": 2}, warnings, role="fire")
    assert [w.key for w in warnings] == [
        "t.match_criteria[0].number",
        "t.match_criteria[0].map_distinguished_by",
    ]
