"""A page reload in the middle of a session does not end it: a real server (grace period on by default),
a real agent process and its panel, headless Chromium. After the reload the console opens the session
again, live, says so, does not show the request from before as in flight (and ignores its result
when the user allows it late), and a command sent after the reload waits for the user's Allow and its
output arrives."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Browser, expect

from tests.console.conftest import Agent, allow_on_panel, login, new_context, release_on_panel, start_session
from tests.server.helpers import ADMIN, RunningServer

pytestmark = pytest.mark.timeout(180)


def new_engineer(server: RunningServer) -> tuple[str, str]:
    """An engineer of this test's own: a console takes back *every* running session of its engineer."""
    account = (f"eng-{secrets.token_hex(4)}", "engineer password")
    with server.sync_http() as http:
        assert http.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}).is_success
        made = http.post(
            "/api/engineers", json={"username": account[0], "password": account[1], "role": "engineer"}
        )
        assert made.status_code == 201, made.text
    return account


def test_a_reload_resumes_the_session(console_server: RunningServer, agent: Agent, browser: Browser) -> None:
    server = console_server
    context = new_context(browser)
    console = context.new_page()
    login(console, server, new_engineer(server))
    panel = start_session(context, console, agent, "重新加载页面之后还能继续吗")
    session_url = console.url

    # A request the user has not answered yet when the engineer reloads the page.
    console.fill("#command", "echo before-reload")
    console.click("#req-command")
    expect(console.locator("#actions li[data-kind=command]")).to_have_attribute(
        "data-state", "awaiting_consent"
    )
    expect(panel.locator("#prompts .prompt button.allow")).to_have_count(1)

    console.reload()
    # The same session, live again, with the notice; the request from before is not shown in flight.
    expect(console.locator("#resumed")).to_contain_text("已重新连接")
    expect(console.locator(".banner.live")).to_be_visible()
    assert console.url == session_url
    expect(console.locator("#actions li")).to_have_count(0)
    expect(console.locator("#req-command")).to_be_enabled()

    # The user allows the old request late: its result reaches the console, which ignores it.
    allow_on_panel(panel)
    expect(panel.locator("#prompts .prompt button.allow")).to_have_count(0)

    # A command after the reload waits for the user's Allow, then its output arrives.
    console.fill("#command", "echo after-reload")
    console.click("#req-command")
    command = console.locator("#actions li[data-kind=command]")
    expect(command).to_have_count(1)
    expect(command).to_have_attribute("data-state", "awaiting_consent")
    allow_on_panel(panel)
    release_on_panel(panel, "after-reload")
    expect(command.locator("pre.output")).to_contain_text("after-reload")
    expect(console.locator("#actions li")).to_have_count(1)

    # The session still ends normally, and the console says so.
    console.select_option("#end-reason", "resolved")
    console.select_option("#resolution", "network.config")
    console.click("#end-session")
    expect(console.locator(".banner.ended")).to_be_visible()
    expect(console.locator("#resumed")).to_have_count(0)
    context.close()


# The page's WebSockets, and a switch that sends new ones nowhere (a network that is down).
SOCKETS = """
window.__sockets = [];
window.__down = false;
const Real = window.WebSocket;
window.WebSocket = class extends Real {
  constructor(url, protocols) {
    super(window.__down ? "wss://127.0.0.1:9/" : url, protocols);
    window.__sockets.push(this);
  }
};
"""


def test_a_network_blip_keeps_the_session(
    console_server: RunningServer, agent: Agent, browser: Browser
) -> None:
    server = console_server
    context = new_context(browser, lang="en")
    context.add_init_script(SOCKETS)
    console = context.new_page()
    login(console, server, new_engineer(server))
    panel = start_session(context, console, agent, "wifi keeps dropping")
    console.fill("#command", "echo before-blip")
    console.click("#req-command")
    before = console.locator("#actions li[data-kind=command]")
    expect(before).to_have_attribute("data-state", "awaiting_consent")

    # The network goes down: the console says so and sends nothing; the user allows meanwhile.
    console.evaluate("() => { window.__down = true; window.__sockets.at(-1).close(); }")
    expect(console.locator("#away")).to_be_visible()
    expect(console.locator("#req-command")).to_be_disabled()
    allow_on_panel(panel)
    # It comes back within the grace period: the session goes on with the notice; the request whose
    # answer went to no console leaves the list (what became of it is in the user's panel).
    console.evaluate("() => { window.__down = false; }")
    expect(console.locator("#resumed")).to_contain_text("Reconnected")
    expect(console.locator(".banner.live")).to_be_visible()
    expect(before).to_have_count(0)
    console.fill("#command", "echo after-blip")
    console.click("#req-command")
    after = console.locator("#actions li[data-kind=command]")
    expect(after).to_have_attribute("data-state", "awaiting_consent")
    allow_on_panel(panel)
    release_on_panel(panel, "after-blip")
    expect(after.locator("pre.output")).to_contain_text("after-blip")
    panel.click("#end")
    expect(console.locator("#user-ended")).to_be_visible()
    context.close()
