"""Atom and CUF documents escape every value (built with xml.etree)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from winchester.handlers import atom_entry

ATOM = "{http://www.w3.org/2005/Atom}"
CUF = "{http://docs.rackspace.com/core/event}"
NOVA = "{http://docs.rackspace.com/event/nova}"
NASTY = "Tom & Jerry <b>\"quoted\"</b> 'single' Zoë ☃ 漢字 a />b"


def nasty_event() -> dict[str, object]:
    return {
        "message_id": "1234-5678",
        "event_type": "compute.instance.exists",
        "timestamp": datetime(2015, 8, 10, tzinfo=UTC),
        "audit_period_beginning": datetime(2015, 8, 10, tzinfo=UTC),
        "audit_period_ending": datetime(2015, 8, 11, tzinfo=UTC),
        "display_name": NASTY + "\x00\x07",  # control characters XML cannot hold
        "tenant_id": "t&<>",
        "instance_flavor": "1 GB <Performance>",
        "state": "active",
        "original_message_id": 'orig&"id"',
    }


@pytest.mark.parametrize("content_format", ["json", "cuf_xml"])
def test_values_needing_escapes_round_trip(content_format: str) -> None:
    entry = atom_entry.render_entry(
        nasty_event(),
        content_format=content_format,
        title=NASTY,
        categories=["a&b", "<c>"],
    )
    root = ET.fromstring(entry.document)  # well-formed, UTF-8
    assert root.findtext(f"{ATOM}title") == NASTY
    terms = [c.get("term") for c in root.findall(f"{ATOM}category")]
    suffix = ".cuf" if content_format == "cuf_xml" else ""
    assert terms == [
        "a&b",
        "<c>",
        f"compute.instance.exists{suffix}",
        'original_message_id:orig&"id"',
    ]
    content = root.find(f"{ATOM}content")
    assert content is not None
    if content_format == "json":
        body = json.loads(content.text or "")
        assert body["display_name"] == NASTY + "\x00\x07"  # JSON keeps them escaped
        assert body["tenant_id"] == "t&<>"
    else:
        cuf = content.find(f"{CUF}event")
        assert cuf is not None
        assert cuf.get("resourceName") == NASTY  # control characters dropped
        assert cuf.get("tenantId") == "t&<>"
        product = cuf.find(f"{NOVA}product")
        assert product is not None and product.get("flavorName") == "1 GB <Performance>"
    assert "Zoë ☃ 漢字".encode() in entry.document  # non-ASCII kept as UTF-8


def test_cuf_text_keeps_the_original_form_with_escapes() -> None:
    text = atom_entry.cuf_xml(nasty_event(), {"region": 'r"1'})
    assert 'region="r&quot;1"' in text and 'tenantId="t&amp;&lt;&gt;"' in text
    assert text.endswith('bandwidthOut=""/></event>')
    assert ET.fromstring(text).get("resourceName") == NASTY


def test_a_lone_surrogate_is_dropped_not_a_crash() -> None:
    event = {**nasty_event(), "display_name": "bad\ud800name"}
    entry = atom_entry.render_entry(event, content_format="cuf_xml")
    cuf = ET.fromstring(entry.document).find(f"{ATOM}content/{CUF}event")
    assert cuf is not None and cuf.get("resourceName") == "badname"
