"""A working day in the console, in Chromium, against a real server and a protocol-level agent that can
misbehave (it reports a wrong SHA-256 for a pushed file): honest figures and no surprises.

Covers issue 20: the pushed file's reported hash is compared (a mismatch shows as a failure, the full
hashes on demand), the end form starts unchosen and needs a choice, controls turn off when a session
ends, labels on the timeout and the consent countdown, canned replies, keyboard shortcuts, the
customer's earlier sessions, search, a desktop notification for a request while the tab is hidden,
English plurals, the favicon — and no error in the browser's console during all of it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from protocol.actions import PushFileOutcome
from protocol.codec import FileChunk
from protocol.messages import (
    ActionRequest,
    ActionResult,
    ActionResultBody,
    Chat,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
    SessionEnd,
)
from tests.console.conftest import login, new_context
from tests.console.protocol_agent import Background, ask, background, enroll, next_of, take_offer
from tests.server.helpers import ENGINEER, ProtocolClient, RunningServer

__all__ = ["background"]


async def ask_consent(agent: ProtocolClient, session: str) -> str:
    request = await next_of(agent, ActionRequest)
    action_id = request.body.action_id
    await agent.send(
        ConsentRequest(session=session, body=ConsentRequestBody(action_id=action_id, timeout_s=60))
    )
    return str(action_id)


async def allow_and_store_wrong_hash(agent: ProtocolClient, session: str, action_id: str) -> bytes:
    await agent.send(
        ConsentReply(session=session, body=ConsentReplyBody(action_id=action_id, decision="allowed"))
    )
    received = bytearray()
    while True:
        chunk = await agent.recv(30)
        if isinstance(chunk, FileChunk):
            received += chunk.payload
            if chunk.last:
                break
    # A broken or lying agent: it says it stored something else.
    wrong = hashlib.sha256(b"something else").hexdigest()
    outcome = PushFileOutcome(saved_as="fix.txt", size=len(received), sha256=wrong)
    await agent.send(
        ActionResult(
            session=session, body=ActionResultBody(action_id=action_id, status="ok", outcome=outcome)
        )
    )
    return bytes(received)


def hide_tab(page: Page) -> None:
    page.evaluate(
        """() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    }"""
    )


def test_a_day_in_the_console(
    own_server: RunningServer, browser: Browser, background: Background, tmp_path: Path
) -> None:
    server = own_server
    errors: list[str] = []
    context = new_context(browser, "zh-CN")
    context.grant_permissions(["notifications"], origin=server.base)
    # Record desktop notifications (headless Chromium shows none).
    context.add_init_script(
        """(() => {
        const Real = window.Notification;
        window.rmeNotes = [];
        class Recording extends Real {
          constructor(title, options) {
            super(title, options);
            window.rmeNotes.push([title, options && options.body]);
          }
        }
        Object.defineProperty(Recording, 'permission', { get: () => Real.permission });
        window.Notification = Recording;
    })()"""
    )
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, server, ENGINEER)
    agent = background.run(enroll(server))

    # A request while the tab is hidden: a notification and a tone.
    hide_tab(page)
    first_ticket = background.run(ask(agent, "第一次：网页打不开"))
    page.wait_for_function("(window.rmeAnnounced || 0) >= 1")
    notes = page.evaluate("window.rmeNotes")
    assert any(title == "新的求助" and "第一次：网页打不开" in (body or "") for title, body in notes), notes
    page.reload()  # the tab is visible again
    expect(page.locator("#queue-rows")).to_contain_text("第一次：网页打不开")

    # Alt+A accepts the oldest waiting request (ours: the queue may hold others' requests too).
    page.goto(f"{server.base}/console/#/ticket/{first_ticket}")
    page.locator("button.accept").wait_for()
    page.keyboard.press("Alt+A")
    session = background.run(take_offer(agent))
    expect(page.locator(".banner.live")).to_be_visible()
    assert f"#/session/{session}" in page.url

    # Labels: the timeout box and, while the user decides, the consent countdown.
    assert page.locator("#command-timeout").get_attribute("aria-label") == "命令超时（秒）"
    # The end form starts with no choice, and End needs one.
    expect(page.locator("#end-session")).to_be_disabled()
    expect(page.locator("#end-hint")).to_be_visible()
    assert page.locator("#end-reason").input_value() == "" and page.locator("#resolution").input_value() == ""

    # A push whose reported hash differs from the file sent is shown as a failure.
    source = tmp_path / "fix.txt"
    source.write_bytes(b"driver fix " * 10_000)
    page.set_input_files("#file-input", str(source))
    page.click("#req-push")
    action_id = background.run(ask_consent(agent, session))
    countdown = page.locator(f'#actions li[data-action="{action_id}"] .countdown')
    expect(countdown).to_contain_text("等待用户同意")
    received = background.run(allow_and_store_wrong_hash(agent, session, action_id))
    assert received == source.read_bytes()
    card = page.locator(f'#actions li[data-action="{action_id}"]')
    expect(card).to_have_attribute("data-state", "failed")
    expect(card.locator(".hash-mismatch")).to_be_visible()
    card.locator("details.hash summary").click()
    expect(card.locator("details.hash")).to_contain_text(hashlib.sha256(source.read_bytes()).hexdigest())

    # A canned reply goes into the chat box and out to the user.
    page.select_option("#canned", index=1)
    canned_text = page.locator("#chat-input").input_value()
    assert canned_text
    page.click("#chat-send")
    chat = background.run(next_of(agent, Chat))
    assert chat.body.text == canned_text

    # Alt+C and Alt+T focus the command and chat boxes.
    page.keyboard.press("Alt+C")
    assert page.evaluate("document.activeElement.id") == "command"
    page.keyboard.press("Alt+T")
    assert page.evaluate("document.activeElement.id") == "chat-input"

    # End with an explicit choice; every control that could act is off afterwards.
    page.select_option("#end-reason", "unresolved")
    page.select_option("#resolution", "other")
    expect(page.locator("#end-session")).to_be_enabled()
    page.click("#end-session")
    ended = background.run(next_of(agent, SessionEnd))
    assert ended.body.reason == "unresolved"
    expect(page.locator(".banner.ended")).to_be_visible()
    for control in ("#reason", "#command", "#command-timeout", "#chat-input", "#chat-send", "#canned",
                    "#file-input", "#pick-file", "#req-push", "#req-diagnose"):  # fmt: skip
        expect(page.locator(control)).to_be_disabled()

    # The same customer asks again: the session view lists the earlier session beside the current.
    background.run(ask(agent, "第二次：还是不行"))
    page.goto(f"{server.base}/console/#/queue")
    page.locator("#queue-rows tr[data-state=queued]", has_text="第二次：还是不行").locator(
        "button.accept"
    ).click()
    session2 = background.run(take_offer(agent))
    assert session2 != session
    expect(page.locator("#customer-history")).to_contain_text("第一次：网页打不开")

    # Search (Alt+S) finds both by the user's words, and by the customer.
    page.keyboard.press("Alt+S")
    page.fill("#search-input", "网页打不开")
    page.click("#search-go")
    expect(page.locator(f'#search-results tr[data-ticket="{first_ticket}"]')).to_be_visible()
    page.fill("#search-input", "%")  # a LIKE wildcard is matched literally
    page.click("#search-go")
    expect(page.locator("#search-none")).to_be_visible()

    # English plurals, by the console's own words.
    words = page.evaluate(
        """async () => { const m = await import('/console/js/i18n.js'); m.setLang('en');
        const r = [m.t('k_detail_session_min', {sessions: 1}), m.t('k_detail_session_min', {sessions: 2}),
                   m.t('connected', {agents: 1, engineers: 3})];
        m.setLang('zh-CN'); return r; }"""
    )
    assert words == ["1 session", "2 sessions", "Connected: 1 device, 3 engineer consoles"]

    # The favicon exists (no 404 in any browser's console).
    favicon = page.request.get(f"{server.base}/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"] == "image/x-icon"

    background.run(agent.close())
    assert errors == [], errors
    context.close()


def test_the_supervisor_sees_honest_figures(own_server: RunningServer, browser: Browser) -> None:
    """After the sessions above (each well under a minute): the session length reads in seconds, each
    figure lists the tickets behind it, canned replies are edited, and a language switch keeps the
    audit verification on screen."""
    from tests.server.helpers import SUPERVISOR

    server = own_server
    errors: list[str] = []
    context = new_context(browser, "zh-CN")
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, server, SUPERVISOR)
    page.click("#nav-supervisor")
    today = page.locator('.kpi[data-kpi="session_min"] .big[data-period="today"]')
    expect(today).to_contain_text("秒")
    assert "0.0" not in today.inner_text()
    page.locator('.behind-link[data-kpi="session_min"][data-behind="today"]').click()
    expect(
        page.locator('.kpi[data-kpi="session_min"] .behind[data-behind="today"] li').first
    ).to_contain_text("张三")

    # Canned replies: a supervisor adds one in both languages; engineers get it.
    page.fill("#canned-new-zh", "请重启一下路由器。")
    page.fill("#canned-new-en", "Please restart the router.")
    page.click("#canned-add button")
    expect(page.locator("#canned-list")).to_contain_text("Please restart the router.")

    # Verify a session's audit record, then switch language: the result stays, in the new language.
    row = page.locator("table.recent tbody tr").first
    with page.expect_download():
        row.locator(".download-audit").click()
    row.locator(".verify-audit").click()
    expect(row.locator(".verify-result")).to_contain_text("校验通过")
    page.click("#lang")
    expect(page.locator("table.recent tbody tr").first.locator(".verify-result")).to_contain_text("Verified")
    assert errors == [], errors
    context.close()
