"""Generated legacy notifications carry the keys real nova sent.

Compared programmatically with ``notigen-nova.jsonl``. The corpus varies between
samples of one event type (one ``compute.instance.create.end`` of three has no
``fixed_ips``, one ``compute.instance.update`` has ``old_display_name``), so:

* message keys and payload keys, per event type present in both: every generated
  notification has every key all corpus samples of its type have (their
  intersection) and no key none of them has (outside their union);
* nested keys (``image_meta``, ``request_spec``, ``args``, ...) depend on the
  image, flavor or network rather than on the event type, so a nested key we
  generate must exist at the same path somewhere in the corpus: we never invent
  one. An instance's database record is compared as one object wherever it is
  nested (scheduler spec or failed call).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.unit.notigen.helpers import canonical, key_paths, union_and_intersection

# STv2's verifier emitted it next to nova's .exists in the captured traffic; it is
# the usage audit's output, not nova's, so the generator does not produce it.
NOT_NOVA = {"compute.instance.exists.verified"}


def test_every_real_event_type_is_generated(
    real_legacy: list[dict[str, Any]], three_days_messages: list[dict[str, Any]]
) -> None:
    real = {m["event_type"] for m in real_legacy} - NOT_NOVA
    ours = {m["event_type"] for m in three_days_messages}
    assert real - ours == set()


def test_message_keys_match_the_corpus(
    real_legacy: list[dict[str, Any]], three_days_messages: list[dict[str, Any]]
) -> None:
    union, inter = union_and_intersection(
        (m["event_type"], set(m)) for m in real_legacy
    )
    problems = set()
    for message in three_days_messages:
        kind = message["event_type"]
        if kind in union:
            keys = set(message)
            problems |= {(kind, "missing", k) for k in inter[kind] - keys}
            problems |= {(kind, "extra", k) for k in keys - union[kind]}
    assert problems == set()


def test_payload_keys_match_the_corpus(
    real_legacy: list[dict[str, Any]], three_days_messages: list[dict[str, Any]]
) -> None:
    union, inter = union_and_intersection(
        (m["event_type"], set(m["payload"])) for m in real_legacy
    )
    problems = set()
    compared = set()
    for message in three_days_messages:
        kind = message["event_type"]
        if kind in union:
            compared.add(kind)
            keys = set(message["payload"])
            problems |= {(kind, "missing", k) for k in inter[kind] - keys}
            problems |= {(kind, "extra", k) for k in keys - union[kind]}
    assert problems == set()
    assert len(compared) == len(union) - len(NOT_NOVA)


def test_no_nested_key_is_invented(
    real_legacy: list[dict[str, Any]], three_days_messages: list[dict[str, Any]]
) -> None:
    known = {canonical(p) for m in real_legacy for p in key_paths(m["payload"])}
    invented: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for message in three_days_messages:
        kind = message["event_type"]
        seen[kind] += 1
        if seen[kind] > 200:
            continue  # tens of thousands share a few shapes; 200 of each suffice
        for raw in key_paths(message["payload"]):
            path = canonical(raw)
            if ("." in path or "[" in path) and path not in known:
                invented.setdefault(path, kind)
    assert invented == {}


def test_nested_records_have_the_real_shape(
    real_legacy: list[dict[str, Any]], three_days_messages: list[dict[str, Any]]
) -> None:
    """Fixed-schema nested objects: same keys as in the corpus, not just a subset."""

    def records(messages: list[dict[str, Any]]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for message in messages:
            payload = message["payload"]
            for path, value in (
                ("request_spec", payload.get("request_spec")),
                (
                    "instance_properties",
                    (payload.get("request_spec") or {}).get("instance_properties"),
                ),
                ("weighted_host", payload.get("weighted_host")),
                ("args.context", (payload.get("args") or {}).get("context")),
                ("args.instance", (payload.get("args") or {}).get("instance")),
            ):
                if isinstance(value, dict):
                    found.setdefault(path, set()).update(value)
        return found

    real = records(real_legacy)
    ours = records(three_days_messages)
    assert ours.keys() == real.keys()
    for path, keys in real.items():
        assert ours[path] == keys, path
