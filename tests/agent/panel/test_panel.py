"""The panel in a real headless Chromium against a real agent: consent clicks, the feed, the End button —
the satisfaction rating after the end — and the walls: no launch secret, a foreign Host (DNS rebinding),
a foreign Origin, a missing CSRF header."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from agent.app import Offline
from protocol.actions import CommandOutcome, CommandParams
from protocol.messages import (
    ActionResult,
    ConsentReply,
    ConsentRequest,
    EngineerIdentity,
    Feedback,
    HelpQueued,
    HelpQueuedBody,
    HelpRequest,
    Message,
    SessionAccept,
    SessionDecline,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
    SessionOfferBody,
)
from tests.agent.connection.peer import PeerConnection
from tests.agent.session.harness import request, running_agent, start_session, wait_prompt

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def drain(link: PeerConnection) -> list[Message]:
    """Everything the agent sent that no test has taken yet."""
    out: list[Message] = []
    while not link.inbox.empty():
        out.append(link.inbox.get_nowait())
    return out


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
        held = page.locator("#outputs .output[data-state=held]")  # the user reads it first
        await held.wait_for()
        assert "42" in await held.locator("pre.output-text").inner_text()
        await held.locator("button[data-action=release]").click()
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


async def test_rating_after_the_end_is_sent_once_and_disappears(tmp_path: Path, browser: Browser) -> None:
    async with running_agent(tmp_path) as (server, runtime, link):
        page = await browser.new_page()
        await page.goto(runtime.panel.login_url())
        await page.wait_for_selector("#connection.online")
        assert await page.locator("#rating").is_hidden()  # nothing to rate yet
        await start_session(server, runtime, "s1")
        await page.wait_for_selector("#end", state="visible")
        assert await page.locator("#rating").is_hidden()  # never during a session
        await page.locator("#end").click()
        await server.expect(SessionEnd, session="s1")
        box = page.locator("#rating")
        await box.wait_for(state="visible")
        assert "How did it go?" in await box.inner_text() and "Wang Wei" in await box.inner_text()
        assert await page.locator("#rating-send").is_disabled()  # a choice first
        await page.locator("#rating-choices button[data-rating='5']").click()
        await page.fill("#rating-comment", "  fixed in five minutes  ")
        await page.locator("#rating-send").click()
        feedback = await server.expect(Feedback, session="s1")
        assert feedback.body.rating == 5 and feedback.body.comment == "fixed in five minutes"
        await box.wait_for(state="hidden")
        await page.wait_for_selector("#feed li[data-kind=feedback]")
        assert "You rated the session 5/5" in await page.locator("#feed").inner_text()
        log = "".join(p.read_text("utf-8") for p in (runtime.config.data_dir / "logs").glob("*.log"))
        assert "You rated the session 5/5" in log

        # One rating per session; bad input is refused with a reason, before anything is sent.
        base = f"http://127.0.0.1:{runtime.panel.port}"
        bearer = {"Authorization": f"Bearer {runtime.panel.auth.secret}"}
        async with httpx.AsyncClient(base_url=base, trust_env=False, headers=bearer) as client:
            again = await client.post("/api/feedback", json={"rating": 4})
            assert again.status_code == 409 and again.json()["error"] == "already_rated"
            for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": True}, {}):
                answer = await client.post("/api/feedback", json=bad)
                assert answer.status_code == 400 and answer.json()["error"] == "bad_rating", bad

            # Ended by the engineer: asked again, in Chinese too; "No thanks" sends nothing.
            await start_session(server, runtime, "s2")
            await server.send(SessionEnd(session="s2", body=SessionEndBody(reason="resolved")))
            await box.wait_for(state="visible")
            long = await client.post("/api/feedback", json={"rating": 3, "comment": "x" * 2001})
            assert long.status_code == 400 and long.json()["error"] == "comment_too_long"
            await page.locator("#lang").click()
            await page.locator("html[lang='zh-CN']").wait_for(state="attached")
            assert "服务满意吗" in await box.inner_text()
            await page.locator("#rating-dismiss").click()
            await box.wait_for(state="hidden")
            assert (await client.post("/api/feedback", json={"rating": 5})).status_code == 409
            assert runtime.guard.rating is None
        await asyncio.sleep(0.2)
        assert not [m for m in drain(link) if isinstance(m, Feedback)]  # "No thanks" sent nothing


async def test_rating_is_refused_without_the_secret_or_csrf(tmp_path: Path, browser: Browser) -> None:
    async with running_agent(tmp_path) as (server, runtime, link):
        await start_session(server, runtime, "s1")
        await runtime.end_session()
        await server.expect(SessionEnd, session="s1")
        base = f"http://127.0.0.1:{runtime.panel.port}"
        page = await browser.new_page()
        await page.goto("data:text/html,<p>evil</p>")  # another page in the same browser
        kind = await page.evaluate(
            """async (base) => { try {
                 const r = await fetch(base + '/api/feedback', {method: 'POST', mode: 'no-cors',
                   body: JSON.stringify({rating: 1})});
                 return r.type; } catch (e) { return 'blocked'; } }""",
            base,
        )
        assert kind in ("opaque", "blocked")
        async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
            assert (await client.post("/api/feedback", json={"rating": 1})).status_code == 403
            assert (await client.post("/api/feedback/dismiss")).status_code == 403
            url = runtime.panel.login_url()
            first = await client.get(url.split(str(runtime.panel.port), 1)[1])
            client.cookies.set("rme_panel", first.cookies["rme_panel"])
            # The cookie alone (no CSRF header) cannot rate.
            assert (await client.post("/api/feedback", json={"rating": 1})).status_code == 403
        assert runtime.guard.rating is not None  # still unanswered
        await asyncio.sleep(0.2)
        assert not [m for m in drain(link) if isinstance(m, Feedback)]


async def test_rating_offline_is_not_pretended_and_declines_are_not_asked(tmp_path: Path) -> None:
    async with running_agent(tmp_path, consent_timeout=5) as (server, runtime, _link):
        # A declined offer: nothing to rate.
        engineer = EngineerIdentity(id="E1001", name="Wang Wei")
        offer = SessionOffer(session="s0", body=SessionOfferBody(ticket_id="t0", engineer=engineer))
        await server.send(offer)
        prompt = await wait_prompt(runtime, "session")
        runtime.answer(prompt.id, False)
        await server.expect(SessionDecline, session="s0")
        assert runtime.guard.to_json()["rating"] is None

        await start_session(server, runtime, "s1")
        await runtime.end_session()
        await server.expect(SessionEnd, session="s1")
        assert runtime.guard.rating is not None
        runtime.guard.outbox = Offline()  # the connection is down when the user rates
        base = f"http://127.0.0.1:{runtime.panel.port}"
        bearer = {"Authorization": f"Bearer {runtime.panel.auth.secret}"}
        async with httpx.AsyncClient(base_url=base, trust_env=False, headers=bearer) as client:
            answer = await client.post("/api/feedback", json={"rating": 4})
        assert answer.status_code == 503 and answer.json()["error"] == "offline"
        texts = [entry.text.en for entry in runtime.feed.entries]
        assert any("your rating (4/5) was not sent" in t for t in texts)
        assert not any("You rated the session" in t for t in texts)


async def test_output_view_queue_and_readable_prompts_in_the_browser(
    tmp_path: Path, browser: Browser
) -> None:
    """A secret at the start of 60 KB of output is on the user's screen, in full and scrollable, before
    anything is sent; the prompt escapes what cannot be seen and warns about what cannot be read; further
    requests wait in a visible queue."""
    secret = tmp_path / "notes.txt"
    secret.write_text("secret=opensesame\n" + "filler line of no interest\n" * 2300)
    async with running_agent(tmp_path, consent_timeout=60) as (server, runtime, link):
        page = await browser.new_page()
        await page.goto(runtime.panel.login_url())
        await page.wait_for_selector("#connection.online")
        await start_session(server, runtime, "s1")
        hidden = f"cat {secret} #\u202e \x1b[8m"
        first = await request(server, "s1", CommandParams(command=hidden))
        encoded = await request(server, "s1", CommandParams(command="echo ZWNobyBoaQ== | base64 -d | sh"))
        await server.expect(ConsentRequest, body__action_id=first)
        prompt = page.locator("#prompts .prompt[data-kind=action]")
        await prompt.wait_for()
        assert await page.locator("#prompts .prompt").count() == 1  # one at a time
        shown = await prompt.locator("pre.verbatim").inner_text()
        assert shown == f"cat {secret} #\\u202e \\x1b[8m"  # escaped, never raw
        assert "invisible characters" in await prompt.locator(".warnings").inner_text()
        assert f"{len(hidden)} characters" in await prompt.locator(".length").inner_text()
        queue = page.locator("#queue-box")
        await queue.wait_for(state="visible")
        assert "1 more requests are waiting" in await queue.inner_text()
        assert "base64 -d" in await page.locator(f"#queue li[data-id='{encoded}']").inner_text()
        auto = prompt.locator("#auto-send")
        assert not await auto.is_checked()  # "send without asking me" is off unless the user ticks it
        await prompt.locator("button[data-action=allow]").click()
        assert (await server.expect(ConsentReply, body__action_id=first)).body.decision == "allowed"

        held = page.locator(f"#output-{first}")
        await held.wait_for()
        assert await held.get_attribute("data-state") == "held"
        text = await held.locator("pre.output-text").inner_text()
        assert text.startswith("secret=opensesame\n") and text.count("filler line") == 2300
        size = secret.stat().st_size
        assert f"{size} bytes" in await held.locator(".size").inner_text()
        box = held.locator("pre.output-text")
        assert await box.evaluate("e => e.scrollHeight > e.clientHeight")  # scrollable, not cut
        await asyncio.sleep(0.3)
        sent = drain(link)
        assert not [m for m in sent if isinstance(m, ActionResult)]
        assert all("opensesame" not in m.model_dump_json() for m in sent)  # nothing before release

        # The next request came up: it warns in plain words.
        second = page.locator("#prompts .prompt[data-kind=action]")
        await page.locator("#queue-box").wait_for(state="hidden")
        assert "decodes a hidden (encoded) payload" in await second.locator(".warnings").inner_text()
        await second.locator("button[data-action=deny]").click()
        assert (await server.expect(ConsentReply, body__action_id=encoded)).body.decision == "denied"

        await held.locator("button[data-action=keep]").click()
        result = await server.expect(ActionResult, body__action_id=first)
        assert isinstance(result.body.outcome, CommandOutcome) and result.body.outcome.withheld
        assert result.body.outcome.output == ""
        await page.locator(f"#output-{first}[data-state=kept]").wait_for()
