"""Trigger definitions: OR/AND criteria, stream keys, expiry, the misspelling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from winchester.config import ConfigWarning, Match, TriggerDefinition, load_triggers
from winchester.timex import TimeRange

from .helpers import event, utc

Write = Callable[[str, str], Path]

USAGE = """
- name: usage
  debug_level: 2
  distinguished_by:
  - instance_id
  - timestamp: "day"
  expiration: "$last + 2d"
  fire_pipeline: fire
  expire_pipeline: expire
  match_criteria:
  - event_type:
    - compute.instance.*
    - "!compute.instance.exists"
  - event_type: compute.instance.exists
    map_distinguished_by:
      timestamp: audit_period_beginning
  fire_criteria:
  - event_type: compute.instance.exists
    traits:
      audit_period_ending:
        datetime: $audit_period_beginning + 1d
"""


def one(write: Write, text: str, warn: list[ConfigWarning] | None = None) -> Any:
    sink: list[ConfigWarning] = [] if warn is None else warn
    triggers = load_triggers(write("triggers.yaml", text), warn=sink.append)
    assert len(triggers) == 1
    return triggers[0]


def day(y: int, mo: int, d: int) -> TimeRange:
    return TimeRange(utc(y, mo, d), utc(y, mo, d + 1))


def exists(
    when: datetime, begin: datetime, end: datetime, instance: str = "i-1"
) -> Any:
    return event(
        "compute.instance.exists",
        when,
        instance_id=instance,
        audit_period_beginning=begin,
        audit_period_ending=end,
    )


# -- stream keys ----------------------------------------------------------------


def test_day_range_distinguishing_keys(write: Write) -> None:
    trigger = one(write, USAGE)
    morning = trigger.match(
        event("compute.instance.update", utc(2014, 8, 1, 1), instance_id="i-1")
    )
    evening = trigger.match(
        event("compute.instance.resize.end", utc(2014, 8, 1, 23), instance_id="i-1")
    )
    next_day = trigger.match(
        event("compute.instance.update", utc(2014, 8, 2, 0), instance_id="i-1")
    )
    other = trigger.match(
        event("compute.instance.update", utc(2014, 8, 1, 1), instance_id="i-2")
    )
    assert morning == Match(0, (("instance_id", "i-1"), ("timestamp", day(2014, 8, 1))))
    assert evening == morning and hash(evening) == hash(morning)
    assert next_day is not None and next_day.key[1] == ("timestamp", day(2014, 8, 2))
    assert other is not None and other.key[0] == ("instance_id", "i-2")
    # the key holds plain TimeRanges, not the pinned ones timex returns
    assert type(morning.key[1][1]) is TimeRange
    assert trigger.distinguished_by == ("instance_id", "timestamp")
    assert trigger.debug_level == 2


def test_end_of_day_exists_lands_in_the_previous_days_stream(write: Write) -> None:
    trigger = one(write, USAGE)
    update = trigger.match(
        event("compute.instance.update", utc(2014, 8, 1, 9), instance_id="i-1")
    )
    eod = exists(utc(2014, 8, 2, 0, 5), utc(2014, 8, 1), utc(2014, 8, 2))
    found = trigger.match(eod)
    assert found is not None and update is not None
    assert found.criterion_index == 1
    assert (
        found.key
        == update.key
        == (("instance_id", "i-1"), ("timestamp", day(2014, 8, 1)))
    )
    assert trigger.fire_hits(eod) == (True,)


def test_without_the_mapping_the_exists_goes_to_its_own_day(write: Write) -> None:
    trigger = one(
        write,
        USAGE.replace(
            "    map_distinguished_by:\n      timestamp: audit_period_beginning\n", ""
        ),
    )
    found = trigger.match(
        exists(utc(2014, 8, 2, 0, 5), utc(2014, 8, 1), utc(2014, 8, 2))
    )
    assert found is not None and found.key[1] == ("timestamp", day(2014, 8, 2))


def test_distinguishing_traits_must_be_present_after_mapping(write: Write) -> None:
    trigger = one(write, USAGE)
    no_instance = event("compute.instance.update", utc(2014, 8, 1, 9))
    assert trigger.match(no_instance) is None
    assert trigger.explain(no_instance) == "no distinguishing trait 'instance_id'"
    # an exists without audit_period_beginning cannot be keyed: no match, even
    # though its own timestamp is there
    bare = event("compute.instance.exists", utc(2014, 8, 2), instance_id="i-1")
    assert trigger.match(bare) is None
    assert trigger.explain(bare) == (
        "no distinguishing trait 'audit_period_beginning' (for 'timestamp')"
    )
    text = event(
        "compute.instance.exists", instance_id="i-1", audit_period_beginning="x"
    )
    assert trigger.match(text) is None
    assert "is not a datetime" in trigger.explain(text)


def test_explain_gives_each_reason_once(write: Write) -> None:
    trigger = one(write, USAGE)
    assert trigger.explain(event("image.upload")) == "wrong event type"
    assert (
        trigger.explain(event("compute.instance.update", instance_id="i")) == "matches"
    )


def test_distinguishing_by_plain_traits_of_every_type(write: Write) -> None:
    trigger = one(
        write,
        """
        - name: t
          distinguished_by: [tenant_id, memory_mb, launched_at, event_type]
          expiration: $last + 1h
          fire_pipeline: p
          match_criteria: [{event_type: "*"}]
          fire_criteria: [{event_type: "*"}]
        """,
    )
    found = trigger.match(
        event("x", tenant_id="t", memory_mb=512, launched_at=utc(2014, 8, 1))
    )
    assert found.key == (
        ("tenant_id", "t"),
        ("memory_mb", 512),
        ("launched_at", utc(2014, 8, 1)),
        ("event_type", "x"),
    )


def test_a_timestamp_result_keys_by_its_instant(write: Write) -> None:
    trigger = one(
        write,
        """
        - name: t
          distinguished_by: [{launched_at: "$timestamp @ 0h 0m 0s"}]
          expiration: $last + 1h
          fire_pipeline: p
          match_criteria: [{}]
          fire_criteria: [{}]
        """,
    )
    found = trigger.match(event("x", launched_at=utc(2014, 8, 1, 13, 5)))
    assert found.key == (("launched_at", utc(2014, 8, 1)),)


# -- OR / AND / number ----------------------------------------------------------


OR_AND = """
- name: t
  expiration: $last + 1h
  fire_pipeline: p
  fire_delay: 30
  match_criteria:
  - event_type: compute.instance.*
    traits: {memory_mb: {int: "> 4096"}}
  - event_type: compute.instance.create.*
  - event_type: "*"
    traits: {os_distro: ubuntu}
  fire_criteria:
  - event_type: compute.instance.create.end
  - event_type: compute.instance.update
    number: 2
"""


def test_match_criteria_are_or_and_the_first_match_is_used(write: Write) -> None:
    trigger = one(write, OR_AND)
    big = event("compute.instance.create.start", memory_mb=8192)
    small = event("compute.instance.create.start", memory_mb=512)
    ubuntu = event("image.upload", os_distro="ubuntu")
    assert trigger.match(big) == Match(0, ())
    assert trigger.match(small) == Match(1, ())
    assert trigger.match(ubuntu) == Match(2, ())
    assert trigger.match(event("image.upload", os_distro="centos")) is None
    assert trigger.explain(event("image.upload", os_distro="centos")) == (
        "wrong event type; trait 'os_distro' fails = 'ubuntu'"
    )


def test_fire_criteria_are_and_with_number(write: Write) -> None:
    trigger = one(write, OR_AND)
    assert trigger.fire_delay == 30.0
    assert [c.number for c in trigger.fire_criteria] == [1, 2]
    stream = [
        event("compute.instance.update"),
        event("compute.instance.create.end"),
        event("compute.instance.update"),
    ]
    # what the ingest side does: count hits per fire criterion, compare with number
    counts = [0, 0]
    ready = []
    for item in stream:
        hits = trigger.fire_hits(item)
        counts = [n + hit for n, hit in zip(counts, hits, strict=True)]
        ready.append(
            all(
                n >= c.number
                for n, c in zip(counts, trigger.fire_criteria, strict=True)
            )
        )
    assert [trigger.fire_hits(e) for e in stream] == [
        (False, True),
        (True, False),
        (False, True),
    ]
    assert ready == [False, False, True]
    assert trigger.explain_fire(event("compute.instance.update")) == (
        "wrong event type",
        None,
    )


# -- expiry ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$last + 2d", utc(2014, 8, 3, 5)),
        ("$last + 1h", utc(2014, 8, 1, 6)),
        ("$first + 1d", utc(2014, 8, 2)),
        ("$timestamp + 1h", utc(2014, 8, 1, 6)),
        ("day($last) + 1d", utc(2014, 8, 2)),  # a range: its beginning
    ],
)
def test_expiry_from_first_and_last(
    write: Write, expression: str, expected: datetime
) -> None:
    trigger = one(write, USAGE.replace('"$last + 2d"', f'"{expression}"'))
    assert trigger.expires_at(utc(2014, 8, 1), utc(2014, 8, 1, 5)) == expected


def test_expiry_is_recomputed_from_each_last(write: Write) -> None:
    trigger = one(write, USAGE)
    first = utc(2014, 8, 1)
    assert [
        trigger.expires_at(first, last) for last in (utc(2014, 8, 1), utc(2014, 8, 5))
    ] == [utc(2014, 8, 3), utc(2014, 8, 7)]


# -- the sample and its misspelling ---------------------------------------------


def test_the_etc_sample_misspelling_warns_and_takes_effect(corpus_config: Path) -> None:
    warnings: list[ConfigWarning] = []
    path = corpus_config / "winchester-etc" / "triggers.yaml"
    (trigger,) = load_triggers(path, warn=warnings.append)
    assert len(warnings) == 1
    warning = warnings[0]
    assert warning.source == str(path)
    assert warning.line == 20
    assert warning.key == "test_trigger.match_criteria[1].map_distingushed_by"
    assert str(warning).startswith(f"{path}:20: test_trigger.match_criteria[1].")
    assert "misspelling of 'map_distinguished_by'" in str(warning)
    # as its author meant: the end-of-day exists is keyed by the audited day
    found = trigger.match(
        exists(utc(2014, 8, 2, 0, 5), utc(2014, 8, 1), utc(2014, 8, 2))
    )
    assert found == Match(1, (("instance_id", "i-1"), ("timestamp", day(2014, 8, 1))))
    assert trigger.fire_hits(
        exists(utc(2014, 8, 2), utc(2014, 8, 1), utc(2014, 8, 2))
    ) == (True,)


def test_the_warning_goes_to_the_log_by_default(
    corpus_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_triggers(corpus_config / "winchester-etc" / "triggers.yaml")
    assert "map_distingushed_by: warning: misspelling" in caplog.text


def test_load_criteria_is_accepted_with_a_warning(write: Write) -> None:
    warnings: list[ConfigWarning] = []
    trigger = one(
        write,
        USAGE + "  load_criteria:\n  - event_type: compute.instance.*\n",
        warnings,
    )
    assert len(trigger.load_criteria) == 1
    assert [(w.key, w.line) for w in warnings] == [("usage.load_criteria", 21)]
    assert "unused" in warnings[0].message


def test_defaults(write: Write) -> None:
    trigger = one(
        write,
        """
        - name: minimal
          expiration: $last + 1h
          expire_pipeline: p
          match_criteria: [{}]
          fire_criteria: [{}]
        """,
    )
    assert isinstance(trigger, TriggerDefinition)
    assert (trigger.debug_level, trigger.fire_delay, trigger.distinguished_by) == (
        0,
        0.0,
        (),
    )
    assert (trigger.fire_pipeline, trigger.expire_pipeline) == (None, "p")
    assert trigger.match(event("anything")) == Match(0, ())


def test_empty_file_has_no_triggers(write: Write) -> None:
    assert load_triggers(write("triggers.yaml", "---\n")) == []
