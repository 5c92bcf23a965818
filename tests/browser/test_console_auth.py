"""The console when every read needs the token (``api.auth_reads: true``): the
page itself loads without it, asks for it, then reads and watches with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TOKEN, Site, start_site

pytestmark = [pytest.mark.slow, pytest.mark.mysql]


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    corpus_config: Path,
    mysql_server: str,
) -> Site:
    """quince-api whose reads need the token too."""
    return start_site(
        request,
        tmp_path_factory.mktemp("site-auth"),
        corpus_config,
        token=TOKEN,
        auth_reads=True,
    )


def test_the_console_asks_for_the_token_and_then_reads_live(
    page: Any, site: Site, artefacts: Path
) -> None:
    page.goto(f"{site.base}/ui")
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#token-why")).to_contain_text("needs the API token")
    page.fill("#token-input", "not-the-token")
    page.click("#token-ok")
    expect(page.locator("#notice")).to_contain_text("Token required")

    page.click("#token-button")
    page.fill("#token-input", TOKEN)
    page.click("#token-ok")
    expect(page.locator("#live-table tbody tr")).to_have_count(50)
    # /v1/stream took the token as ?token= (EventSource sends no header).
    expect(page.locator("#connection")).to_have_text("live")
    page.screenshot(path=str(artefacts / "live-with-token.png"))
