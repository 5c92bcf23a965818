"""The distiller extracts the same trait names from ours as from real ones.

Uses the sample ``event_definitions.yaml``. A trait exists only when its field
has a value, so names vary between samples of a type; per event type present in
both, each generated event must have every trait all real samples have
(intersection) and none that no real sample has (union), with three explicit
exceptions:

* ``host`` comes from ``publisher_id.split('.', 1)[1]``. The corpus' publisher
  ids were scrubbed to ``publisher-NNN`` (no dot), so no real event has it; ours
  are ``compute.<host>`` / ``scheduler.<host>`` like nova's, so every one of ours
  must have it - and it must name the publishing host.
* ``launched_at`` is missing when the payload's ``launched_at`` is empty: a
  failed build that never launched, deleted later (the corpus has no delete of a
  never-launched instance).
* ``deleted_at`` is present on the ``.exists`` that closes a delete (state
  ``deleted``): the corpus has no such ``.exists``, and the usage audit requires
  ``deleted_at`` on it (its check U6).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from distiller import Distiller

PER_TYPE = 40


@pytest.fixture(scope="module")
def distiller(corpus: Path) -> Distiller:
    return Distiller.from_file(corpus / "config" / "event_definitions.yaml")


def _traits(distiller: Distiller, message: dict[str, Any]) -> set[str] | None:
    """Trait names, or ``None`` when no definition matches (``terminate_instance``)."""
    event = distiller.distill(message)
    return None if event is None else set(event.traits)


def test_trait_names_match_the_corpus(
    distiller: Distiller,
    real_legacy: list[dict[str, Any]],
    three_days_messages: list[dict[str, Any]],
) -> None:
    union: dict[str, set[str]] = defaultdict(set)
    inter: dict[str, set[str]] = {}
    unmatched = set()
    for message in real_legacy:
        kind = message["event_type"]
        names = _traits(distiller, message)
        if names is None:
            unmatched.add(kind)
            continue
        assert "host" not in names  # scrubbed publisher ids have no dot
        union[kind] |= names
        inter[kind] = names if kind not in inter else inter[kind] & names

    checked: dict[str, int] = defaultdict(int)
    problems = set()
    for message in three_days_messages:
        kind = message["event_type"]
        if kind in unmatched:
            assert _traits(distiller, message) is None, kind
            continue
        if kind not in union or checked[kind] >= PER_TYPE:
            continue
        checked[kind] += 1
        event = distiller.distill(message)
        assert event is not None, kind
        names = set(event.traits)
        assert event.traits["host"] == message["publisher_id"].split(".", 1)[1]
        names.discard("host")
        payload = message["payload"]
        allowed_extra = set()
        if kind == "compute.instance.exists" and payload.get("state") == "deleted":
            allowed_extra.add("deleted_at")
        allowed_missing = set()
        if payload.get("launched_at") == "":
            allowed_missing.add("launched_at")
        problems |= {(kind, "extra", n) for n in names - union[kind] - allowed_extra}
        problems |= {
            (kind, "missing", n) for n in inter[kind] - names - allowed_missing
        }
    assert problems == set()
    # Every matched real type is compared, but the verifier's exists.verified.
    assert set(checked) == set(union) - {"compute.instance.exists.verified"}


def test_compute_host_trait_is_the_payload_host(
    distiller: Distiller, three_days_messages: list[dict[str, Any]]
) -> None:
    for message in three_days_messages[:2000]:
        if not message["publisher_id"].startswith("compute."):
            continue
        event = distiller.distill(message)
        if event is None:  # a failed call (terminate_instance, ...): no definition
            assert "args" in message["payload"]
            continue
        host = message["payload"].get("host")
        if host is not None:
            assert event.traits["host"] == host
        assert event.traits["service"] == "compute"
