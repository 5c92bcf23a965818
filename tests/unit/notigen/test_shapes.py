"""Output shapes: flat, oslo.messaging v2 envelope, nova versioned."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from typing import Any

import orjson
import pytest

from notigen import Engine, Renderer, SimConfig, generate_lines
from notigen.clock import HOUR
from notigen.operations import Emitted
from notigen.versioned import to_versioned

CONFIG = SimConfig(seed=2, duration=6 * HOUR, instances=20, ops_per_hour=150)
OSLO_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\Z")
VERSIONED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def _lines(**shape: bool) -> list[bytes]:
    return [line.data for line in generate_lines(Engine(CONFIG), Renderer(**shape))]


def test_flat_messages_look_like_nova_legacy() -> None:
    for data in _lines()[:5000]:
        message = orjson.loads(data)
        assert OSLO_TIME.match(message["timestamp"])
        assert OSLO_TIME.match(message["_context_timestamp"])
        assert message["priority"] in ("INFO", "ERROR")
        service, _, host = message["publisher_id"].partition(".")
        assert service in ("compute", "scheduler") and host
        if message["priority"] == "ERROR" and "args" in message["payload"]:
            assert "." not in message["event_type"]  # the bare method name


def test_envelope_wraps_the_flat_message_unchanged() -> None:
    flat = _lines()
    wrapped = _lines(envelope=True)
    assert len(flat) == len(wrapped)
    for plain, data in zip(flat, wrapped, strict=True):
        outer = orjson.loads(data)
        assert set(outer) == {"oslo.version", "oslo.message"}
        assert outer["oslo.version"] == "2.0"
        assert isinstance(outer["oslo.message"], str)
        assert orjson.loads(outer["oslo.message"]) == orjson.loads(plain)


def test_envelope_is_unwrapped_by_the_distiller(corpus: Any) -> None:
    from distiller import Distiller

    distiller = Distiller.from_file(corpus / "config" / "event_definitions.yaml")
    for plain, data in list(zip(_lines(), _lines(envelope=True), strict=True))[:300]:
        a = distiller.distill(orjson.loads(plain))
        b = distiller.distill(orjson.loads(data))
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert a.traits == b.traits and a.message_id == b.message_id


@pytest.fixture(scope="module")
def versioned() -> list[dict[str, Any]]:
    return [orjson.loads(data) for data in _lines(versioned=True)]


def _objects(value: Any, path: str, found: dict[str, list[dict[str, Any]]]) -> None:
    """Collect every nova_object below ``value`` by path (list items as ``[]``)."""
    if isinstance(value, dict):
        if "nova_object.name" in value:
            found[path].append(value)
            value = value["nova_object.data"]
        for key, item in value.items():
            _objects(item, f"{path}.{key}", found)
    elif isinstance(value, list):
        for item in value:
            _objects(item, path + "[]", found)


def test_versioned_messages_are_well_formed(versioned: list[dict[str, Any]]) -> None:
    assert len(versioned) > 1000
    for message in versioned:
        assert re.fullmatch(
            r"(instance|scheduler|compute|compute_task)\.[a-z_.]+",
            message["event_type"],
        )
        assert re.fullmatch(
            r"nova-(compute|scheduler|conductor):[\w.-]+", message["publisher_id"]
        )
        uuid.UUID(message["message_id"])
        assert OSLO_TIME.match(message["timestamp"])
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        _objects(message["payload"], "", found)
        assert "" in found  # the payload itself is a nova object
        for objects in found.values():
            for obj in objects:
                assert set(obj) == {
                    "nova_object.name",
                    "nova_object.namespace",
                    "nova_object.version",
                    "nova_object.data",
                }
                assert obj["nova_object.namespace"] == "nova"
                assert re.fullmatch(r"\d+\.\d+", obj["nova_object.version"])
        data = message["payload"]["nova_object.data"]
        for key in ("created_at", "launched_at", "updated_at"):
            if data.get(key) is not None:
                assert VERSIONED_TIME.match(data[key]), key


def test_versioned_matches_nova_samples(
    versioned: list[dict[str, Any]], real_versioned: list[dict[str, Any]]
) -> None:
    """Per event type in both: same payload classes and data keys, nested too."""
    real: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for message in real_versioned:
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        _objects(message["payload"], "", found)
        for path, objects in found.items():
            real[(message["event_type"], path)] += objects
    compared = set()
    for message in versioned:
        found = defaultdict(list)
        _objects(message["payload"], "", found)
        for path, objects in found.items():
            key = (message["event_type"], path)
            if key not in real:
                continue
            names = {o["nova_object.name"] for o in real[key]}
            union = set().union(*(o["nova_object.data"] for o in real[key]))
            inter = set.intersection(*(set(o["nova_object.data"]) for o in real[key]))
            for obj in objects:
                compared.add(message["event_type"])
                assert obj["nova_object.name"] in names, key
                data = set(obj["nova_object.data"])
                assert inter <= data <= union, (key, inter - data, data - union)
    assert {
        "instance.create.start",
        "instance.create.end",
        "instance.exists",
        "instance.resize_prep.start",
        "instance.snapshot.start",
        "scheduler.select_destinations.start",
        "compute.exception",
    } <= compared


def test_versioned_types_without_samples_use_the_action_payload(
    versioned: list[dict[str, Any]], real_versioned: list[dict[str, Any]]
) -> None:
    action = next(
        m["payload"]
        for m in real_versioned
        if m["payload"]["nova_object.name"] == "InstanceActionPayload"
    )
    keys = set(action["nova_object.data"])
    kinds = {m["event_type"] for m in real_versioned}
    for message in versioned:
        payload = message["payload"]
        if message["event_type"] in kinds:
            continue
        if payload["nova_object.name"] == "InstanceActionPayload":
            assert set(payload["nova_object.data"]) == keys, message["event_type"]
        elif payload["nova_object.name"] == "InstanceUpdatePayload":
            data = payload["nova_object.data"]
            assert {
                "state_update",
                "audit_period",
                "bandwidth",
                "old_display_name",
                "tags",
            } <= set(data)
            assert (
                set(data)
                - {
                    "state_update",
                    "audit_period",
                    "bandwidth",
                    "old_display_name",
                    "tags",
                }
                <= keys
            )


def test_versioned_maps_what_it_can_and_drops_the_rest(
    three_days: list[Emitted],
) -> None:
    dropped = set()
    mapped: dict[str, set[str]] = defaultdict(set)
    for message, hints in three_days[:20000]:
        body = to_versioned(message, hints)
        if body is None:
            dropped.add(message["event_type"])
        else:
            mapped[message["event_type"]].add(body["event_type"])
            assert body["message_id"] == message["message_id"]
            assert body["timestamp"] == message["timestamp"]
    assert dropped == {
        "scheduler.run_instance.scheduled",
        "compute.instance.instance.create.error",
    }
    assert mapped["compute.instance.create.start"] == {"instance.create.start"}
    assert mapped["compute.instance.finish_resize.end"] == {
        "instance.resize_finish.end"
    }
    assert mapped["compute.instance.resize.prep.start"] == {
        "instance.resize_prep.start"
    }
    assert mapped["terminate_instance"] == {"compute.exception"}
    assert mapped["scheduler.run_instance"] == {"compute_task.build_instances.error"}
