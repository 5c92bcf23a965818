"""Ceilometer mode's default traits, pinned against Ceilometer's own converter.

Source: openstack/ceilometer, ``ceilometer/event/converter.py``, the default
traits of the current converter::

    service     publisher_id
    request_id  ctxt.request_id
    project_id  payload.tenant_id | ctxt.project_id
    user_id     payload.user_id | ctxt.user_id
    tenant_id   payload.tenant_id | ctxt.project_id  (kept for old users)

Older releases read ``ctxt.tenant``; newer oslo.context writes the project as
``project_id``, and the converter followed. ``ctxt`` is the message context
(oslo.messaging hands it to the endpoint apart from the body); on the wire it
is the flat ``_context_<key>`` keys, so ``_context_project_id`` is read and
``_context_tenant`` is not. A union takes its first non-null match, payload
first. Each case below is a corpus notification whose context makes a
difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distiller import Distiller
from distiller.definitions import CEILOMETER_DEFAULT_TRAITS, build_definitions

CEILO = "ceilometer-fixtures.jsonl"


def line(corpus: Path, number: int) -> dict[str, Any]:
    with (corpus / CEILO).open(encoding="utf-8") as stream:
        for n, text in enumerate(stream, 1):
            if n == number:
                body: dict[str, Any] = json.loads(text)
                return body
    raise AssertionError(f"{CEILO} has no line {number}")


def defaults_of(notification: dict[str, Any]) -> dict[str, Any]:
    """The default traits Ceilometer mode gives (a catch-all with no traits)."""
    definitions = build_definitions(
        [{"event_type": "*", "traits": {}}], ceilometer=True
    )
    event = Distiller(definitions, ceilometer=True).distill(notification)
    assert event is not None
    return {k: v for k, v in event.traits.items() if k in CEILOMETER_DEFAULT_TRAITS}


def test_the_default_trait_paths_are_ceilometers() -> None:
    assert CEILOMETER_DEFAULT_TRAITS == {
        "service": {"type": "text", "fields": "publisher_id"},
        "request_id": {"type": "text", "fields": "ctxt.request_id"},
        "project_id": {
            "type": "text",
            "fields": ["payload.tenant_id", "ctxt.project_id"],
        },
        "user_id": {"type": "text", "fields": ["payload.user_id", "ctxt.user_id"]},
        "tenant_id": {
            "type": "text",
            "fields": ["payload.tenant_id", "ctxt.project_id"],
        },
    }


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        # http.request: the project only in _context_project_id, which Ceilometer
        # reads for both project_id and tenant_id; user_id from the context.
        (
            12,
            {
                "service": "compute.vagrant-precise",
                "request_id": "req-d68b36e0-9233-467f-9afb-d81435d64d66",
                "project_id": "7c150a59fe714e6f9263774af9688f0e",
                "tenant_id": "7c150a59fe714e6f9263774af9688f0e",
                "user_id": "1e3ce043029547f1a61c1996d1a531a2",
            },
        ),
        # orchestration.stack.create.end: payload.tenant_id and payload.user_id
        # win over the context's tenant ("demo") and user_id.
        (
            62,
            {
                "service": "orchestration.node-n5x66lxdy67d",
                "request_id": "req-cf24cf30-af35-4a47-ae29-e74d75ebc6de",
                "project_id": "4c35985848bf4419b3f3d52c22e5792d",
                "tenant_id": "4c35985848bf4419b3f3d52c22e5792d",
                "user_id": "demo",
            },
        ),
        # telemetry.api: the project only in _context_tenant, which the current
        # converter no longer reads; no user anywhere.
        (
            68,
            {
                "service": "ceilometer.api",
                "request_id": "req-da91b4bf-d2b5-43ae-8b66-c7752e72726d",
            },
        ),
    ],
)
def test_default_traits_of_corpus_notifications(
    corpus: Path, number: int, expected: dict[str, Any]
) -> None:
    assert defaults_of(line(corpus, number)) == expected
