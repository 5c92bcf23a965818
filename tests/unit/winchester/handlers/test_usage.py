"""The ``usage`` handler: codes U0-U8, EOD detection, emitted events and ids.

The original's 22 ``tests/test_usage_handler.py`` scenarios are ported here; each
is marked ``original: test_...``. They exercised private helpers with mocks; here
the same situations go through the public checks or the whole handler.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from winchester.config.handlers import check_handler, resolve_handler
from winchester.handlers.base import HandlerError
from winchester.handlers.usage import (
    ENV_KEY,
    FAILED,
    VERIFIED,
    WARNINGS,
    UsageHandler,
    new_message_id,
    to_notification,
)
from winchester.handlers.usage_checks import (
    UsageCheckError,
    check_block,
    is_eod_exists,
    is_exists,
    is_non_eod_exists,
    verify_fields,
)
from winchester.storage.values import encode_traits, value_hash

EXISTS = "compute.instance.exists"
DAY = datetime(2024, 3, 10, tzinfo=UTC)  # the audited day
NEXT = DAY + timedelta(days=1)
LAUNCHED = DAY - timedelta(days=30)  # launched long before the audited day
INSTANCE = "6f1d1c5e-0d0c-4a57-9a57-3a1e5d5a0c11"


def mid(n: int) -> str:
    """A UUID message_id, distinct for each ``n``."""
    return str(uuid.UUID(int=n))


def ev(n: int, event_type: str, at: datetime, **traits: Any) -> dict[str, Any]:
    """An event dict as the worker passes it."""
    return {
        "instance_id": INSTANCE,
        "tenant_id": "t-1",
        **traits,
        "event_type": event_type,
        "message_id": mid(n),
        "timestamp": at,
    }


def exists(n: int = 100, **traits: Any) -> dict[str, Any]:
    """An end-of-day ``.exists`` for DAY of an active instance launched earlier."""
    values: dict[str, Any] = {
        "state": "active",
        "launched_at": LAUNCHED,
        "audit_period_beginning": DAY,
        "audit_period_ending": NEXT,
        "instance_flavor_id": 2,
    }
    values.update(traits)
    sent = values.pop("at", NEXT + timedelta(minutes=2))
    # A trait without a value is absent from an event, never None.
    return ev(n, EXISTS, sent, **{k: v for k, v in values.items() if v is not None})


def at(hours: float) -> datetime:
    """A time inside the audited day."""
    return DAY + timedelta(hours=hours)


def run(
    events: list[dict[str, Any]], env: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run a fresh handler; return only the new events, and the env."""
    env = {"stream_id": 7} if env is None else env
    out = UsageHandler().handle_events(events, env)
    assert out[: len(events)] == events
    return out[len(events) :], env


def verdicts(new: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["event_type"], e.get("error_code")) for e in new]


# --------------------------------------------------------------------- codes U0-U8

DELETED_AT = at(15)
DELETE_END = "compute.instance.delete.end"
REBUILD_END = "compute.instance.rebuild.end"

# code -> (a minimal failing stream, the clean stream next to it)
CODE_CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "U0": (
        [ev(1, "compute.instance.update", at(3))],
        [ev(1, "compute.instance.update", at(3)), exists()],
    ),
    "U1": (
        [exists(launched_at=None)],
        [exists()],
    ),
    "U2": (  # the last rebuild.end disagrees with the .exists
        [
            ev(1, REBUILD_END, at(4), launched_at=at(4), instance_flavor_id=2),
            exists(launched_at=at(5)),
        ],
        [
            ev(1, REBUILD_END, at(4), launched_at=at(4), instance_flavor_id=2),
            exists(launched_at=at(4)),
        ],
    ),
    "U3": (
        [exists(deleted_at=LAUNCHED + timedelta(days=1))],
        [exists(deleted_at=LAUNCHED + timedelta(days=1), state="deleted")],
    ),
    "U4": (
        [exists(state="deleted", deleted_at=LAUNCHED - timedelta(hours=1))],
        [exists(state="deleted", deleted_at=LAUNCHED + timedelta(hours=1))],
    ),
    "U5": (
        [exists(state="deleted", deleted_at=DELETED_AT)],
        [
            ev(1, DELETE_END, DELETED_AT, launched_at=LAUNCHED, deleted_at=DELETED_AT),
            exists(state="deleted", deleted_at=DELETED_AT),
        ],
    ),
    "U6": (
        [
            ev(1, DELETE_END, DELETED_AT, launched_at=LAUNCHED, deleted_at=DELETED_AT),
            exists(),
        ],
        [ev(1, "compute.instance.reboot.end", DELETED_AT), exists()],
    ),
    "U7": (
        [
            ev(1, DELETE_END, at(14), launched_at=LAUNCHED, deleted_at=DELETED_AT),
            ev(2, DELETE_END, at(15), launched_at=LAUNCHED, deleted_at=DELETED_AT),
            exists(state="deleted", deleted_at=DELETED_AT),
        ],
        [
            ev(1, DELETE_END, at(15), launched_at=LAUNCHED, deleted_at=DELETED_AT),
            exists(state="deleted", deleted_at=DELETED_AT),
        ],
    ),
    "U8": (
        [exists(launched_at=at(6))],
        [ev(1, "compute.instance.create.end", at(6), launched_at=at(6)), exists(
            launched_at=at(6)
        )],
    ),
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(CODE_CASES))
def test_each_code_is_raised_by_its_minimal_block(code: str) -> None:
    failing, _clean = CODE_CASES[code]
    new, _ = run(failing)
    failed = [e for e in new if e["event_type"] == FAILED]
    assert [e["error_code"] for e in failed] == [code]
    assert failed[0]["error"]


@pytest.mark.parametrize("code", sorted(CODE_CASES))
def test_the_clean_block_next_to_it_is_verified(code: str) -> None:
    _failing, clean = CODE_CASES[code]
    new, _ = run(clean)
    assert verdicts(new) == [(VERIFIED, None)]
    assert "error" not in new[0]
    assert "error_code" not in new[0]


@pytest.mark.parametrize(
    ("block", "exists_traits", "code", "fragment"),
    [
        # the delete.end and the .exists disagree on deleted_at
        (
            [ev(1, DELETE_END, at(15), launched_at=LAUNCHED, deleted_at=at(15))],
            {"state": "deleted", "deleted_at": at(16)},
            "U2",
            "Conflicting 'deleted_at'",
        ),
        # only the last rebuild/finish_resize/rescue .end counts
        (
            [
                ev(1, REBUILD_END, at(2), launched_at=at(2)),
                ev(2, "compute.instance.finish_resize.end", at(3), launched_at=at(3)),
            ],
            {"launched_at": at(2)},
            "U2",
            "Conflicting 'launched_at'",
        ),
        (
            [
                ev(
                    1,
                    "compute.instance.rescue.end",
                    at(2),
                    launched_at=LAUNCHED,
                    instance_flavor_id=2,
                    os_distro="ubuntu",
                )
            ],
            {"os_distro": "centos"},
            "U2",
            "Conflicting 'os_distro'",
        ),
        # present on one side only: a conflict (the original raised KeyError)
        (
            [
                ev(
                    1,
                    REBUILD_END,
                    at(2),
                    launched_at=LAUNCHED,
                    instance_flavor_id=2,
                    os_version="22.04",
                )
            ],
            {},
            "U2",
            "Conflicting 'os_version'",
        ),
        # U6 before U3; U3 before U7
        (
            [ev(1, DELETE_END, at(15), deleted_at=at(15))],
            {"state": "deleted"},
            "U6",
            "no deleted_at",
        ),
        (
            [ev(n, DELETE_END, at(14 + n), deleted_at=at(15)) for n in (1, 2)],
            {"state": "active", "deleted_at": at(15)},
            "U3",
            "not 'deleted'",
        ),
    ],
)
def test_which_code_wins(
    block: list[dict[str, Any]], exists_traits: dict[str, Any], code: str, fragment: str
) -> None:
    verdict = check_block(block, exists(**exists_traits))
    assert verdict.code == code
    assert verdict.error is not None and fragment in verdict.error


def test_u4_is_skipped_without_launched_at() -> None:
    # The original compared deleted_at with None and crashed; U5 still applies.
    previous = exists(state="deleted", launched_at=None, deleted_at=DAY - timedelta(1))
    assert check_block([], previous).passed
    inside = exists(state="deleted", launched_at=None, deleted_at=at(3))
    assert check_block([], inside).code == "U5"


def test_a_never_launched_instance_deleted_that_day_is_verified() -> None:
    # What nova would send for a failed build that is deleted: U1 is for an
    # active .exists only, and the delete.end agrees (neither has launched_at).
    block = [ev(1, DELETE_END, at(3), deleted_at=at(3))]
    the_exists = mid_day_exists(
        state="deleted", launched_at=None, deleted_at=at(3), audit_period_ending=at(3)
    )
    assert verdicts(run([*block, the_exists])[0]) == [
        (WARNINGS, None),  # non-EOD, no operation end: as every delete's .exists
        (VERIFIED, None),
    ]


def test_u5_and_u8_include_the_period_bounds() -> None:
    assert check_block([], exists(state="deleted", deleted_at=NEXT)).code == "U5"
    assert check_block([], exists(launched_at=DAY)).code == "U8"
    assert check_block([], exists(launched_at=NEXT + timedelta(0, 1))).passed


# --------------------------------------------------------------------- end of day


@pytest.mark.parametrize(
    ("event", "eod", "non_eod"),
    [
        # original: test_is_EOD_exists / test_is_non_EOD_exists
        ({"audit_period_beginning": DAY, "audit_period_ending": NEXT}, True, False),
        (
            {"audit_period_beginning": at(1), "audit_period_ending": at(25)},
            False,  # a day apart but not at midnight
            False,  # and on consecutive dates: not non-EOD either
        ),
        ({"audit_period_beginning": DAY, "audit_period_ending": at(1)}, False, True),
        ({"audit_period_beginning": at(1), "audit_period_ending": at(2)}, False, True),
        (
            {"audit_period_beginning": DAY, "audit_period_ending": DAY + timedelta(2)},
            False,
            True,
        ),
        # original: test_get_audit_period - a bound missing: neither
        ({"audit_period_ending": NEXT}, False, False),
        ({"audit_period_beginning": DAY}, False, False),
        ({}, False, False),
    ],
)
def test_end_of_day_detection(event: dict[str, Any], eod: bool, non_eod: bool) -> None:
    assert is_eod_exists({"event_type": EXISTS, **event}) is eod
    assert is_non_eod_exists({"event_type": EXISTS, **event}) is non_eod
    other = {"event_type": "compute.instance.foo", **event}
    assert not is_eod_exists(other)
    assert not is_non_eod_exists(other)


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [  # original: test_is_exists
        (None, False),
        ("foo", False),
        (EXISTS, True),
        ("compute.instance.exists.verified", False),
    ],
)
def test_is_exists(event_type: str | None, expected: bool) -> None:
    assert is_exists({"event_type": event_type}) is expected


def mid_day_exists(n: int = 50, **traits: Any) -> dict[str, Any]:
    """A non-EOD ``.exists`` (midnight to 12:00), as nova sends before a rebuild."""
    return exists(n, **{"audit_period_ending": at(12), "at": at(12), **traits})


@pytest.mark.parametrize(
    ("block", "the_exists", "warned"),
    [
        # original: test_do_check_no_interesting_EOD_exists
        ([], exists(), False),
        # original: test_do_check_no_interesting_non_EOD
        ([], mid_day_exists(), True),
        ([ev(1, "compute.instance.rebuild.start", at(11))], mid_day_exists(), True),
        # original: test_do_check_interesting (and its fields were compared)
        (
            [ev(1, REBUILD_END, at(11), launched_at=LAUNCHED, instance_flavor_id=2)],
            mid_day_exists(),
            False,
        ),
    ],
)
def test_non_eod_exists_without_an_operation_warns(
    block: list[dict[str, Any]], the_exists: dict[str, Any], warned: bool
) -> None:
    verdict = check_block(block, the_exists)
    assert verdict.passed
    assert len(verdict.warnings) == int(warned)
    if warned:
        assert the_exists["message_id"] in verdict.warnings[0]


def test_the_warnings_event() -> None:
    # original: test_process_block_warnings
    the_exists = mid_day_exists()
    new, env = run([ev(1, "compute.instance.update", at(1)), the_exists])
    assert verdicts(new) == [(WARNINGS, None), (VERIFIED, None)]
    warning = new[0]
    assert warning == {
        "event_type": WARNINGS,
        "message_id": new_message_id(the_exists["message_id"], WARNINGS),
        "timestamp": the_exists["timestamp"],
        "instance_id": INSTANCE,
        "warnings": f"Non-EOD .exists found (msg_id: {the_exists['message_id']}) "
        "with no operation event.",
        "original_message_id": the_exists["message_id"],
        "publisher_id": "stv3",
        "stream_id": 7,
    }
    assert [n["event_type"] for n in env[ENV_KEY]] == [WARNINGS, VERIFIED]


def test_a_failed_block_keeps_the_warning_earned_before_the_failure() -> None:
    # As the original: the warning is noted before the delete checks fail.
    the_exists = mid_day_exists(state="deleted", deleted_at=at(11))
    new, _ = run([ev(1, "compute.instance.update", at(1)), the_exists])
    assert verdicts(new) == [(WARNINGS, None), (FAILED, "U5")]


# --------------------------------------------------------------------- emitted events


def test_verified_for_a_clean_day() -> None:
    # original: test_process_block_exists
    the_exists = exists(display_name="web-1", rax_options="4", bandwidth_in=12)
    block = [
        ev(1, "compute.instance.reboot.start", at(9)),
        ev(2, "compute.instance.reboot.end", at(9.1)),
    ]
    new, _ = run([*block, the_exists])
    assert new == [
        {
            **the_exists,
            "event_type": VERIFIED,
            "message_id": new_message_id(the_exists["message_id"], VERIFIED),
            "bandwidth_out": 0,
            "original_message_id": the_exists["message_id"],
            "publisher_id": "stv3",
            "stream_id": 7,
        }
    ]
    assert new[0]["timestamp"] == the_exists["timestamp"]
    assert new[0]["rax_options"] == "4"  # kept, not defaulted
    assert new[0]["bandwidth_in"] == 12


def test_failed_carries_error_and_code() -> None:
    # original: test_process_block_bad
    the_exists = exists(launched_at=None)
    new, _ = run([the_exists])
    (failed,) = new
    assert failed["event_type"] == FAILED
    assert failed["error_code"] == "U1"
    assert failed["error"] == ".exists has no launched_at value."
    assert failed["instance_id"] == INSTANCE
    assert failed["timestamp"] == the_exists["timestamp"]
    assert failed["stream_id"] == 7
    assert (failed["bandwidth_in"], failed["bandwidth_out"]) == (0, 0)
    assert failed["rax_options"] == "0"


def test_handle_events_no_data() -> None:
    # original: test_handle_events_no_data
    new, env = run([])
    assert new == []
    assert env[ENV_KEY] == []


def test_handle_events_no_exists_is_u0() -> None:
    # original: test_handle_events_no_exists
    first = ev(1, "compute.instance.update", at(22))
    new, env = run([first, ev(2, "compute.instance.update", at(23))])
    assert new == [
        {
            "event_type": FAILED,
            "message_id": new_message_id(first["message_id"], FAILED),
            "timestamp": first["timestamp"],
            "instance_id": INSTANCE,
            "error": "Notifications, but no .exists notification found.",
            "error_code": "U0",
            "original_message_id": first["message_id"],
            "publisher_id": "stv3",
            "stream_id": 7,
        }
    ]
    assert len(env[ENV_KEY]) == 1
    assert env[ENV_KEY][0]["event_type"] == FAILED


def test_u0_without_instance_id_omits_it() -> None:
    stray = ev(1, "compute.instance.update", at(22))
    del stray["instance_id"]
    (failed,) = run([stray])[0]
    assert "instance_id" not in failed


def test_handle_events_exists_and_dangling() -> None:
    # original: test_handle_events_exists and test_handle_events_dangling
    events = [
        ev(1, "compute.instance.update", at(1)),
        exists(),
        ev(2, "compute.instance.update", NEXT + timedelta(minutes=5)),
    ]
    new, env = run(events)
    assert verdicts(new) == [(VERIFIED, None), (FAILED, "U0")]
    assert new[1]["original_message_id"] == mid(2)
    assert len(env[ENV_KEY]) == 2


def test_multiple_blocks_in_one_stream() -> None:
    # A rebuild: nova closes the period (mid-day .exists), rebuilds, and the
    # end-of-day .exists follows. The first block warns (no operation end yet);
    # the second is compared with the rebuild.end and must not repeat that
    # warning (the original kept warnings for the whole stream).
    relaunched = at(12.5)
    events = [
        ev(1, "compute.instance.rebuild.start", at(11.9)),
        mid_day_exists(50),
        ev(2, REBUILD_END, at(12.5), launched_at=relaunched, instance_flavor_id=2),
        exists(100, launched_at=relaunched),
    ]
    new, _ = run(events)
    assert verdicts(new) == [(WARNINGS, None), (VERIFIED, None), (VERIFIED, None)]
    assert [e["original_message_id"] for e in new] == [mid(50), mid(50), mid(100)]

    # Same stream, but the end-of-day .exists lost the relaunch: only it fails.
    events[-1] = exists(100, launched_at=LAUNCHED)
    new, _ = run(events)
    assert verdicts(new) == [(WARNINGS, None), (VERIFIED, None), (FAILED, "U2")]


# --------------------------------------------------------------------- ids


def test_ids_are_uuid5_of_the_original_and_the_type() -> None:
    the_exists = exists()
    (verified,) = run([the_exists])[0]
    expected = uuid.uuid5(uuid.UUID(the_exists["message_id"]), VERIFIED)
    assert verified["message_id"] == str(expected)


def test_ids_are_deterministic() -> None:
    stream = [
        ev(1, "compute.instance.update", at(1)),
        mid_day_exists(50),
        exists(100),
        ev(2, "compute.instance.update", NEXT + timedelta(minutes=5)),
    ]
    first = [e["message_id"] for e in run(copy.deepcopy(stream))[0]]
    again = [e["message_id"] for e in run(copy.deepcopy(stream))[0]]
    assert first == again
    assert len(set(first)) == len(first) == 4  # warnings, verified x2, U0
    other = [e["message_id"] for e in run([exists(101)])[0]]
    assert other[0] not in first


def test_verified_and_failed_of_one_exists_differ() -> None:
    original = mid(100)
    assert new_message_id(original, VERIFIED) != new_message_id(original, FAILED)


@pytest.mark.parametrize("original", ["msg-0001", "abc", "req-12 34"])
def test_a_non_uuid_original_id_falls_back_to_a_url_namespace(original: str) -> None:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, original)
    assert new_message_id(original, VERIFIED) == str(uuid.uuid5(namespace, VERIFIED))
    assert new_message_id(original, VERIFIED) == new_message_id(original, VERIFIED)
    the_exists = exists()
    the_exists["message_id"] = original
    (verified,) = run([the_exists])[0]
    assert verified["message_id"] == str(uuid.uuid5(namespace, VERIFIED))
    assert verified["original_message_id"] == original


def test_an_exists_without_message_id_is_a_handler_error() -> None:
    the_exists = exists()
    the_exists["message_id"] = ""
    with pytest.raises(HandlerError, match="no original message_id"):
        run([the_exists])


# --------------------------------------------------------------------- env


def test_notifications_go_to_the_env_key() -> None:
    the_exists = exists()
    new, env = run([the_exists])
    (notification,) = env[ENV_KEY]
    assert notification == to_notification(new[0])
    assert notification["event_type"] == VERIFIED
    assert notification["message_id"] == new[0]["message_id"]
    assert notification["timestamp"] == "2024-03-11 00:02:00.000000"
    assert notification["publisher_id"] == "stv3"
    assert notification["priority"] == "INFO"
    payload = notification["payload"]
    assert payload["instance_id"] == INSTANCE
    assert payload["launched_at"] == "2024-02-09 00:00:00.000000"
    assert payload["audit_period_beginning"] == "2024-03-10 00:00:00.000000"
    assert payload["original_message_id"] == the_exists["message_id"]
    assert payload["stream_id"] == 7
    assert not {"event_type", "message_id", "timestamp", "publisher_id"} & set(payload)
    json.dumps(notification)  # plain JSON, nothing left to convert


def test_notifications_are_appended_to_an_existing_list() -> None:
    earlier = {"event_type": "something.else"}
    notifications: list[dict[str, Any]] = [earlier]
    env = {"stream_id": 7, ENV_KEY: notifications}
    run([exists(), ev(1, "compute.instance.update", NEXT + timedelta(1))], env)
    assert env[ENV_KEY] is notifications
    assert [n["event_type"] for n in notifications] == [
        "something.else",
        VERIFIED,
        FAILED,
    ]


def test_a_non_list_env_value_is_an_error() -> None:
    with pytest.raises(HandlerError, match="not a list"):
        run([exists()], {"stream_id": 7, ENV_KEY: "oops"})


def test_stream_id_is_an_int_and_optional() -> None:
    (verified,) = run([exists()], {"stream_id": "42"})[0]
    assert verified["stream_id"] == 42
    (verified,) = run([exists()], {})[0]
    assert "stream_id" not in verified


# --------------------------------------------------------------------- the contract


def test_input_events_are_not_mutated() -> None:
    events = [
        ev(1, "compute.instance.update", at(1)),
        ev(2, DELETE_END, at(15), launched_at=LAUNCHED, deleted_at=at(15)),
        mid_day_exists(50, state="deleted", deleted_at=at(15)),
        ev(3, "compute.instance.update", NEXT + timedelta(1)),
    ]
    snapshot = copy.deepcopy(events)
    handed = list(events)
    out = UsageHandler().handle_events(handed, {"stream_id": 1})
    assert events == snapshot
    assert handed == events  # the list passed in is not extended in place
    assert out is not handed
    assert len(out) == len(events) + 3
    assert all(a is b for a, b in zip(out, events, strict=False))


def test_new_events_hold_only_storable_trait_values() -> None:
    events = [
        ev(1, "compute.instance.update", at(1)),
        mid_day_exists(50),
        exists(100, launched_at=None),
        ev(2, "compute.instance.update", NEXT + timedelta(1)),
    ]
    new, _ = run(events)
    assert len(new) == 4
    for event in new:
        traits = {
            k: v for k, v in event.items() if k not in ("event_type", "message_id")
        }
        encode_traits(traits)
        for value in traits.values():
            value_hash(value)  # raises TypeError for None, bool, list ...
        assert isinstance(event["timestamp"], datetime)


def test_one_handler_serves_stream_after_stream() -> None:
    handler = UsageHandler()
    first_env: dict[str, Any] = {"stream_id": 1}
    handler.handle_events([mid_day_exists()], first_env)
    second_env: dict[str, Any] = {"stream_id": 2}
    out = handler.handle_events([exists()], second_env)
    assert [e["event_type"] for e in out[1:]] == [VERIFIED]
    assert [n["event_type"] for n in second_env[ENV_KEY]] == [VERIFIED]
    handler.commit()
    handler.rollback()


def test_unknown_parameters_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="queue_name"):
        UsageHandler(queue_name="x")


def test_the_alias_resolves() -> None:
    assert resolve_handler("usage") is UsageHandler
    assert resolve_handler("winchester.pipeline_handler:UsageHandler") is UsageHandler
    assert check_handler("usage") == "ok"


# --------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("this", "that", "fields", "conflict"),
    [
        # original: test_verify_fields_no_match
        ({"a": 1, "b": 2}, {"a": 1, "b": 2}, ["d", "e"], False),
        # original: test_verify_fields_happyday
        ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, ["a", "b", "c"], False),
        # original: test_verify_fields_mismatch
        ({"a": 1, "b": 2, "c": 3}, {"a": 10, "b": 20, "c": 30}, ["a", "b"], True),
        ({"a": 1}, {}, ["a"], True),
    ],
)
def test_verify_fields(
    this: dict[str, Any], that: dict[str, Any], fields: list[str], conflict: bool
) -> None:
    if conflict:
        with pytest.raises(UsageCheckError, match="Conflicting") as info:
            verify_fields(this, that, fields)
        assert info.value.code == "U2"
    else:
        verify_fields(this, that, fields)


@pytest.mark.parametrize(
    ("block", "code"),
    [
        # original: test_extract_interesting - only relaunch ends are compared
        ([ev(1, "compute.instance.create.end", at(1), launched_at=at(1))], None),
        ([ev(1, "compute.instance.rebuild.start", at(1), launched_at=at(1))], None),
        ([ev(1, "compute.instance.resize.prep.end", at(1), launched_at=at(1))], None),
        ([ev(1, REBUILD_END, at(1), launched_at=at(1))], "U2"),
        ([ev(1, "compute.instance.finish_resize.end", at(1), launched_at=at(1))], "U2"),
        ([ev(1, "compute.instance.rescue.end", at(1), launched_at=at(1))], "U2"),
    ],
)
def test_which_events_are_compared(
    block: list[dict[str, Any]], code: str | None
) -> None:
    assert check_block(block, exists()).code == code


@pytest.mark.parametrize(
    ("the_exists", "code"),
    [
        # original: test_confirm_launched_at - not active: not checked
        (
            exists(state="deleted", launched_at=at(1), deleted_at=NEXT + timedelta(1)),
            None,
        ),
        (exists(state="stopped", launched_at=None), None),
        (exists(launched_at=at(1)), "U8"),
        # original: test_extract_launched_at
        (exists(launched_at=None), "U1"),
        (exists(), None),
    ],
)
def test_launched_at_checks(the_exists: dict[str, Any], code: str | None) -> None:
    assert check_block([], the_exists).code == code


@pytest.mark.parametrize(
    ("block", "traits", "code"),
    [
        # original: test_confirm_delete_no_delete_events
        ([], {"deleted_at": at(3), "state": "active"}, "U3"),
        ([], {"deleted_at": at(1), "launched_at": at(2), "state": "deleted"}, "U4"),
        ([], {"deleted_at": at(2), "launched_at": at(1), "state": "deleted"}, "U5"),
        ([], {}, None),
        # original: test_confirm_delete_with_delete_events
        ([ev(1, DELETE_END, at(2))], {}, "U6"),
        (
            [ev(n, DELETE_END, at(n)) for n in (1, 2)],
            {"deleted_at": at(2), "state": "deleted"},
            "U7",
        ),
        (
            [ev(1, DELETE_END, at(2), launched_at=LAUNCHED, deleted_at=at(2))],
            {"deleted_at": at(2), "state": "deleted"},
            None,
        ),
    ],
)
def test_delete_checks(
    block: list[dict[str, Any]], traits: dict[str, Any], code: str | None
) -> None:
    assert check_block(block, exists(**traits)).code == code
