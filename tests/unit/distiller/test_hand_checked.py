"""Hand-checked distiller tests.

Every expected value here was worked out by reading the definitions in
``/work/shared/corpus/config/*.yaml`` and the notification JSON in
``/work/shared/corpus/*.jsonl``, not by running the distiller. The comment above each
test says where each value comes from (definition + JSON path).

Abbreviations used in the comments:

* ``SD`` - ``config/event_definitions.yaml`` (stackdistiller format, the sandbox's);
  ``SD#1`` is its first definition (``compute.instance.*``, anchor
  ``&instance_traits``), ``SD#2`` the second (``compute.instance.exists``).
* ``CM`` - ``config/ceilometer_event_definitions.yaml`` (Ceilometer format), cited
  by the line its definition starts on (``CM:74`` ...).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from distiller import Distiller, NotificationRejected, TraitPlugin
from distiller.definitions import build_definitions
from tests.conftest import CORPUS

SD_DEFS = CORPUS / "config" / "event_definitions.yaml"
CM_DEFS = CORPUS / "config" / "ceilometer_event_definitions.yaml"
NOTIGEN = "notigen-nova.jsonl"
CEILO = "ceilometer-fixtures.jsonl"
VERSIONED = "nova-versioned.jsonl"

THIS_MODULE = "tests.unit.distiller.test_hand_checked"

# Stable keys of the corpus notifications used below.
NOTIGEN_EXISTS = "eb1a1b5a-545a-400c-a9e7-221c08c3ddc1"  # compute.instance.exists
NOTIGEN_EXISTS_NO_FRACTION = "e5f5ae13-2364-4844-8def-ed646eb61d17"  # "...19:08:00"
NOTIGEN_UPDATE = "0615c8e1-d2f7-43dd-81d4-598ffdbd2ab0"  # compute.instance.update
NOTIGEN_TERMINATE = "5176d5bd-2a3e-4796-844b-05f9b41f635f"  # terminate_instance
CINDER_ID = "0c65cb9c-018c-11e2-bc91-5453ed1bbb5f"  # shared by all volume/image CRUD
CEILO_EXISTS = "4b884c03-756d-4c06-8b42-80b6def9d302"  # compute.instance.exists
NEUTRON_NETWORK = "9e839576-cc47-4c60-a7d8-5743681213b1"  # also floatingip.exists
NEUTRON_IPSEC = "4c0e6ecb-2e40-4975-aee2-d88045c747bf"  # shared by several types
VERSIONED_KEYPAIR = "156ba064-3736-560f-93fd-1f55bf522682"  # keypair.import.start


# --------------------------------------------------------------------- helpers


@functools.cache
def _lines(name: str) -> tuple[str, ...]:
    return tuple((CORPUS / name).read_text(encoding="utf-8").splitlines())


def _find(name: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first notification of corpus file ``name`` that ``predicate`` accepts.

    Returns a fresh dict (parsed again each call), so a test may change it.
    """
    for line in _lines(name):
        notification = json.loads(line)
        if isinstance(notification, dict) and predicate(notification):
            return notification
    raise AssertionError(f"no such notification in {name}")


def _by_id(name: str, message_id: str, event_type: str | None = None) -> dict[str, Any]:
    return _find(
        name,
        lambda n: (
            n.get("message_id") == message_id
            and (event_type is None or n.get("event_type") == event_type)
        ),
    )


def _raw_line(name: str, message_id: str) -> str:
    for line in _lines(name):
        if json.loads(line).get("message_id") == message_id:
            return line
    raise AssertionError(f"no message_id {message_id} in {name}")


def _sandbox(**kwargs: Any) -> Distiller:
    return Distiller.from_file(SD_DEFS, **kwargs)


def _ceilometer(**kwargs: Any) -> Distiller:
    return Distiller.from_file(CM_DEFS, ceilometer=True, **kwargs)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _minimal(event_type: str, **payload: Any) -> dict[str, Any]:
    """A small hand-made notification for the glob tests."""
    return {
        "event_type": event_type,
        "message_id": f"msg-{event_type}",
        "publisher_id": "compute.host-9",
        "timestamp": "2014-05-01T00:00:00Z",
        "payload": payload,
    }


# --------------------------------------------------------------------- plugins


class JoinMatchesPlugin(TraitPlugin):
    """Joins every ``(path, value)`` match as ``path=value``; ``None`` for none."""

    def __init__(self, separator: str = ";") -> None:
        self.separator = separator

    def trait_value(self, match_list: list[tuple[str, Any]]) -> Any:
        if not match_list:
            return None
        return self.separator.join(f"{path}={value}" for path, value in match_list)


class CountMatchesPlugin(TraitPlugin):
    """The number of matches (called even when nothing matched)."""

    def trait_value(self, match_list: list[tuple[str, Any]]) -> Any:
        return len(match_list)


class CeilometerStyleUpper:
    """A Ceilometer-style plugin: ``trait_values`` returns one value per match."""

    def __init__(self, **_parameters: Any) -> None:
        pass

    def trait_values(self, match_list: list[tuple[str, Any]]) -> list[Any]:
        return [str(value).upper() for _path, value in match_list]


# ---------------------------------------------------------- 1. exists, full traits


# Notification: notigen-nova.jsonl, message_id eb1a1b5a-... (compute.instance.exists).
# Definition: SD#1 `compute.instance.*` and SD#2 `compute.instance.exists` both match;
# the last one, SD#2 (`<<: *instance_traits` + audit_period_*), wins.
#   tenant_id      <- payload.tenant_id "201914" (SD#1 overrides the default)
#   user_id        <- payload.user_id "909464"
#   request_id     <- _context_request_id "req-0e8e28db-..."
#   instance_id    <- payload.instance_uuid absent, so payload.instance_id
#   service        <- publisher_id "publisher-534083", split segment 0 (no dot)
#   host           <- split segment 1 of "publisher-534083": no such piece -> absent
#   instance_flavor, instance_type <- payload.instance_type "1GB Standard Instance"
#   instance_flavor_id (int) <- payload.image_meta.instance_type_flavor_id absent,
#                               so payload.instance_type_id 3
#   memory_mb 1024, disk_gb 40, root_gb 40, ephemeral_gb 0, vcpus 1 (type int)
#   state "active", state_description "rebuilding", display_name "Instance_611795"
#   os_architecture/os_version/os_distro <- payload.image_meta.'org.openstack__1__*'
#       "x64" / "7" / "org.debian"
#   launched_at (datetime) <- payload.launched_at "2014-05-31 02:43:05.007151"
#   audit_period_beginning <- payload.audit_period_beginning
#       "2014-05-31 01:29:09.007151"
#   audit_period_ending <- payload.audit_period_ending "2014-05-31 02:50:03.007151"
#   absent: message (no payload.message), bandwidth_in/out (payload.bandwidth is {}),
#   rax_options (no such image_meta key), deleted_at (payload.deleted_at and
#   payload.terminated_at are both "" -> absent for a datetime).
# Event timestamp <- timestamp "2014-05-31 02:50:03.397263".
def test_notigen_exists_all_traits() -> None:
    distiller = _sandbox()
    event = distiller.distill(_by_id(NOTIGEN, NOTIGEN_EXISTS))

    assert event is not None
    assert event.event_type == "compute.instance.exists"
    assert event.message_id == NOTIGEN_EXISTS
    assert event.timestamp == _utc(2014, 5, 31, 2, 50, 3, 397263)
    assert event.traits == {
        "tenant_id": "201914",
        "user_id": "909464",
        "request_id": "req-0e8e28db-0ed3-451b-aa9d-9c51af770568",
        "instance_id": "909263a2-6252-4293-978a-2e6b8af3a702",
        "service": "publisher-534083",
        "instance_flavor": "1GB Standard Instance",
        "instance_flavor_id": 3,
        "memory_mb": 1024,
        "disk_gb": 40,
        "root_gb": 40,
        "ephemeral_gb": 0,
        "vcpus": 1,
        "instance_type": "1GB Standard Instance",
        "state": "active",
        "state_description": "rebuilding",
        "os_architecture": "x64",
        "os_version": "7",
        "os_distro": "org.debian",
        "launched_at": _utc(2014, 5, 31, 2, 43, 5, 7151),
        "display_name": "Instance_611795",
        "audit_period_beginning": _utc(2014, 5, 31, 1, 29, 9, 7151),
        "audit_period_ending": _utc(2014, 5, 31, 2, 50, 3, 7151),
    }
    assert type(event.traits["memory_mb"]) is int
    assert type(event.traits["instance_flavor_id"]) is int
    # deleted_at/terminated_at "" are "absent", not conversion errors.
    assert not distiller.stats.trait_errors


# Notification: notigen-nova.jsonl, message_id 0615c8e1-... (compute.instance.update).
# Only SD#1 `compute.instance.*` matches, which has no audit_period_* traits, so the
# payload's audit_period_beginning "2014-04-30 11:28:05.922539" is NOT extracted.
# payload.launched_at "" -> no launched_at; payload.memory_mb 512 -> 512;
# payload.state "building". timestamp "2014-05-01 00:45:00" (no fraction).
def test_notigen_update_gets_generic_instance_definition_only() -> None:
    notification = _by_id(NOTIGEN, NOTIGEN_UPDATE)
    assert "audit_period_beginning" in notification["payload"]

    event = _sandbox().distill(notification)

    assert event is not None
    assert event.timestamp == _utc(2014, 5, 1, 0, 45, 0)
    assert "audit_period_beginning" not in event.traits
    assert "audit_period_ending" not in event.traits
    assert "launched_at" not in event.traits
    assert event.traits["memory_mb"] == 512
    assert event.traits["state"] == "building"
    assert event.traits["instance_id"] == "eaf4fba7-c306-4f0e-90b3-4c447f0171c0"


# ----------------------------------------------------------- 2./3. host and service


# Notification: eb1a1b5a-... with publisher_id changed to "compute.host-1.example.com".
# SD#1 host: `fields: publisher_id`, `plugin: {name: split, parameters: {segment: 1,
# max_split: 1}}` -> "compute.host-1.example.com".split(".", 1)[1]
# = "host-1.example.com".
# SD#1 service: `plugin: split` (defaults: separator ".", segment 0, no limit)
# -> "compute" - overriding the default service trait (the whole publisher_id).
def test_host_and_service_split_on_dotted_publisher_id() -> None:
    notification = _by_id(NOTIGEN, NOTIGEN_EXISTS)
    notification["publisher_id"] = "compute.host-1.example.com"

    event = _sandbox().distill(notification)

    assert event is not None
    assert event.traits["host"] == "host-1.example.com"
    assert event.traits["service"] == "compute"


# Every notigen publisher_id is "publisher-NNN" (README: "publisher_id has no '.'").
# Every SD definition merges &instance_traits, so for each distilled notigen event:
# host (split segment 1) has no piece -> absent; service (split segment 0) is the
# whole publisher_id.
def test_notigen_publisher_ids_without_dot_give_no_host() -> None:
    distiller = _sandbox()
    distilled = 0
    for line in _lines(NOTIGEN):
        notification = json.loads(line)
        assert "." not in notification["publisher_id"]
        event = distiller.distill(notification)
        if event is None:
            continue
        distilled += 1
        assert "host" not in event.traits
        assert event.traits["service"] == notification["publisher_id"]
    assert distilled > 0


# Notification: notigen terminate_instance 5176d5bd-... (an ERROR exception
# notification). No SD definition matches "terminate_instance" (SD globs are
# compute.instance.*, compute.instance.exists, snapshot_instance,
# scheduler.run_instance.*, keypair.import.*, rebuild_instance) -> None.
# With catchall=True it gets only the stackdistiller default traits:
#   service    <- publisher_id, whole (no split): "compute.host-1.example.com"
#   request_id <- _context_request_id "req-4d44d122-459b-445c-bcbc-f118eab1c5f1"
#   tenant_id  <- payload.tenant_id absent, so _context_tenant "634385"
# Contrast: an SD-defined event with the same publisher_id gets service "compute"
# (SD#1 `service: {fields: publisher_id, plugin: split}` overrides the default).
def test_service_split_plugin_overrides_default_service() -> None:
    terminate = _by_id(NOTIGEN, NOTIGEN_TERMINATE)
    terminate["publisher_id"] = "compute.host-1.example.com"
    exists = _by_id(NOTIGEN, NOTIGEN_EXISTS)
    exists["publisher_id"] = "compute.host-1.example.com"

    assert _sandbox().distill(copy.deepcopy(terminate)) is None

    catchall = _sandbox(catchall=True)
    default_event = catchall.distill(terminate)
    assert default_event is not None
    assert default_event.traits == {
        "service": "compute.host-1.example.com",
        "request_id": "req-4d44d122-459b-445c-bcbc-f118eab1c5f1",
        "tenant_id": "634385",
    }
    defined_event = catchall.distill(exists)
    assert defined_event is not None
    assert defined_event.traits["service"] == "compute"


# ------------------------------------------------------- 4. globs, last match wins


# Definition: event_type ['*.start', '!scheduler.*'].
#   compute.instance.create.start: matches '*.start', not '!scheduler.*' -> event
#   scheduler.run_instance.start:  matches '*.start' but excluded -> None
#   compute.instance.create.end:   does not match '*.start' -> None
# Traits: kind <- payload.kind; defaults: service <- publisher_id "compute.host-9".
def test_exclusion_glob() -> None:
    distiller = Distiller(
        build_definitions(
            [
                {
                    "event_type": ["*.start", "!scheduler.*"],
                    "traits": {"kind": {"fields": "payload.kind"}},
                }
            ]
        )
    )

    event = distiller.distill(_minimal("compute.instance.create.start", kind="a"))
    assert event is not None
    assert event.traits == {"kind": "a", "service": "compute.host-9"}
    assert event.timestamp == _utc(2014, 5, 1, 0, 0, 0)
    assert distiller.distill(_minimal("scheduler.run_instance.start", kind="b")) is None
    assert distiller.distill(_minimal("compute.instance.create.end", kind="c")) is None


# Definitions (in order):
#   #1 'compute.instance.exists'  which <- payload.first,  only_first <- payload.x
#   #2 'compute.instance.*'       which <- payload.second
#   #3 'compute.instance.update'  which <- payload.third
# The LAST matching definition wins, even when an earlier one is more specific, and
# definitions are not merged:
#   compute.instance.exists -> #2 (last match): which "2", no only_first
#   compute.instance.update -> #3: which "3"
#   compute.node.update     -> none of them -> None
def test_last_matching_definition_wins() -> None:
    distiller = Distiller(
        build_definitions(
            [
                {
                    "event_type": "compute.instance.exists",
                    "traits": {
                        "which": {"fields": "payload.first"},
                        "only_first": {"fields": "payload.x"},
                    },
                },
                {
                    "event_type": "compute.instance.*",
                    "traits": {"which": {"fields": "payload.second"}},
                },
                {
                    "event_type": "compute.instance.update",
                    "traits": {"which": {"fields": "payload.third"}},
                },
            ]
        )
    )
    payload = {"first": "1", "second": "2", "third": "3", "x": "x"}

    exists = distiller.distill(_minimal("compute.instance.exists", **payload))
    update = distiller.distill(_minimal("compute.instance.update", **payload))

    assert exists is not None
    assert update is not None
    assert exists.traits == {"which": "2", "service": "compute.host-9"}
    assert update.traits == {"which": "3", "service": "compute.host-9"}
    assert distiller.distill(_minimal("compute.node.update", **payload)) is None


# Definition: event_type ['!compute.*', '!scheduler.*'] - exclusions only, which
# means "everything but": image.update matches; compute.instance.update and
# scheduler.run_instance.start do not.
def test_exclusion_only_list_means_everything_but() -> None:
    distiller = Distiller(
        build_definitions(
            [
                {
                    "event_type": ["!compute.*", "!scheduler.*"],
                    "traits": {"kind": {"fields": "payload.kind"}},
                }
            ]
        )
    )

    event = distiller.distill(_minimal("image.update", kind="img"))
    assert event is not None
    assert event.traits["kind"] == "img"
    assert distiller.distill(_minimal("compute.instance.update", kind="x")) is None
    assert distiller.distill(_minimal("scheduler.run_instance.start", kind="y")) is None


# ------------------------------------------------------------- 5. oslo v2 envelope


# Notification: eb1a1b5a-... flat, and wrapped as {"oslo.version": "2.0",
# "oslo.message": json.dumps(flat)}. Same event; message_id and timestamp as in
# test_notigen_exists_all_traits. distill_json on the raw corpus line (str and bytes)
# and on the envelope's JSON gives the same event too.
def test_oslo_v2_envelope_gives_same_event() -> None:
    distiller = _sandbox()
    flat = _by_id(NOTIGEN, NOTIGEN_EXISTS)
    envelope = {"oslo.version": "2.0", "oslo.message": json.dumps(flat)}

    from_flat = distiller.distill(flat)
    from_envelope = distiller.distill(envelope)

    assert from_envelope is not None
    assert from_envelope.message_id == NOTIGEN_EXISTS
    assert from_envelope.timestamp == _utc(2014, 5, 31, 2, 50, 3, 397263)
    assert from_envelope.traits["memory_mb"] == 1024
    assert from_envelope == from_flat
    line = _raw_line(NOTIGEN, NOTIGEN_EXISTS)
    assert distiller.distill_json(line) == from_flat
    assert distiller.distill_json(line.encode()) == from_flat
    assert distiller.distill_json(json.dumps(envelope)) == from_flat


# -------------------------------------------------------------------- 6. plugins


# Notification: eb1a1b5a-... (compute.instance.exists). Definition built in the test:
#   ids:     fields [payload.tenant_id, payload.user_id, payload.no_such_key],
#            plugin "<this module>:JoinMatchesPlugin" (import string)
#            -> matches (payload.tenant_id, "201914"), (payload.user_id, "909464");
#               the missing key gives no match
#            -> "payload.tenant_id=201914;payload.user_id=909464"
#   nothing: fields payload.no_such_key, same plugin -> empty match list -> None
#            -> trait absent
#   count:   type int, fields payload.no_such_key, plugin CountMatchesPlugin; the
#            plugin is called even with no match -> 0
def test_plugin_from_import_string() -> None:
    join = f"{THIS_MODULE}:JoinMatchesPlugin"
    distiller = Distiller(
        build_definitions(
            [
                {
                    "event_type": "compute.instance.exists",
                    "traits": {
                        "ids": {
                            "fields": [
                                "payload.tenant_id",
                                "payload.user_id",
                                "payload.no_such_key",
                            ],
                            "plugin": join,
                        },
                        "nothing": {"fields": "payload.no_such_key", "plugin": join},
                        "count": {
                            "type": "int",
                            "fields": "payload.no_such_key",
                            "plugin": f"{THIS_MODULE}:CountMatchesPlugin",
                        },
                    },
                }
            ]
        )
    )

    event = distiller.distill(_by_id(NOTIGEN, NOTIGEN_EXISTS))

    assert event is not None
    assert event.traits["ids"] == "payload.tenant_id=201914;payload.user_id=909464"
    assert "nothing" not in event.traits
    assert event.traits["count"] == 0


# Same notification; definitions from a YAML file naming the plugin by the alias
# "join", registered with from_file(plugins={"join": "module:Class"}), with
# parameters {separator: "|"}: fields [payload.display_name, payload.hostname]
# -> "payload.display_name=Instance_611795|payload.hostname=server-670495".
def test_plugin_alias_registered_with_from_file(tmp_path: Path) -> None:
    definitions = tmp_path / "defs.yaml"
    definitions.write_text(
        "- event_type: compute.instance.exists\n"
        "  traits:\n"
        "    names:\n"
        "      fields: [payload.display_name, payload.hostname]\n"
        "      plugin:\n"
        "        name: join\n"
        "        parameters: {separator: '|'}\n",
        encoding="utf-8",
    )
    distiller = Distiller.from_file(
        definitions, plugins={"join": f"{THIS_MODULE}:JoinMatchesPlugin"}
    )

    event = distiller.distill(_by_id(NOTIGEN, NOTIGEN_EXISTS))

    assert event is not None
    assert event.traits["names"] == (
        "payload.display_name=Instance_611795|payload.hostname=server-670495"
    )


# Ceilometer-style plugin (trait_values returns a list, one value per match; the
# first non-null is used). Notification eb1a1b5a-...:
#   shout: fields [payload.display_name, payload.hostname]
#          -> ["INSTANCE_611795", "SERVER-670495"] -> "INSTANCE_611795"
#   none:  fields payload.no_such_key -> [] -> trait absent
def test_ceilometer_style_plugin_trait_values() -> None:
    upper = f"{THIS_MODULE}:CeilometerStyleUpper"
    distiller = Distiller(
        build_definitions(
            [
                {
                    "event_type": "compute.instance.*",
                    "traits": {
                        "shout": {
                            "fields": ["payload.display_name", "payload.hostname"],
                            "plugin": upper,
                        },
                        "none": {"fields": "payload.no_such_key", "plugin": upper},
                    },
                }
            ]
        )
    )

    event = distiller.distill(_by_id(NOTIGEN, NOTIGEN_EXISTS))

    assert event is not None
    assert event.traits["shout"] == "INSTANCE_611795"
    assert "none" not in event.traits


# --------------------------------------------------------- 7. Ceilometer definitions


# Notification: ceilometer-fixtures.jsonl, message_id 0c65cb9c-... with event_type
# volume.create.start. Definitions CM:74 (&cinder_traits) and CM:95 both list
# 'volume.create.*'; no later definition matches, so CM:95 (cinder_traits + extras)
# wins. Ceilometer defaults: service, request_id, project_id, user_id, tenant_id.
#   service           <- default, publisher_id "volumes.example.com"
#   request_id        <- default ctxt.request_id (_context_request_id): absent
#   tenant_id         <- default payload.tenant_id "7ffe17a15c724e2aa79fc839540aec15"
#   project_id        <- cinder_traits payload.tenant_id (same value)
#   user_id           <- cinder_traits payload.user_id
#                        "bcb7746c7a41472d88a1ffac89ba6a9b"
#   availability_zone "nova", display_name "2", replication_status "disabled",
#   status "exists"
#   created_at (datetime) <- payload.created_at "2014-10-28 09:31:20"
#   resource_id <- payload.volume_id "cccccccc-cccc-cccc-cccccccccccc"
#   host        <- payload.host "volumes.example.com"
#   size (int)  <- payload.size 1
#   type        <- payload.volume_type "3a9a398b-7e3b-40da-b09e-2115ad8cd68b"
#   absent: image_id (no payload.glance_metadata), instance_id (no
#   payload.volume_attachment)
# timestamp "2015-07-01T12:00:00.000000".
def test_ceilometer_cinder_volume_fixture() -> None:
    notification = _by_id(CEILO, CINDER_ID, "volume.create.start")

    event = _ceilometer().distill(notification)

    assert event is not None
    assert event.timestamp == _utc(2015, 7, 1, 12, 0, 0)
    assert event.traits == {
        "service": "volumes.example.com",
        "tenant_id": "7ffe17a15c724e2aa79fc839540aec15",
        "project_id": "7ffe17a15c724e2aa79fc839540aec15",
        "user_id": "bcb7746c7a41472d88a1ffac89ba6a9b",
        "availability_zone": "nova",
        "display_name": "2",
        "replication_status": "disabled",
        "status": "exists",
        "created_at": _utc(2014, 10, 28, 9, 31, 20),
        "resource_id": "cccccccc-cccc-cccc-cccccccccccc",
        "host": "volumes.example.com",
        "size": 1,
        "type": "3a9a398b-7e3b-40da-b09e-2115ad8cd68b",
    }
    assert type(event.traits["size"]) is int


# No corpus fixture has glance_metadata (checked: none of the 76 lines contains
# the string), so this one is constructed from the volume.create.start fixture above,
# in cinder's shape (a list of {key, value}):
#   image_id    <- CM:74 `payload.glance_metadata[?key=image_id].value`
#                  -> the element whose key is "image_id" (the 2nd one)
#   instance_id <- CM:74 `payload.volume_attachment[0].server_id` -> "server-1"
def test_ceilometer_glance_metadata_filter_and_index() -> None:
    source = _by_id(CEILO, CINDER_ID, "volume.create.start")
    assert not any("glance_metadata" in line for line in _lines(CEILO))
    source["payload"]["glance_metadata"] = [
        {"key": "image_name", "value": "cirros"},
        {"key": "image_id", "value": "5b0a7f1e-0a2b-4c6d-8e9f-000000000001"},
    ]
    source["payload"]["volume_attachment"] = [
        {"server_id": "server-1"},
        {"server_id": "server-2"},
    ]

    event = _ceilometer().distill(source)

    assert event is not None
    assert event.traits["image_id"] == "5b0a7f1e-0a2b-4c6d-8e9f-000000000001"
    assert event.traits["instance_id"] == "server-1"


# Notification: ceilometer-fixtures.jsonl, message_id 0c65cb9c-... with event_type
# image.update. Definition CM:161 (&glance_crud) is the last that matches.
#   project_id, user_id <- payload.owner "fake"
#   resource_id <- payload.id "cccccccc-cccc-cccc-cccccccccccc"
#   name "fake image #3", status "saving"
#   created_at (datetime) <- payload.created_at "2012-09-18T10:13:44.571370"
#   deleted_at <- payload.deleted_at null -> absent
#   size (int) <- payload.size 19
#   service <- default publisher_id "images.example.com"
#   absent: request_id (no _context_request_id), tenant_id (no payload.tenant_id,
#   no _context_tenant)
def test_ceilometer_glance_image_fixture() -> None:
    event = _ceilometer().distill(_by_id(CEILO, CINDER_ID, "image.update"))

    assert event is not None
    assert event.traits == {
        "service": "images.example.com",
        "project_id": "fake",
        "user_id": "fake",
        "resource_id": "cccccccc-cccc-cccc-cccccccccccc",
        "name": "fake image #3",
        "status": "saving",
        "created_at": _utc(2012, 9, 18, 10, 13, 44, 571370),
        "size": 19,
    }


# Notification: ceilometer-fixtures.jsonl, message_id 4b884c03-...
# (compute.instance.exists; the first of two near-identical copies). CM:2
# `compute.instance.*` and CM:65 `compute.instance.exists` match; CM:65 wins
# (&instance_traits + audit_period_*). Ceilometer mode.
#   host    <- publisher_id.`split(., 1, 1)` on "compute.vagrant-precise"
#              -> "vagrant-precise"
#   service <- publisher_id.`split(., 0, -1)` -> "compute"
#   tenant_id, project_id (default) <- payload.tenant_id "7c150a59fe714e6f..."
#   user_id <- payload.user_id "1e3ce043029547f1a61c1996d1a531a2"
#   instance_id, resource_id <- payload.instance_id "3a513875-95c9-..."
#   display_name "testme", instance_type "m1.tiny", state "active"
#   instance_type_id <- payload.instance_type_id 2, NO type in CM -> text "2"
#   memory_mb 512, disk_gb 0, root_gb 0, ephemeral_gb 0, vcpus 1 (int)
#   launched_at <- "2012-05-07 23:01:27"
#   audit_period_beginning/ending <- "2012-05-08 15:00:00" / "2012-05-08 16:00:00"
#   request_id (default ctxt.request_id) <- _context_request_id "req-659a8eb2-..."
#   absent: cell_name, instance_flavor_id, os_* (no payload.image_meta),
#   deleted_at ("")
# timestamp "2012-05-08 16:03:44.122481".
def test_ceilometer_compute_exists_host_split_extension() -> None:
    event = _ceilometer().distill(_by_id(CEILO, CEILO_EXISTS))

    assert event is not None
    assert event.timestamp == _utc(2012, 5, 8, 16, 3, 44, 122481)
    assert event.traits == {
        "tenant_id": "7c150a59fe714e6f9263774af9688f0e",
        "project_id": "7c150a59fe714e6f9263774af9688f0e",
        "user_id": "1e3ce043029547f1a61c1996d1a531a2",
        "request_id": "req-659a8eb2-4372-4c01-9028-ad6e40b0ed22",
        "instance_id": "3a513875-95c9-4012-a3e7-f90c678854e5",
        "resource_id": "3a513875-95c9-4012-a3e7-f90c678854e5",
        "display_name": "testme",
        "host": "vagrant-precise",
        "service": "compute",
        "memory_mb": 512,
        "disk_gb": 0,
        "root_gb": 0,
        "ephemeral_gb": 0,
        "vcpus": 1,
        "instance_type_id": "2",
        "instance_type": "m1.tiny",
        "state": "active",
        "launched_at": _utc(2012, 5, 7, 23, 1, 27),
        "audit_period_beginning": _utc(2012, 5, 8, 15, 0, 0),
        "audit_period_ending": _utc(2012, 5, 8, 16, 0, 0),
    }


# Notification: ceilometer-fixtures.jsonl, message_id 9e839576-... with event_type
# network.create.end. CM:300 (&network_traits) and CM:306 `network.*` match;
# CM:306 wins.
#   user_id    <- ctxt.user_id   = _context_user_id "b44b7ce67fc84414a5c1660a92a1b862"
#   project_id <- ctxt.tenant_id = _context_tenant_id "82ed0c40ebe64d0bb3310027039c8ed2"
#   name       <- payload.network.name "abcedf"
#   resource_id <- payload.network.id "7fd4eb2f-a38e-4c25-8490-71ca8800c9be"
#   service    <- default publisher_id "network.ubuntu-VirtualBox"
#   absent: request_id (no _context_request_id), tenant_id (no payload.tenant_id at
#   the top of the payload, no _context_tenant)
# With a payload.user_id added, user_id still comes from ctxt.user_id: the
# definition's user_id (ctxt.user_id only) replaces the default (payload.user_id
# first).
def test_ceilometer_neutron_network_ctxt_fields() -> None:
    notification = _by_id(CEILO, NEUTRON_NETWORK, "network.create.end")
    distiller = _ceilometer()

    event = distiller.distill(copy.deepcopy(notification))

    assert event is not None
    assert event.timestamp == _utc(2012, 9, 27, 14, 11, 27, 86575)
    assert event.traits == {
        "user_id": "b44b7ce67fc84414a5c1660a92a1b862",
        "project_id": "82ed0c40ebe64d0bb3310027039c8ed2",
        "name": "abcedf",
        "resource_id": "7fd4eb2f-a38e-4c25-8490-71ca8800c9be",
        "service": "network.ubuntu-VirtualBox",
    }
    notification["payload"]["user_id"] = "someone-else"
    again = distiller.distill(notification)
    assert again is not None
    assert again.traits["user_id"] == "b44b7ce67fc84414a5c1660a92a1b862"


# Notification: ceilometer-fixtures.jsonl, message_id 4c0e6ecb-... with event_type
# ipsecpolicy.create.end. CM:300 and CM:367 `ipsecpolicy.*` match; CM:367 wins.
#   user_id    <- _context_user_id "1c1f7c80efc24a16b835ae1c0802d0a1"
#   project_id <- _context_tenant_id "a820f2d6293b4a7587d1c582767f43fb"
#   name       <- payload.ipsecpolicy.name "my_ipsec_polixy"
#   resource_id <- payload.ipsecpolicy.id "998d910d-4506-47c9-a160-47ec51ff53fc"
#   request_id (default ctxt.request_id) <- _context_request_id "req-e56a8a5e-..."
#   tenant_id (default) <- payload.tenant_id absent, so ctxt.tenant =
#              _context_tenant "a820f2d6293b4a7587d1c582767f43fb"
#   service    <- publisher_id "network.ubuntu"
def test_ceilometer_neutron_ipsecpolicy_defaults_from_context() -> None:
    notification = _by_id(CEILO, NEUTRON_IPSEC, "ipsecpolicy.create.end")

    event = _ceilometer().distill(notification)

    assert event is not None
    assert event.traits == {
        "user_id": "1c1f7c80efc24a16b835ae1c0802d0a1",
        "project_id": "a820f2d6293b4a7587d1c582767f43fb",
        "name": "my_ipsec_polixy",
        "resource_id": "998d910d-4506-47c9-a160-47ec51ff53fc",
        "request_id": "req-e56a8a5e-5d42-43e8-9677-2d36e6e17d5e",
        "tenant_id": "a820f2d6293b4a7587d1c582767f43fb",
        "service": "network.ubuntu",
    }


# ----------------------------------------------------------- 8. derived message id


def _ipmi_empty(timestamp: str) -> dict[str, Any]:
    return _find(
        CEILO,
        lambda n: (
            n.get("event_type") == "hardware.ipmi.metrics.update"
            and n.get("payload") == {}
            and n.get("timestamp") == timestamp
        ),
    )


# Notifications: the two ipmi fixtures with an empty payload ({"event_type":
# "hardware.ipmi.metrics.update", "instance_uuid": ..., "node_uuid": ...,
# "payload": {}, "timestamp": ...}); neither has a message_id. No CM definition
# matches hardware.ipmi.*, so catchall=True is used to see the event (default
# traits: no publisher_id, no context -> no traits at all).
# Same notification (also with its keys in another order, also wrapped in an
# envelope, also through a new distiller) -> same id; a copy with node_uuid changed,
# and the other fixture (differing only in timestamp) -> different ids.
def test_derived_message_id_is_deterministic() -> None:
    first = _ipmi_empty("20140223134852")
    other = _ipmi_empty("2017-07-07 15:54:12.169510")
    assert "message_id" not in first
    distiller = _ceilometer(catchall=True)

    one = distiller.distill(copy.deepcopy(first))
    two = distiller.distill(copy.deepcopy(first))
    fresh = _ceilometer(catchall=True).distill(copy.deepcopy(first))
    reordered = distiller.distill(dict(reversed(list(first.items()))))
    wrapped = distiller.distill(
        {"oslo.version": "2.0", "oslo.message": json.dumps(first)}
    )
    changed = copy.deepcopy(first)
    changed["node_uuid"] = "f4982fd2-2f2b-4bb5-9aff-48aac801d1ae"
    different = distiller.distill(changed)
    later = distiller.distill(other)

    assert one is not None
    assert two is not None
    assert fresh is not None
    assert reordered is not None
    assert wrapped is not None
    assert different is not None
    assert later is not None
    assert one.message_id
    assert one.traits == {}
    assert one.message_id == two.message_id == fresh.message_id
    assert one.message_id == reordered.message_id == wrapped.message_id
    assert different.message_id != one.message_id
    assert later.message_id != one.message_id


# ------------------------------------------------------------ 9. bad trait values


# Notification: eb1a1b5a-... with payload.memory_mb = "abc". SD#1 memory_mb is
# `type: int`; "abc" is not an integer -> the trait is dropped, the event survives
# with its other traits (e.g. disk_gb 40), and
# stats.trait_errors[("compute.instance.exists", "memory_mb")] == 1.
def test_malformed_int_trait_is_dropped_and_counted() -> None:
    notification = _by_id(NOTIGEN, NOTIGEN_EXISTS)
    notification["payload"]["memory_mb"] = "abc"
    distiller = _sandbox()

    event = distiller.distill(notification)

    assert event is not None
    assert "memory_mb" not in event.traits
    assert event.traits["disk_gb"] == 40
    assert distiller.stats.trait_errors[("compute.instance.exists", "memory_mb")] == 1
    assert sum(distiller.stats.trait_errors.values()) == 1


# Notification: eb1a1b5a-... with payload.launched_at = "". SD#1 launched_at is
# `type: datetime`; "" for a non-text type means "absent": no launched_at and no
# trait error. (A numeric string "2048" for memory_mb converts to the int 2048.)
def test_empty_string_datetime_is_absent_not_an_error() -> None:
    notification = _by_id(NOTIGEN, NOTIGEN_EXISTS)
    notification["payload"]["launched_at"] = ""
    notification["payload"]["memory_mb"] = "2048"
    distiller = _sandbox()

    event = distiller.distill(notification)

    assert event is not None
    assert "launched_at" not in event.traits
    assert event.traits["memory_mb"] == 2048
    assert not distiller.stats.trait_errors


# ----------------------------------------------------------------------- 10. rejects


# ceilometer-fixtures.jsonl neutron bulk fixtures; both timestamps malformed:
#   914eb601-...: timestamp "2014-05-1510: 24: 56.335612",
#                 _context_timestamp "2014-05-1510: 24: 56.285975"
#   c7e6f9fd-...: "2014-05-1510: 47: 08.133888" / "2014-05-1510: 47: 07.970043"
#   0ab6d71f-...: "2014-05-3107: 19: 43.463101" / "2014-05-3107: 19: 43.460767"
@pytest.mark.parametrize(
    "message_id",
    [
        "914eb601-9390-4a72-8629-f013a4c84467",
        "c7e6f9fd-ead2-415f-8493-b95bedf72e43",
        "0ab6d71f-ba0a-4501-86fe-6cc20521ef5a",
    ],
)
def test_both_timestamps_malformed_is_rejected(message_id: str) -> None:
    notification = _by_id(CEILO, message_id)
    distiller = _ceilometer(catchall=True)

    with pytest.raises(NotificationRejected):
        distiller.distill(notification)
    assert distiller.stats.rejected == 1


# Hand-made broken notifications, from eb1a1b5a-...: a JSON list; no event_type;
# event_type ""; neither timestamp nor _context_timestamp. All rejected, also via
# distill_json.
def test_broken_envelopes_are_rejected() -> None:
    good = _by_id(NOTIGEN, NOTIGEN_EXISTS)
    no_event_type = copy.deepcopy(good)
    del no_event_type["event_type"]
    empty_event_type = copy.deepcopy(good)
    empty_event_type["event_type"] = ""
    no_time = copy.deepcopy(good)
    del no_time["timestamp"]
    del no_time["_context_timestamp"]
    distiller = _sandbox(catchall=True)

    for bad in ([good], no_event_type, empty_event_type, no_time):
        with pytest.raises(NotificationRejected):
            distiller.distill(bad)
        with pytest.raises(NotificationRejected):
            distiller.distill_json(json.dumps(bad))
    assert distiller.stats.rejected == 8


# --------------------------------------------------------------- 11. timestamp forms


# Notification: notigen e5f5ae13-... (compute.instance.exists), timestamp
# "2014-06-30 19:08:00" (microseconds 0, printed without a fraction), SD#2:
#   tenant_id "574723", user_id "555644", request_id "req-1d7cbf64-...",
#   instance_id <- payload.instance_id "1fc97e56-...", service "publisher-478276",
#   instance_flavor/instance_type "15GB Standard Instance",
#   instance_flavor_id <- payload.instance_type_id 7,
#   memory_mb 15360, disk_gb 620, root_gb 620, ephemeral_gb 0, vcpus 6,
#   state "active", state_description "" (text: kept),
#   bandwidth_in/out <- payload.bandwidth.public.bw_in/bw_out 0 -> text "0"
#       (0 is not null, so it is the value),
#   os_architecture "x64", os_version "12.04", os_distro "com.ubuntu",
#   launched_at "2014-04-17 07:48:27.866412", display_name "Instance_181043",
#   audit_period_beginning "2014-06-29 19:07:59.866412",
#   audit_period_ending "2014-06-30 19:07:59.866412".
def test_timestamp_without_fraction() -> None:
    event = _sandbox().distill(_by_id(NOTIGEN, NOTIGEN_EXISTS_NO_FRACTION))

    assert event is not None
    assert event.timestamp == _utc(2014, 6, 30, 19, 8, 0)
    assert event.timestamp.tzinfo is not None
    assert event.timestamp.utcoffset() is not None
    assert not event.timestamp.utcoffset()
    assert event.traits == {
        "tenant_id": "574723",
        "user_id": "555644",
        "request_id": "req-1d7cbf64-26dd-4d4f-91f7-6f8e9af61dbb",
        "instance_id": "1fc97e56-86cc-40b1-ab16-55efdfaa2646",
        "service": "publisher-478276",
        "instance_flavor": "15GB Standard Instance",
        "instance_flavor_id": 7,
        "memory_mb": 15360,
        "disk_gb": 620,
        "root_gb": 620,
        "ephemeral_gb": 0,
        "vcpus": 6,
        "instance_type": "15GB Standard Instance",
        "state": "active",
        "state_description": "",
        "bandwidth_in": "0",
        "bandwidth_out": "0",
        "os_architecture": "x64",
        "os_version": "12.04",
        "os_distro": "com.ubuntu",
        "launched_at": _utc(2014, 4, 17, 7, 48, 27, 866412),
        "display_name": "Instance_181043",
        "audit_period_beginning": _utc(2014, 6, 29, 19, 7, 59, 866412),
        "audit_period_ending": _utc(2014, 6, 30, 19, 7, 59, 866412),
    }


# Notification: the ipmi fixture with payload {} and timestamp "20140223134852"
# (compact YYYYMMDDhhmmss, no zone -> UTC) -> 2014-02-23 13:48:52 UTC.
def test_compact_ipmi_timestamp() -> None:
    event = _ceilometer(catchall=True).distill(_ipmi_empty("20140223134852"))

    assert event is not None
    assert event.event_type == "hardware.ipmi.metrics.update"
    assert event.timestamp == _utc(2014, 2, 23, 13, 48, 52)


# Notification: 9e839576-... network.create.end, _context_timestamp
# "2012-09-27 14:11:26.924779" (its own timestamp is "2012-09-27 14:11:27.086575").
# With timestamp replaced by the malformed "2014-05-1510: 24: 56.335612", or
# removed, the event time falls back to _context_timestamp.
def test_malformed_timestamp_falls_back_to_context_timestamp() -> None:
    malformed = _by_id(CEILO, NEUTRON_NETWORK, "network.create.end")
    malformed["timestamp"] = "2014-05-1510: 24: 56.335612"
    missing = _by_id(CEILO, NEUTRON_NETWORK, "network.create.end")
    del missing["timestamp"]
    distiller = _ceilometer()

    for notification in (malformed, missing):
        event = distiller.distill(notification)
        assert event is not None
        assert event.timestamp == _utc(2012, 9, 27, 14, 11, 26, 924779)
        assert event.traits["name"] == "abcedf"


# ------------------------------------------------------- nova versioned, legacy defs


# Notification: nova-versioned.jsonl, message_id 156ba064-... keypair.import.start.
# SD `keypair.import.*` (`<<: *instance_traits`) is the last match. Its data is
# under payload."nova_object.data", so no payload.* path of instance_traits finds
# anything; there are no _context_* keys. Only service is left:
#   service <- publisher_id "nova-api:fake-mini", split on "." segment 0 -> whole
#   host    <- split segment 1: no "." -> absent
# timestamp "2024-01-15 10:14:56.123456".
def test_versioned_keypair_import_with_legacy_definitions() -> None:
    event = _sandbox().distill(_by_id(VERSIONED, VERSIONED_KEYPAIR))

    assert event is not None
    assert event.event_type == "keypair.import.start"
    assert event.timestamp == _utc(2024, 1, 15, 10, 14, 56, 123456)
    assert event.traits == {"service": "nova-api:fake-mini"}
