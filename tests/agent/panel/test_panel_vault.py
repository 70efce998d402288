"""The privacy vault in the panel, in a real headless Chromium against a real agent: protect a folder
(it vanishes), a session locks it (open refused with the vault's own words, in both languages), after the
session the passphrase brings every byte back; a wrong passphrase changes nothing; and the routes are
walled like every other panel route (launch secret, CSRF header, Origin)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from agent.app import AgentRuntime
from agent.vault.lock import operation_lock
from agent.vault.metadata import Folder
from protocol.messages import SessionEnd
from tests.agent.session.harness import running_agent, start_session
from tests.agent.vault.helpers import FAST_KDF, PASSPHRASE, snapshot

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET_NAME = "salary-2026-机密.xlsx"  # a file name the panel must never show


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


def make_private(root: Path) -> None:
    (root / "深层" / "more").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / SECRET_NAME).write_bytes(b"top secret figures\n" * 50)
    (root / "empty").write_bytes(b"")
    (root / "深层" / "日记.md").write_bytes("今天很好\n".encode() * 200)
    (root / "深层" / "more" / "blob.bin").write_bytes(hashlib.sha256(b"seed").digest() * 4000)
    (root / "link").symlink_to("深层/日记.md")


async def init_vault(runtime: AgentRuntime) -> None:
    await asyncio.to_thread(runtime.vault.init, PASSPHRASE, **FAST_KDF)


async def wait_text(page: Page, selector: str, needle: str, tries: int = 200) -> str:
    """CSP forbids eval (no wait_for_function): poll the element's text."""
    text = ""
    for _ in range(tries):
        text = await page.locator(selector).inner_text()
        if needle in text:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{needle!r} never appeared in {selector}: {text!r}")


async def open_with(page: Page, name: str, passphrase: str) -> None:
    await page.locator(f"#vault-folders tr[data-name='{name}'] button[data-action=open]").click()
    await page.locator("#vault-pass-form").wait_for(state="visible")
    await page.fill("#vault-pass", passphrase)
    await page.locator("#vault-pass-ok").click()


def store_bytes(data_dir: Path) -> dict[str, str]:
    """Every file of the vault's store (vault.json included), hashed: 'nothing changed' is byte-exact."""
    root = data_dir / "vault"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("lock", "session.json")
    }


async def test_protect_lock_during_session_and_every_byte_back(tmp_path: Path, browser: Browser) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        await init_vault(runtime)
        private = tmp_path / "home" / "Private"
        private.mkdir(parents=True)
        make_private(private)
        before = snapshot(private)
        data_dir = runtime.config.data_dir

        page = await browser.new_page()
        await page.goto(runtime.panel.login_url())
        await page.wait_for_selector("#connection.online")
        await wait_text(page, "#vault-summary", "The vault is empty")

        # Protect it through the panel: it vanishes from disk, the row shows name, state and size only.
        await page.fill("#vault-add-path", str(private))
        await page.fill("#vault-add-name", "My diary")
        await page.locator("#vault-add").click()
        row = page.locator("#vault-folders tr[data-name='My diary'][data-state=closed]")
        await row.wait_for()
        assert not private.exists() and not any(private.parent.iterdir())
        assert "closed" in await row.inner_text() and "KiB" in await row.inner_text()
        await wait_text(page, "#vault-status", "“My diary” is encrypted and hidden")
        body = await page.locator("body").inner_text()
        assert SECRET_NAME not in body and "日记" not in body and str(private) not in body
        assert await page.locator("#vault-add-path").input_value() == ""

        # A session starts: the lock shows, the folder stays closed, open is refused with the vault's words.
        await start_session(server, runtime, "s1")
        await page.locator("#vault-lock").wait_for(state="visible")
        stored = store_bytes(data_dir)
        await open_with(page, "My diary", PASSPHRASE)
        await wait_text(page, "#vault-status", "An engineer session is active: the vault cannot be opened")
        assert await page.locator("#vault-status.error").count() == 1
        assert not private.exists() and store_bytes(data_dir) == stored
        await page.locator("#vault-folders tr[data-name='My diary'][data-state=closed]").wait_for()
        # Removing (back to plaintext) is refused too, and so is adding another folder.
        await page.locator("#vault-folders tr[data-name='My diary'] button[data-action=remove]").click()
        await page.fill("#vault-pass", PASSPHRASE)
        await page.locator("#vault-pass-ok").click()
        await wait_text(page, "#vault-status", "An engineer session is active")
        other = tmp_path / "home" / "Other"
        other.mkdir()
        (other / "a.txt").write_text("a")
        await page.fill("#vault-add-path", str(other))
        await page.locator("#vault-add").click()
        await wait_text(page, "#vault-status", "cannot be changed until it ends")
        assert (other / "a.txt").read_text() == "a"
        # The same refusal in Chinese.
        await page.locator("#lang").click()
        await page.locator("html[lang='zh-CN']").wait_for(state="attached")
        await wait_text(page, "#vault-box h2", "隐私保险箱")
        await open_with(page, "My diary", PASSPHRASE)
        await wait_text(page, "#vault-status", "会话结束前保险箱不能打开")
        await page.locator("#lang").click()
        await page.locator("html[lang='en']").wait_for(state="attached")
        assert not private.exists() and store_bytes(data_dir) == stored

        # The session ends: the lock goes.
        await page.locator("#end").click()
        await server.expect(SessionEnd, session="s1")
        await page.locator("#vault-lock").wait_for(state="hidden")

        # A wrong passphrase: a clear error, nothing changed.
        await open_with(page, "My diary", "not the passphrase")
        await wait_text(page, "#vault-status", "Wrong passphrase; nothing in the vault was changed")
        assert not private.exists() and store_bytes(data_dir) == stored
        assert await page.locator("#vault-pass").input_value() == ""  # never kept on the page

        # The right one: every byte back.
        await open_with(page, "My diary", PASSPHRASE)
        await page.locator("#vault-folders tr[data-name='My diary'][data-state=open]").wait_for()
        assert snapshot(private) == before
        await wait_text(page, "#vault-status", "Opened: My diary")

        # Close again from the panel, then take it out of the vault for good.
        await page.locator("#vault-folders tr[data-name='My diary'] button[data-action=close]").click()
        await page.locator("#vault-folders tr[data-name='My diary'][data-state=closed]").wait_for()
        assert not private.exists()
        await page.locator("#vault-folders tr[data-name='My diary'] button[data-action=remove]").click()
        await page.fill("#vault-pass", PASSPHRASE)
        await page.locator("#vault-pass-ok").click()
        await wait_text(page, "#vault-status", "“My diary” is a normal folder again")
        await wait_text(page, "#vault-summary", "The vault is empty")
        assert snapshot(private) == before

        # The passphrase went nowhere: not the log, not the panel state, not the page.
        logs = "".join(p.read_text("utf-8") for p in (data_dir / "logs").glob("*.log"))
        assert "“My diary” is encrypted and hidden" in logs
        state = json.dumps(runtime.state_json(), ensure_ascii=False)
        for text in (logs, state, await page.content()):
            assert PASSPHRASE not in text and "not the passphrase" not in text
            assert SECRET_NAME not in text


async def test_vault_routes_are_refused_without_the_secret_or_csrf(tmp_path: Path, browser: Browser) -> None:
    async with running_agent(tmp_path) as (_server, runtime, _link):
        assert (await runtime.vault_status())["initialized"] is False
        none = await runtime.vault_open(PASSPHRASE, None)
        assert none["error"] == "not_initialized" and "rme-agent vault init" in none["message"]["en"]
        await init_vault(runtime)
        private = tmp_path / "home" / "Private"
        private.mkdir(parents=True)
        make_private(private)
        await runtime.vault_add(str(private), "P")
        assert not private.exists()
        stored = store_bytes(runtime.config.data_dir)
        base = f"http://127.0.0.1:{runtime.panel.port}"
        port = runtime.panel.port
        body = {"name": "P", "passphrase": PASSPHRASE}
        routes = ["/api/vault/open", "/api/vault/close", "/api/vault/add", "/api/vault/remove"]

        page = await browser.new_page()  # another web page in the same browser
        await page.goto("data:text/html,<p>evil</p>")
        kind = await page.evaluate(
            """async ([base, body]) => { try {
                 const r = await fetch(base + '/api/vault/open', {method: 'POST', mode: 'no-cors',
                   body: JSON.stringify(body)});
                 return r.type; } catch (e) { return 'blocked'; } }""",
            [base, body],
        )
        assert kind in ("opaque", "blocked")

        async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
            assert (await client.get("/api/vault")).status_code == 403
            for route in routes:
                assert (await client.post(route, json=body)).status_code == 403, route
            secret = runtime.panel.auth.secret
            rebound = await client.get(
                "/api/vault", headers={"Host": "evil.example:80", "Authorization": f"Bearer {secret}"}
            )
            assert rebound.status_code == 421
            first = await client.get(runtime.panel.login_url().split(str(port), 1)[1])
            client.cookies.set("rme_panel", first.cookies["rme_panel"])
            status = await client.get("/api/vault")  # reading needs the cookie only
            assert status.status_code == 200
            assert status.json()["folders"] == [
                {"name": "P", "state": "closed", "size": status.json()["folders"][0]["size"]}
            ]
            assert str(private) not in status.text
            csrf = (await client.get("/")).text.split('name="rme-csrf" content="', 1)[1].split('"', 1)[0]
            for route in routes:
                # The cookie alone, or with a foreign Origin: refused.
                assert (await client.post(route, json=body)).status_code == 403, route
                foreign = await client.post(
                    route, json=body, headers={"X-RME-CSRF": csrf, "Origin": "http://evil.example"}
                )
                assert foreign.status_code == 403, route
            assert not private.exists() and store_bytes(runtime.config.data_dir) == stored
            # With everything right, a malformed call is refused cleanly and the passphrase not echoed.
            ours = {"X-RME-CSRF": csrf, "Origin": f"http://127.0.0.1:{port}"}
            wrong = await client.post(
                "/api/vault/open", json={"name": "P", "passphrase": "guess-1234"}, headers=ours
            )
            assert wrong.status_code == 422 and wrong.json()["error"] == "wrong_passphrase"
            assert "guess-1234" not in wrong.text
            empty = await client.post("/api/vault/open", json={"name": "P"}, headers=ours)
            assert empty.status_code == 400
            unknown = await client.post("/api/vault/close", json={"name": "nope"}, headers=ours)
            assert unknown.status_code == 404 and "nope" in unknown.json()["message"]["en"]
            assert not private.exists() and store_bytes(runtime.config.data_dir) == stored

            # A long vault step runs in a worker thread: the panel keeps answering meanwhile, and the
            # status reports "busy" at once instead of waiting for the step.
            real_close = runtime.vault.close

            def slow_close(name: str | None = None) -> list[Folder]:
                with operation_lock(runtime.vault.layout.lock):
                    time.sleep(1.5)
                return real_close(name)

            runtime.vault.close = slow_close  # type: ignore[method-assign]
            closing = asyncio.ensure_future(client.post("/api/vault/close", json={}, headers=ours))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            during = await client.get("/api/vault")
            assert during.json()["busy"] is True and time.monotonic() - started < 0.5
            assert (await client.get("/api/state")).status_code == 200 and time.monotonic() - started < 0.5
            done = await closing
            assert done.status_code == 200 and done.json() == {"ok": True, "closed": []}
            assert (await client.get("/api/vault")).json()["busy"] is False
