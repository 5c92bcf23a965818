"""The distiller's envelope rules, modes and counters."""

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from distiller import Distiller, Event, NotificationRejected
from distiller.definitions import build_definitions
from distiller.distiller import MESSAGE_ID_NAMESPACE, derive_message_id

DEFINITIONS = [
    {
        "event_type": "compute.instance.*",
        "traits": {
            "instance_id": {"fields": "payload.instance_id"},
            "memory_mb": {"type": "int", "fields": "payload.memory_mb"},
            "launched_at": {"type": "datetime", "fields": "payload.launched_at"},
            "ratio": {"type": "float", "fields": "payload.ratio"},
        },
    }
]


def make(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_type": "compute.instance.create.end",
        "message_id": "m-1",
        "timestamp": "2014-05-01 00:45:00.123456",
        "publisher_id": "compute.host1",
        "_context_request_id": "req-1",
        "_context_tenant": "t-ctx",
        "payload": {
            "instance_id": "i-1",
            "memory_mb": 512,
            "launched_at": "",
            "ratio": "0.5",
        },
    }
    body.update(overrides)
    return body


def distiller(**kwargs: Any) -> Distiller:
    return Distiller(
        build_definitions(DEFINITIONS, **kwargs.pop("build", {})), **kwargs
    )


def test_a_typed_event() -> None:
    event = distiller().distill(make())
    assert event == Event(
        "compute.instance.create.end",
        "m-1",
        datetime(2014, 5, 1, 0, 45, 0, 123456, UTC),
        {
            "service": "compute.host1",
            "request_id": "req-1",
            "tenant_id": "t-ctx",
            "instance_id": "i-1",
            "memory_mb": 512,
            "ratio": 0.5,
        },
    )


def test_unmatched_is_none_and_counted() -> None:
    d = distiller()
    assert d.distill(make(event_type="image.upload")) is None
    assert (d.stats.read, d.stats.unmatched, d.stats.distilled) == (1, 1, 0)


def test_catchall_gives_default_traits_only() -> None:
    event = distiller(catchall=True).distill(make(event_type="image.upload"))
    assert event is not None
    assert set(event.traits) == {"service", "request_id", "tenant_id"}


@pytest.mark.parametrize(
    ("notification", "reason"),
    [
        ([1, 2], "must be a JSON object, got list"),
        ("text", "must be a JSON object, got str"),
        (make(event_type=None), "no event_type"),
        (make(event_type=""), "is not a non-empty string"),
        (make(event_type=5), "event_type 5"),
        ({k: v for k, v in make().items() if k != "event_type"}, "no event_type"),
        (make(timestamp=None), "no timestamp and no _context_timestamp"),
        (make(timestamp="2014-05-1510: 24: 56.335612"), "bad timestamp"),
        (
            make(timestamp="bad", _context_timestamp="also bad"),
            "bad _context_timestamp",
        ),
        ({"oslo.version": "2.0", "oslo.message": "{not json"}, "not valid JSON"),
        ({"oslo.version": "2.0", "oslo.message": 5}, "not a JSON string"),
        ({"oslo.version": "2.0", "oslo.message": "[1]"}, "must hold a JSON object"),
    ],
)
def test_rejects_say_why(notification: Any, reason: str) -> None:
    d = distiller()
    with pytest.raises(NotificationRejected) as info:
        d.distill(notification)
    assert reason in str(info.value)
    assert d.stats.rejected == 1


def test_reject_names_the_message_id_when_there_is_one() -> None:
    with pytest.raises(NotificationRejected) as info:
        distiller().distill(make(timestamp=None, message_id="abc-123"))
    assert info.value.message_id == "abc-123"
    assert "abc-123" in str(info.value)


def test_not_json_text() -> None:
    with pytest.raises(NotificationRejected, match="not valid JSON"):
        distiller().distill_json(b"{nope")


def test_context_timestamp_is_the_fallback() -> None:
    event = distiller().distill(
        make(timestamp="garbage", _context_timestamp="2014-05-01T01:00:00Z")
    )
    assert event is not None
    assert event.timestamp == datetime(2014, 5, 1, 1, tzinfo=UTC)


def test_envelope_is_unwrapped() -> None:
    flat = make()
    wrapped = {"oslo.version": "2.0", "oslo.message": json.dumps(flat)}
    d = distiller()
    assert d.distill(wrapped) == d.distill(flat)
    assert d.distill_json(json.dumps(wrapped)) == d.distill(flat)


def test_derived_message_id_is_stable_and_content_based() -> None:
    d = distiller()
    body = make()
    del body["message_id"]
    first = d.distill(body)
    again = d.distill(json.loads(json.dumps(body)))  # a redelivery: same content
    other = d.distill({**body, "timestamp": "2014-05-01 00:45:00.123457"})
    assert first is not None and again is not None and other is not None
    assert first.message_id == again.message_id == derive_message_id(body)
    assert other.message_id != first.message_id
    assert d.stats.derived_ids == 3


def test_key_order_does_not_change_the_derived_id() -> None:
    body = make()
    del body["message_id"]
    reordered = dict(reversed(list(body.items())))
    assert derive_message_id(body) == derive_message_id(reordered)


def test_numeric_message_ids_are_kept_as_text() -> None:
    event = distiller().distill(make(message_id=42))
    assert event is not None and event.message_id == "42"


def test_bad_trait_is_dropped_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[str, str, str, str]] = []
    d = distiller(on_trait_error=lambda *args: seen.append(args))
    caplog.set_level(logging.WARNING, logger="distiller.distiller")
    for n in range(3):
        body = make(message_id=f"m-{n}")
        body["payload"] = {**body["payload"], "memory_mb": "lots"}
        event = d.distill(body)
        assert event is not None
        assert "memory_mb" not in event.traits
        assert event.traits["instance_id"] == "i-1"
    assert d.stats.trait_errors[("compute.instance.create.end", "memory_mb")] == 3
    assert d.stats.trait_error_total == 3
    assert [s[1] for s in seen] == ["m-0", "m-1", "m-2"]
    warnings = [r for r in caplog.records if "memory_mb" in r.getMessage()]
    assert len(warnings) == 1
    assert "m-0" in warnings[0].getMessage()


def test_failing_plugin_drops_only_its_trait() -> None:
    definitions = build_definitions(
        [
            {
                "event_type": "*",
                "traits": {
                    "boom": {
                        "fields": "x",
                        "plugin": "tests.unit.distiller.test_distiller:Boom",
                    },
                    "x": {"fields": "x"},
                },
            }
        ]
    )
    d = Distiller(definitions)
    event = d.distill(make(x="value"))
    assert (
        event is not None
        and event.traits["x"] == "value"
        and "boom" not in event.traits
    )
    assert d.stats.trait_errors[("compute.instance.create.end", "boom")] == 1


class Boom:
    def trait_value(self, match_list: Any) -> Any:
        raise RuntimeError("kaput")


def test_ceilometer_mode_reads_context_and_has_its_defaults() -> None:
    definitions = build_definitions(
        [{"event_type": "*", "traits": {"who": {"fields": "ctxt.user_name"}}}],
        ceilometer=True,
    )
    d = Distiller(definitions, ceilometer=True)
    event = d.distill(
        make(
            _context_user_name="alice",
            _context_user_id="u-9",
            _context_project_id="p-9",
            _context_tenant="t-9",
        )
    )
    assert event is not None
    assert event.traits["who"] == "alice"
    assert event.traits["user_id"] == "u-9"
    # Ceilometer's current converter reads the context's project_id, not tenant.
    assert event.traits["project_id"] == event.traits["tenant_id"] == "p-9"
    assert event.traits["request_id"] == "req-1"
    only_tenant = d.distill(make(_context_tenant="t-9"))
    assert only_tenant is not None
    assert "project_id" not in only_tenant.traits


def test_last_matching_definition_wins_and_lookups_are_cached() -> None:
    definitions = build_definitions(
        [
            {"event_type": "*", "traits": {"which": {"fields": "payload.a"}}},
            {
                "event_type": ["compute.*", "!compute.instance.exists"],
                "traits": {"which": {"fields": "payload.b"}},
            },
        ]
    )
    d = Distiller(definitions)
    body = make(payload={"a": "general", "b": "specific"})
    assert d.distill(body).traits["which"] == "specific"  # type: ignore[union-attr]
    exists = {**body, "event_type": "compute.instance.exists"}
    assert d.distill(exists).traits["which"] == "general"  # type: ignore[union-attr]
    assert d.definition_for("compute.instance.exists") is d.definitions[1]


def test_as_dict_keeps_envelope_keys_over_same_named_traits() -> None:
    event = Event(
        "x", "m", datetime(2014, 1, 1, tzinfo=UTC), {"timestamp": "trait", "a": 1}
    )
    flat = event.as_dict()
    assert flat["timestamp"] == datetime(2014, 1, 1, tzinfo=UTC)
    assert flat["a"] == 1
    assert event.traits["timestamp"] == "trait"


def test_listener_shape_is_flattened() -> None:
    flat = make()
    listener = {
        "event_type": flat["event_type"],
        "publisher_id": flat["publisher_id"],
        "payload": flat["payload"],
        "ctxt": {"request_id": "req-1", "tenant": "t-ctx"},
        "metadata": {"message_id": "m-1", "timestamp": flat["timestamp"]},
    }
    d = distiller()
    assert d.distill(listener) == d.distill(flat)
    assert d.stats.derived_ids == 0


def test_top_level_keys_win_over_listener_metadata() -> None:
    body = make(metadata={"message_id": "other", "timestamp": "2000-01-01"})
    event = distiller().distill(body)
    assert event is not None
    assert event.message_id == "m-1"
    assert event.timestamp.year == 2014


def test_a_metadata_key_that_is_not_an_object_is_left_alone() -> None:
    event = distiller().distill(make(metadata="just text"))
    assert event is not None and event.message_id == "m-1"


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "stamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00"]
)
def test_an_event_time_at_the_edge_of_the_calendar_rejects(stamp: str) -> None:
    distiller = Distiller(build_definitions(DEFINITIONS))
    with pytest.raises(NotificationRejected, match="outside the calendar"):
        distiller.distill(make(timestamp=stamp))


@pytest.mark.parametrize(
    "stamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00"]
)
def test_a_trait_time_at_the_edge_of_the_calendar_drops_the_trait(stamp: str) -> None:
    distiller = Distiller(build_definitions(DEFINITIONS))
    body = make()
    body["payload"]["launched_at"] = stamp
    event = distiller.distill(body)
    assert event is not None and "launched_at" not in event.traits
    assert event.traits["instance_id"] == "i-1"
    assert distiller.stats.trait_error_total == 1


def test_json_nested_over_a_thousand_levels_is_rejected_as_too_deep() -> None:
    distiller = Distiller(build_definitions(DEFINITIONS), catchall=True)
    text = b'{"event_type":"a.b","timestamp":"2014-05-01","x":' + b"[" * 2000
    text += b"]" * 2000 + b"}"
    with pytest.raises(NotificationRejected, match="nested too deep"):
        distiller.distill_json(text)
    body = make()
    del body["message_id"]
    body["payload"]["extra"] = _nested(1000)
    with pytest.raises(NotificationRejected, match="nested too deep"):
        distiller.distill(body)
    assert distiller.stats.rejected == 2


def test_a_deep_object_as_a_text_trait_is_dropped() -> None:
    definitions = build_definitions(
        [{"event_type": "*", "traits": {"blob": {"fields": "payload.blob"}}}]
    )
    distiller = Distiller(definitions)
    body = make()
    body["payload"]["blob"] = _nested(600)
    event = distiller.distill(body)
    assert event is not None and "blob" not in event.traits


def test_the_derived_id_hashes_the_canonical_json_text() -> None:
    # stored events keep derived ids: the text hashed must stay exactly this
    body = {
        "b": [1.5, 1e-07, 1e16, -0.0, 12345678901234567890123],
        "a": {"z": "é\u2028\x7f\n\x01", "y": None, "x": True},
        "when": datetime(2014, 5, 1, 0, 45, tzinfo=UTC),
    }
    text = (
        '{"a":{"x":true,"y":null,"z":"é\u2028\x7f\\n\\u0001"},'
        '"b":[1.5,1e-07,1e+16,-0.0,12345678901234567890123],'
        '"when":"2014-05-01 00:45:00+00:00"}'
    )
    assert derive_message_id(body) == str(uuid.uuid5(MESSAGE_ID_NAMESPACE, text))
    assert derive_message_id(body) == derive_message_id(body)  # no state kept
