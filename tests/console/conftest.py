"""Fixtures for the console's tests: one real server and one headless Chromium for the whole
directory (each costs seconds to start), a logged-in browser context helper, and a real agent
process (one per module) with its panel."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from tests.localnet import CHROMIUM, CHROMIUM_ARGS, local_diagnosis_env
from tests.server.helpers import ADMIN, PYTHON, ROOT, RunningServer, running_server

WIDE = ViewportSize(width=1280, height=800)
NARROW = ViewportSize(width=390, height=844)
WAIT_MS = 20_000


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = tmp_path_factory.mktemp("console-db") / "rme.db"
    with running_server(tmp_path_factory.mktemp("console-server"), f"sqlite+aiosqlite:///{db}") as server:
        yield server


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of the module's own, for tests that leave figures behind (sessions today, alerts) which
    the shared server's other tests count exactly."""
    db = tmp_path_factory.mktemp("own-db") / "rme.db"
    with running_server(tmp_path_factory.mktemp("own-server"), f"sqlite+aiosqlite:///{db}") as server:
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


# ---- a real agent process (`rme-agent enroll` + `run`) and its panel ---------------------------------


@dataclass
class Agent:
    """`rme-agent run` against the console's server, enrolled for a customer of its own."""

    process: subprocess.Popen[bytes]
    data_dir: Path  # beside it: `inbox` (pushed files) and `agent.log`
    env: dict[str, str]
    server: str

    @property
    def inbox(self) -> Path:
        return self.data_dir.parent / "inbox"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, "-m", "agent.cli", *args, "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=timeout, check=False,
        )  # fmt: skip

    def panel_url(self) -> str:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = self.cli("panel", "--print-url", timeout=60)  # generous: slow start-up under load
            if found.returncode == 0 and found.stdout.strip().startswith("http"):
                return found.stdout.strip().splitlines()[-1]
            time.sleep(0.2)
        raise AssertionError(f"agent panel did not come up: {self.log()}")

    def log(self) -> str:
        path = self.data_dir.parent / "agent.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()  # nothing happens if it has exited
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
            return
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def agent(console_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    with running_agent(console_server, tmp_path_factory) as running:
        yield running


@contextlib.contextmanager
def running_agent(
    server: RunningServer, tmp_path_factory: pytest.TempPathFactory, **extra_env: str
) -> Iterator[Agent]:
    """An enrolled `rme-agent run` for a new customer of `server` (`extra_env`: e.g. its DISPLAY)."""
    with server.sync_http() as http:
        admin = {"username": ADMIN[0], "password": ADMIN[1]}
        assert http.post("/api/auth/login", json=admin).is_success
        customer = http.post("/api/customers", json={"name": "张三 Zhang San", "subscription": "active"})
        assert customer.status_code == 201, customer.text
        code = http.post(f"/api/customers/{customer.json()['id']}/enrollment-codes").json()["code"]
    base = tmp_path_factory.mktemp("agent")
    data_dir, inbox = base / "data", base / "inbox"
    env = {
        **os.environ, "RME_INBOX": str(inbox), "RME_OPEN_BROWSER": "0", "RME_LANG": "zh-CN",
        "RME_CONSENT_TIMEOUT": "60", "HOME": str(base),
        **local_diagnosis_env(),  # its diagnosis probes nothing beyond loopback
        **extra_env,
    }  # fmt: skip
    url = f"wss://127.0.0.1:{server.port}"
    enrolled = subprocess.run(
        [PYTHON, "-m", "agent.cli", "enroll", code, "--server", url, "--ca", str(server.ca),
         "--data-dir", str(data_dir), "--name", "Zhang-PC"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    with (base / "agent.log").open("wb") as out:
        process = subprocess.Popen(
            [PYTHON, "-m", "agent.cli", "run", "--no-browser", "--server", url, "--data-dir", str(data_dir)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    running = Agent(process, data_dir, env, url)
    try:
        running.panel_url()
        yield running
    finally:
        running.stop()


def allow_on_panel(panel: Page) -> None:
    button = panel.locator("#prompts .prompt button.allow").first
    button.wait_for(state="visible")
    button.click()


def release_on_panel(panel: Page, text: str) -> None:
    """The user sends a command's output (held on the panel until then) to the engineer."""
    held = panel.locator("#outputs .output[data-state=held]", has_text=text).first
    held.wait_for(state="visible")
    held.locator("button[data-action=release]").click()


def start_session(context: BrowserContext, console: Page, agent: Agent, words: str) -> Page:
    """The user asks for help with `words`; the engineer on `console` opens the ticket and accepts, the
    user lets them in on the agent's panel (a new page of `context`, returned): the session is live."""
    asked = agent.cli("help", words, "--no-browser", timeout=90)
    assert asked.returncode == 0, asked.stdout + asked.stderr
    console.locator("#queue-rows tr[data-state=queued]", has_text=words).locator("td a").first.click()
    console.click("button.accept")
    panel = context.new_page()
    panel.goto(agent.panel_url())
    allow_on_panel(panel)
    expect(console.locator(".banner.live")).to_be_visible()
    return panel
