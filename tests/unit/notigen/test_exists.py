"""The ``.exists`` the usage audit needs: one per live instance per day, consistent.

Reconstructed only from the output (three simulated days), the way a consumer
would see it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from notigen import Engine, SimConfig
from notigen.clock import DAY, nova_str, oslo
from stacktach.timeutils import parse_timestamp
from tests.unit.notigen.conftest import THREE_DAYS

EXISTS = "compute.instance.exists"
# Events after which the instance has a new launched_at (what STv3's audit compares).
RELAUNCHING = (
    "compute.instance.rebuild.end",
    "compute.instance.finish_resize.end",
    "compute.instance.rescue.end",
)


def _us(text: str) -> int:
    stamp = parse_timestamp(text)
    return int(stamp.timestamp()) * 1_000_000 + stamp.microsecond


def _midnights() -> list[int]:
    start = THREE_DAYS.start
    assert THREE_DAYS.duration is not None
    first = start - start % DAY + DAY
    return list(range(first, start + THREE_DAYS.duration + 1, DAY))


def _is_eod(payload: dict[str, Any]) -> bool:
    beginning = _us(payload["audit_period_beginning"])
    ending = _us(payload["audit_period_ending"])
    return beginning % DAY == 0 and ending - beginning == DAY


def test_every_live_instance_has_one_exists_per_day(
    three_days_messages: list[dict[str, Any]],
) -> None:
    first_launch: dict[str, int] = {}
    terminated: dict[str, int] = {}
    audited: dict[int, list[str]] = defaultdict(list)
    for message in three_days_messages:
        payload = message["payload"]
        instance = payload.get("instance_id")
        if not isinstance(instance, str) or "launched_at" not in payload:
            continue
        if payload["launched_at"]:
            launched = _us(payload["launched_at"])
            first_launch[instance] = min(launched, first_launch.get(instance, launched))
        if payload.get("terminated_at"):
            terminated.setdefault(instance, _us(payload["terminated_at"]))
        if message["event_type"] == EXISTS and _is_eod(payload):
            audited[_us(payload["audit_period_ending"])].append(instance)

    midnights = _midnights()
    assert len(midnights) == 3
    assert sorted(audited) == midnights  # no end-of-day audit outside the window
    for midnight in midnights:
        expected = {
            instance
            for instance, launched in first_launch.items()
            if launched < midnight and terminated.get(instance, midnight) >= midnight
        }
        assert len(audited[midnight]) == len(set(audited[midnight]))  # once each
        assert set(audited[midnight]) == expected, oslo(midnight)
        assert len(expected) > 20


def test_exists_periods_are_whole_days_in_nova_format(
    three_days_messages: list[dict[str, Any]],
) -> None:
    for message in three_days_messages:
        if message["event_type"] != EXISTS:
            continue
        payload = message["payload"]
        if _is_eod(payload):
            assert payload["audit_period_beginning"].endswith(" 00:00:00")
            assert payload["audit_period_ending"].endswith(" 00:00:00")
            assert message["publisher_id"] == "compute." + payload["host"]
            assert message["_context_is_admin"] is True
            assert payload["launched_at"] < payload["audit_period_ending"]
            # Sent by the periodic task shortly after the period ends.
            sent = _us(message["timestamp"]) - _us(payload["audit_period_ending"])
            assert 0 < sent < 30 * 60 * 1_000_000


def test_a_delete_closes_the_day_with_its_own_exists(
    three_days_messages: list[dict[str, Any]],
) -> None:
    deletes = 0
    for index, message in enumerate(three_days_messages):
        if message["event_type"] != "compute.instance.delete.end":
            continue
        payload = message["payload"]
        instance = payload["instance_id"]
        closing = [
            m
            for m in three_days_messages[index + 1 : index + 400]
            if m["event_type"] == EXISTS and m["payload"]["instance_id"] == instance
        ]
        if not payload["launched_at"]:
            assert closing == []  # never launched: nothing to bill
            continue
        deletes += 1
        assert len(closing) == 1
        exists = closing[0]["payload"]
        assert closing[0]["_context_request_id"] == message["_context_request_id"]
        assert exists["state"] == "deleted"
        assert exists["deleted_at"] == payload["deleted_at"] != ""
        assert exists["launched_at"] == payload["launched_at"]
        deleted = _us(payload["deleted_at"])
        assert exists["audit_period_beginning"] == nova_str(deleted - deleted % DAY)
        assert _us(exists["audit_period_ending"]) >= deleted
    assert deletes > 50


def test_launched_at_of_exists_follows_the_launches(
    three_days_messages: list[dict[str, Any]],
) -> None:
    """An .exists carries the launched_at its instance showed at the period's end.

    (An end-of-day .exists describes the instance at midnight, even when it is
    sent after a relaunch that happened a few seconds past midnight.)
    """
    history: dict[str, list[tuple[str, str]]] = defaultdict(list)
    checked = 0
    for message in three_days_messages:
        payload = message["payload"]
        instance = payload.get("instance_id")
        if not isinstance(instance, str) or "launched_at" not in payload:
            continue
        if message["event_type"] == EXISTS:
            ending = payload["audit_period_ending"]
            shown = [value for stamp, value in history[instance] if stamp <= ending]
            if shown:
                assert payload["launched_at"] == shown[-1]
                checked += 1
        elif payload["launched_at"]:
            history[instance].append((message["timestamp"], payload["launched_at"]))
    assert checked > 100


def _stream_day(message: dict[str, Any]) -> str:
    # STv3's sandbox trigger: one stream per instance and day; an .exists goes to
    # the day its audit period begins.
    if message["event_type"] == EXISTS:
        return str(message["payload"]["audit_period_beginning"])[:10]
    return str(message["timestamp"])[:10]


def _audit_problems(block: list[dict[str, Any]], exists: dict[str, Any]) -> list[str]:
    """The checks of STv3's usage handler that clean traffic must pass."""
    problems = []
    launched = exists.get("launched_at")
    if not launched:
        problems.append("U1 no launched_at")
    last = [m["payload"] for m in block if m["event_type"] in RELAUNCHING]
    if last:
        for key in ("launched_at", "instance_type_id", "tenant_id"):
            if last[-1][key] != exists[key]:
                problems.append(f"U2 {key}")
    deletes = [m["payload"] for m in block if m["event_type"].endswith("delete.end")]
    for delete in deletes:
        for key in ("launched_at", "deleted_at"):
            if delete[key] != exists[key]:
                problems.append(f"U2 delete {key}")
    deleted_at = exists.get("deleted_at")
    if deleted_at and exists.get("state") != "deleted":
        problems.append("U3 deleted_at but not deleted")
    if deleted_at and launched and deleted_at < launched:
        problems.append("U4 deleted before launched")
    if deleted_at and not deletes:
        problems.append("U5 deleted_at without a delete")
    if deletes and not deleted_at:
        problems.append("U6 delete without deleted_at")
    if len(deletes) > 1:
        problems.append("U7 several deletes")
    return problems


def test_clean_traffic_passes_the_usage_audit_checks(
    three_days_messages: list[dict[str, Any]],
) -> None:
    streams: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for message in three_days_messages:
        instance = message["payload"].get("instance_id")
        if message["event_type"].startswith("compute.instance.") and instance:
            streams[(instance, _stream_day(message))].append(message)
    last_day = oslo(_midnights()[-1] - DAY)[:10]
    audited = 0
    problems: list[tuple[str, str, str]] = []
    for (instance, day), messages in streams.items():
        block: list[dict[str, Any]] = []
        for message in sorted(messages, key=lambda m: str(m["timestamp"])):
            if message["event_type"] != EXISTS:
                block.append(message)
                continue
            audited += 1
            problems += [
                (instance, day, p) for p in _audit_problems(block, message["payload"])
            ]
            block = []
        if (
            block
            and day <= last_day
            and any(m["payload"]["launched_at"] for m in block)
        ):
            # Operations of an audited day must end in that day's .exists.
            problems.append((instance, day, "U0 events after the last .exists"))
    assert problems == []
    assert audited > 100


def test_pre_existing_instances_are_audited_from_the_first_midnight() -> None:
    config = SimConfig(seed=3, duration=DAY, instances=25, ops_per_hour=0)
    messages = [m for m, _ in Engine(config)]
    assert {m["event_type"] for m in messages} == {EXISTS}
    assert len({m["payload"]["instance_id"] for m in messages}) == 25
    assert all(m["payload"]["launched_at"] < "2024-01-01" for m in messages)
