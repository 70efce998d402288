"""The panel in a real headless Chromium against a real agent: consent clicks, the feed, the End button —
and the walls: no launch secret, a foreign Host (DNS rebinding), a foreign Origin, a missing CSRF header."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from protocol.actions import CommandParams
from protocol.messages import (
    ActionResult,
    ConsentReply,
    ConsentRequest,
    EngineerIdentity,
    HelpQueued,
    HelpQueuedBody,
    HelpRequest,
    SessionAccept,
    SessionEnd,
    SessionOffer,
    SessionOfferBody,
)
from tests.agent.session.harness import request, running_agent

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


async def test_consent_feed_and_end_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    async with running_agent(tmp_path, consent_timeout=30) as (server, runtime, _link):
        page = await browser.new_page()
        await page.goto(runtime.panel.login_url())
        assert page.url.endswith("/")  # the one-time token is gone from the address bar
        await page.wait_for_selector("#connection.online")
        engineer = EngineerIdentity(id="E1001", name="Wang Wei")
        await server.send(
            SessionOffer(session="s1", body=SessionOfferBody(ticket_id="t1", engineer=engineer))
        )
        offer = page.locator("#prompts .prompt[data-kind=session]")
        await offer.wait_for()
        assert "E1001" in await offer.inner_text() and "Wang Wei" in await offer.inner_text()
        await offer.locator("button[data-action=allow]").click()
        await server.expect(SessionAccept, session="s1")

        command = "echo panel-ok && echo $((6*7))"
        action_id = await request(server, "s1", CommandParams(command=command, timeout_s=20), reason="check")
        await server.expect(ConsentRequest, body__action_id=action_id)
        prompt = page.locator("#prompts .prompt[data-kind=action]")
        await prompt.wait_for()
        assert await prompt.locator("pre.verbatim").inner_text() == command  # shown verbatim
        await prompt.locator("button[data-action=allow]").click()
        assert (await server.expect(ConsentReply, body__action_id=action_id)).body.decision == "allowed"
        result = await server.expect(ActionResult, body__action_id=action_id)
        assert result.body.outcome is not None and "42" in result.body.outcome.output  # type: ignore[union-attr]
        await page.wait_for_selector("#feed li[data-kind=result]")
        assert "You allowed: Run a command" in await page.locator("#feed").inner_text()

        denied = await request(server, "s1", CommandParams(command="echo no"))
        await server.expect(ConsentRequest, body__action_id=denied)
        await page.locator("#prompts .prompt[data-kind=action] button[data-action=deny]").click()
        assert (await server.expect(ConsentReply, body__action_id=denied)).body.decision == "denied"

        await page.locator("#lang").click()
        await page.locator("html[lang='zh-CN']").wait_for(
            state="attached"
        )  # CSP: no eval, no wait_for_function
        assert "活动记录" in await page.locator("body").inner_text()

        await page.locator("#end").click()
        end = await server.expect(SessionEnd, session="s1")
        assert end.body.reason == "ended_by_user"
        await page.wait_for_selector("#end", state="hidden")


async def test_requests_without_the_secret_are_refused(tmp_path: Path, browser: Browser) -> None:
    async with running_agent(tmp_path) as (_server, runtime, _link):
        base = f"http://127.0.0.1:{runtime.panel.port}"
        # A browser that never got a login link: the page itself is refused.
        page = await browser.new_page()
        response = await page.goto(base + "/")
        assert response is not None and response.status == 403
        assert "rme-panel" not in (await page.content())
        # Another web page in the same browser: cannot read state nor end the session.
        await page.goto("data:text/html,<p>evil</p>")
        status = await page.evaluate(
            """async (base) => { try {
                 const r = await fetch(base + '/api/end', {method: 'POST', mode: 'no-cors'});
                 return r.type; } catch (e) { return 'blocked'; } }""",
            base,
        )
        assert status in ("opaque", "blocked")
        assert runtime.guard.last_end is None
        async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
            assert (await client.get("/api/state")).status_code == 403
            assert (await client.post("/api/end")).status_code == 403
            assert (await client.post("/api/launch")).status_code == 403
            # DNS rebinding: the right socket, a foreign Host header.
            secret = runtime.panel.auth.secret
            rebound = await client.get(
                "/api/state", headers={"Host": "evil.example:80", "Authorization": f"Bearer {secret}"}
            )
            assert rebound.status_code == 421
            # A login token works once.
            url = runtime.panel.login_url()
            path = url.split(str(runtime.panel.port), 1)[1]
            first = await client.get(path)
            assert first.status_code == 303 and "rme_panel" in first.headers["set-cookie"]
            assert (await client.get(path)).status_code == 403
            cookie = first.cookies["rme_panel"]
            # The cookie alone cannot change anything: the CSRF header and our Origin are needed.
            client.cookies.set("rme_panel", cookie)
            assert (await client.get("/api/state")).status_code == 200
            assert (await client.post("/api/end")).status_code == 403
            page_html = (await client.get("/")).text
            csrf = page_html.split('name="rme-csrf" content="', 1)[1].split('"', 1)[0]
            foreign = await client.post(
                "/api/end", headers={"X-RME-CSRF": csrf, "Origin": "http://evil.example"}
            )
            assert foreign.status_code == 403
            ours = await client.post(
                "/api/end", headers={"X-RME-CSRF": csrf, "Origin": f"http://127.0.0.1:{runtime.panel.port}"}
            )
            assert ours.status_code == 200 and ours.json() == {"ended": False}
            headers = (await client.get("/")).headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert "access-control-allow-origin" not in headers
        await asyncio.sleep(0)


async def test_call_an_expert_button_diagnoses_and_sends_help(tmp_path: Path, browser: Browser) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        page = await browser.new_page()
        await page.goto(runtime.panel.login_url())
        await page.wait_for_selector("#connection.online")
        await page.fill("#help-words", "the internet is down")
        await page.click("#help")
        help_request = await server.expect(HelpRequest, timeout=20)
        assert help_request.body.words == "the internet is down"
        assert help_request.body.report is not None  # the diagnosis travels with the request
        await page.wait_for_selector("#diagnosis h3")  # and is shown in plain words
        await server.send(HelpQueued(body=HelpQueuedBody(ticket_id="t-9", position=2)))
        for _ in range(100):
            if "2 ahead of you" in await page.locator("#help-status").inner_text():
                break
            await asyncio.sleep(0.05)
        assert "2 ahead of you" in await page.locator("#help-status").inner_text()
