"""The web console in headless Chromium against a live quince-api over MariaDB.

Events appear live while another process ingests a notigen day; pause holds
them back and resume shows them; filters narrow the tail; an event's detail
shows its traits and its raw notification from the archive; following a
request_id shows every event of the request in time order; an errored stream
shows its reason and is reset with the token. A screenshot of each view is
saved (see conftest).
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import REASON, TOKEN, Site
from tests.support.quince import ROOT
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.mysql]


def get(site: Site, path: str) -> Any:
    with urllib.request.urlopen(site.base + path, timeout=10) as response:
        return json.loads(response.read())


def feed(site: Site, seed: int) -> subprocess.Popen[bytes]:
    """Another process ingesting notigen day ``seed`` in small batches."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.quince",
            site.url,
            str(site.config_dir),
            str(seed),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def shown_ids(page: Any, table: str) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        f"{table} tbody tr", "rows => rows.map(r => r.dataset.messageId)"
    )
    return ids


def test_events_appear_live_and_pause_holds_them(
    page: Any, site: Site, artefacts: Path
) -> None:
    before = {e["message_id"] for e in get(site, "/v1/events?limit=1000")}
    page.goto(f"{site.base}/ui")
    rows = page.locator("#live-table tbody tr")
    expect(rows).to_have_count(50)
    # Other processes ingest more days, in small batches, while we watch.
    feeders = [feed(site, 12)]
    try:
        wait_for(
            lambda: set(shown_ids(page, "#live-table")) - before,
            60,
            "an event ingested after the page opened",
            interval=0.2,
        )
        # Over /v1/stream (server-sent events), not the polling fallback.
        expect(page.locator("#connection")).to_have_text("live")
        page.screenshot(path=str(artefacts / "live.png"))

        page.click("#pause")
        expect(page.locator("#connection")).to_have_text("paused")
        held = shown_ids(page, "#live-table")
        feeders.append(feed(site, 13))  # the first day may be in already
        expect(page.locator("#pause")).to_have_text(
            re.compile(r"Resume \(\d+ new\)"), timeout=60_000
        )
        assert shown_ids(page, "#live-table") == held  # nothing added while paused
        page.screenshot(path=str(artefacts / "live-paused.png"))
        page.click("#pause")
        expect(page.locator("#pause")).to_have_text("Pause")
        wait_for(
            lambda: set(shown_ids(page, "#live-table")) - set(held),
            10,
            "the held events after resume",
        )
    finally:
        for feeder in feeders:
            feeder.terminate()
            feeder.wait(timeout=30)
    shown = shown_ids(page, "#live-table")
    assert len(shown) == len(set(shown)), "an event shown twice"


def test_filters_narrow_the_tail(page: Any, site: Site, artefacts: Path) -> None:
    tenant = get(site, "/v1/events?limit=1")[0]["tenant_id"]
    page.goto(f"{site.base}/ui")
    expect(page.locator("#live-table tbody tr").first).to_be_visible()
    page.fill("#f-type", "compute.instance.*.end")
    page.fill("#f-trait", f"tenant_id:{tenant}")
    page.click("#live-filters button[type=submit]")
    expected = [
        e["message_id"]
        for e in get(
            site,
            "/v1/events?limit=50&event_name=compute.instance.*.end"
            f"&traits=tenant_id:{tenant}",
        )
    ]
    assert expected, "the fixture's day has no such event"
    wait_for(
        lambda: shown_ids(page, "#live-table") == expected,
        30,
        "the filtered events",
        interval=0.1,
    )
    types = page.eval_on_selector_all(
        "#live-table tbody td.type", "cells => cells.map(c => c.textContent)"
    )
    assert all(fnmatch.fnmatchcase(t, "compute.instance.*.end") for t in types)
    page.screenshot(path=str(artefacts / "live-filtered.png"))
    page.click("#f-clear")
    expect(page.locator("#live-table tbody tr")).to_have_count(50)


def test_event_detail_shows_traits_and_the_archived_notification(
    page: Any, site: Site, artefacts: Path
) -> None:
    creates = get(site, "/v1/events?limit=1000&event_name=compute.instance.create.end")
    event = next(e for e in creates if e["message_id"] in site.archived)
    page.goto(f"{site.base}/ui")
    page.fill("#f-trait", f"instance_id:{event['instance_id']}")
    page.click("#live-filters button[type=submit]")
    row = page.locator(f'#live-table tr[data-message-id="{event["message_id"]}"]')
    row.click()
    detail = page.locator("#live-detail")
    expect(detail).to_be_visible()
    expect(detail.locator("#traits")).to_contain_text(event["instance_id"])
    expect(detail.locator("#traits")).to_contain_text(str(event["memory_mb"]))
    raw = detail.locator("pre#raw")
    expect(raw).to_contain_text('"event_type": "compute.instance.create.end"')
    notification = json.loads(raw.text_content())
    assert notification["message_id"] == event["message_id"]
    assert notification["payload"]["instance_id"] == event["instance_id"]
    page.screenshot(path=str(artefacts / "event-detail.png"))
    raw.scroll_into_view_if_needed()
    detail.screenshot(path=str(artefacts / "event-raw.png"))

    unarchived = [e for e in creates if e["message_id"] not in site.archived]
    if unarchived:  # ingested by the live test's feeder, never archived
        page.fill("#f-trait", f"instance_id:{unarchived[0]['instance_id']}")
        page.click("#live-filters button[type=submit]")
        page.locator(
            f'#live-table tr[data-message-id="{unarchived[0]["message_id"]}"]'
        ).click()
        expect(detail.locator("#raw")).to_contain_text("Not archived")


def test_following_a_request_shows_it_whole_in_time_order(
    page: Any, site: Site, artefacts: Path
) -> None:
    seed = get(site, "/v1/events?limit=1&event_name=compute.instance.create.end")[0]
    request_id = seed["request_id"]
    everything = get(site, f"/v1/events?limit=1000&traits=request_id:{request_id}")
    assert len(everything) > 2, "a create request has several events"
    page.goto(f"{site.base}/ui")
    page.fill("#f-trait", f"request_id:{request_id}")
    page.click("#live-filters button[type=submit]")
    link = page.locator(
        f'#live-table tr[data-message-id="{seed["message_id"]}"] '
        'a.follow[href*="/follow/request_id/"]'
    )
    expect(link).to_have_text(request_id[:13] + "…")
    link.click()
    expect(page.locator("#view-follow")).to_be_visible()
    expect(page.locator("#follow-table tbody tr")).to_have_count(len(everything))
    in_order = sorted(everything, key=lambda e: e["timestamp"]["datetime"])
    assert shown_ids(page, "#follow-table") == [e["message_id"] for e in in_order]
    gaps = page.eval_on_selector_all(
        "#follow-table tbody td.gap", "cells => cells.map(c => c.textContent)"
    )
    assert gaps[0] == "" and all(g.startswith("+") for g in gaps[1:])
    expect(page.locator("#follow-summary")).to_contain_text(f"{len(everything)} events")
    page.screenshot(path=str(artefacts / "follow-request.png"))


def test_an_errored_stream_shows_why_and_resets_with_the_token(
    page: Any, site: Site, artefacts: Path
) -> None:
    page.goto(f"{site.base}/ui#/streams/expire_error")
    chip = page.locator('.state[data-state="expire_error"] .n')
    expect(chip).to_have_text("1")
    page.locator(f'#streams-table tr[data-stream-id="{site.errored_stream}"]').click()
    expect(page.locator("#stream-reason")).to_have_text(REASON)
    expect(page.locator("#stream-events tbody tr").first).to_be_visible()
    page.screenshot(path=str(artefacts / "stream-error.png"))

    page.click("#reset")
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()  # auth is on: the console asks for the token
    page.fill("#token-input", TOKEN)
    page.screenshot(path=str(artefacts / "token-dialog.png"))
    page.click("#token-ok")
    expect(page.locator("#reset-status")).to_contain_text("now retry_expire")
    expect(chip).to_have_text("0")
    [stream] = get(site, f"/v1/streams/{site.errored_stream}")
    assert stream["state"] == "retry_expire"
    page.goto(f"{site.base}/ui#/streams/retry_expire")
    expect(
        page.locator(f'#streams-table tr[data-stream-id="{site.errored_stream}"]')
    ).to_be_visible()
    page.screenshot(path=str(artefacts / "streams.png"))
