"""Fixtures for the console's tests: one real server and one headless Chromium for the whole
directory (each costs seconds to start), and a logged-in browser context helper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from tests.server.helpers import RunningServer, running_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
WIDE = ViewportSize(width=1280, height=800)
NARROW = ViewportSize(width=390, height=844)
WAIT_MS = 20_000


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = tmp_path_factory.mktemp("console-db") / "rme.db"
    with running_server(tmp_path_factory.mktemp("console-server"), f"sqlite+aiosqlite:///{db}") as server:
        yield server


# Module scope, not session: while Playwright's sync API is open it runs an event loop in this
# thread, and pytest-asyncio tests elsewhere in the run cannot start their own until it is closed.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_context(browser: Browser, lang: str = "zh-CN") -> BrowserContext:
    context = browser.new_context(ignore_https_errors=True, viewport=WIDE, locale=lang, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    return context


def login(page: Page, server: RunningServer, account: tuple[str, str]) -> None:
    page.goto(f"{server.base}/console/")
    page.fill("#username", account[0])
    page.fill("#password", account[1])
    page.click("#login")
    expect(page.locator("#live")).to_have_class("badge live-live")
