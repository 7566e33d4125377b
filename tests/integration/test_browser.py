"""The public pages in a real browser: Debian's Chromium, driven by Playwright, over real HTTP.

The in-process tests (tests/web) check what the server sends; this checks what
a person gets: the GOV.UK styles and scripts load, the filter form and the
comment form work end to end, and the confirmation appears. It never downloads
a browser: without /usr/bin/chromium or the playwright package it is skipped.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from accord_testing import seed_register

from accord.app import create_app
from accord.demo.seed import example_agreements
from accord.runtime import Hub
from accord.web import rendering

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONSULTING = "debt-pilot-northshire"
ASSETS_INSTALLED = (rendering.assets_dir() / "govuk-frontend.min.css").is_file()

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]


def _start(app, host: str = "127.0.0.1") -> tuple[uvicorn.Server, threading.Thread, int]:  # noqa: ANN001
    """uvicorn in a daemon thread on a free port (port 0), as `accord demo` runs it."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="accord-browser-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return server, thread, server.servers[0].sockets[0].getsockname()[1]


@pytest.fixture
def live_url(sqlite_hub: Hub) -> Iterator[str]:
    seed_register(sqlite_hub)
    server, thread, port = _start(create_app(hub=sqlite_hub))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def browser_available() -> None:
    """Skip, saying what is missing, before any server is started."""
    if not CHROMIUM.exists():
        pytest.skip(f"no browser at {CHROMIUM} (install Debian's chromium package; browsers are never downloaded)")
    if sync_playwright is None:
        pytest.skip("the playwright Python package is not installed (pip install -r requirements.lock)")


@pytest.fixture
def page(browser_available: None, live_url: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=15_000)
        try:
            context = browser.new_context(base_url=live_url)
            context.set_default_timeout(5_000)
            yield context.new_page()
        finally:
            browser.close()


def _comment_count(live_url: str) -> int:
    with urllib.request.urlopen(f"{live_url}/register/agreements/{CONSULTING}.json", timeout=5) as response:
        return json.load(response)["consultation"]["comments"]


def test_a_person_filters_the_register_and_comments_on_a_consultation(page: Page, live_url: str) -> None:
    page.goto("/register")
    expect(page).to_have_title("Register of data-sharing agreements - Accord - GOV.UK")
    published = sum(status in ("active", "consultation") for status, _spec in example_agreements())
    expect(page.locator("table.govuk-table tbody tr")).to_have_count(published)

    page.get_by_label("Legal gateway").select_option("debt")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/register\?.*gateway=debt"))
    rows = page.locator("table.govuk-table tbody tr")
    expect(rows).to_have_count(1)
    expect(page.get_by_role("heading", name="1 agreement match your filters")).to_be_visible()

    rows.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/register/agreements/{CONSULTING}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Council tax arrears and ability to pay - pilot")
    expect(page.get_by_text("0 comments received so far")).to_be_visible()

    # Sending the form empty shows the GOV.UK error summary and keeps what was typed.
    page.get_by_label("Organisation (optional)").fill("Northshire Debt Advice")
    page.get_by_role("button", name="Send comment").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter your name")
    expect(page.get_by_label("Organisation (optional)")).to_have_value("Northshire Debt Advice")
    assert _comment_count(live_url) == 0

    page.get_by_label("Your name").fill("Jo Bloggs")
    page.get_by_label("Your comment").fill("Please publish the data protection impact assessment.")
    page.get_by_role("button", name="Send comment").click()

    expect(page).to_have_url(re.compile(rf"/register/agreements/{CONSULTING}/comment/sent$"))
    expect(page.locator(".govuk-panel__title")).to_have_text("Comment sent")
    assert _comment_count(live_url) == 1


@pytest.mark.skipif(not ASSETS_INSTALLED, reason="GOV.UK Frontend assets not installed (scripts/bootstrap.py)")
def test_the_gov_uk_styles_and_scripts_load(page: Page) -> None:
    page.goto(f"/register/agreements/{CONSULTING}")

    header = page.locator(".govuk-header")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(29, 112, 184)"
    assert "GDS Transport" in page.locator("h1").evaluate("e => getComputedStyle(e).fontFamily")
    # The font files themselves came from /assets/fonts (the stylesheet's own URLs).
    loaded = page.evaluate(
        """async () => {
             await document.fonts.ready;
             return [...document.fonts]
               .filter(f => f.family.includes('GDS Transport') && f.status === 'loaded').length
           }"""
    )
    assert loaded > 0
    # The module script ran initAll(): the character count adds its live status message.
    expect(page.locator("body.govuk-frontend-supported")).to_have_count(1)
    expect(page.locator(".govuk-character-count__status")).to_have_text("You have 10,000 characters remaining")
