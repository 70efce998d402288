"""事前可选、事后可查 end to end, with billing on: a real `rme-server` with a catalogue and a customer the
BSS ordered, a real `rme-agent run`, the real panel in Chromium. The user lists the items with
`rme-agent help --items`, picks one in the panel and reads its price before confirming; the engineer
sees it on the ticket and asks to change it (the user consents in the panel); afterwards the panel
lists the service record in both languages and saves a receipt that `rme-server audit verify --receipt`
accepts — and refuses once it is changed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright
from standardwebhooks import Webhook

from protocol.actions import ServiceItemParams
from protocol.messages import (
    ActionResult,
    QueueUpdate,
    SessionAccept,
    SessionEnd,
    SessionEndBody,
    TicketAccept,
    TicketAcceptBody,
)
from server.audit.note import NoteSigner
from server.billing.receipt import receipt_body
from tests.e2e.harness import BIN, RealServer, engineer, real_agent, real_server
from tests.localnet import CHROMIUM, CHROMIUM_ARGS

CATALOGUE = {
    "items": [
        {"code": "network_repair", "name_zh": "网络修复", "name_en": "Network repair", "price_cents": 2000,
         "description_en": "Connection problems", "description_zh": "上网问题", "expected_minutes": 20},
        {"code": "virus_cleanup", "name_zh": "病毒清除", "name_en": "Virus clean-up", "price_cents": 5000},
        {"code": "data_rescue", "name_zh": "数据救援", "name_en": "Data rescue", "price_cents": 9900},
    ],
    "plans": [
        {"code": "care", "name_zh": "宽带无忧", "name_en": "Broadband care", "sessions_per_month": 3,
         "extras_allowed": True, "items": ["network_repair"]},
    ],
}  # fmt: skip
WORDS = "my PC is full of pop-ups"


@pytest.fixture(scope="module")
def billing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    tmp = Path(tmp_path_factory.mktemp("e2e-billing"))
    with real_server(tmp) as server:
        catalogue = tmp / "catalogue.json"
        catalogue.write_text(json.dumps(CATALOGUE), encoding="utf-8")
        server.admin("billing", "catalogue", "load", str(catalogue))
        secret = server.admin("billing", "integration", "add", "crm").strip()
        body = json.dumps({"customer_ref": "BB-77", "customer_name": "赵六", "plan": "care",
                           "kind": "bundled", "starts_on": "2026-11-01",
                           "occurred_at": "2026-11-01T08:00:00Z"})  # fmt: skip
        message_id, now = f"msg_{secrets.token_hex(8)}", dt.datetime.now(dt.UTC)
        headers = {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(secret).sign(message_id, now, body),
                   "content-type": "application/json"}  # fmt: skip
        context = ssl.create_default_context(cafile=str(server.ca))
        orders = f"{server.https}/api/bss/v1/orders"
        ordered = httpx.post(orders, content=body, headers=headers, verify=context)
        assert ordered.status_code == 201, ordered.text
        yield replace(server, customer=ordered.json()["customer_id"])


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


async def test_pick_an_item_change_it_with_consent_and_read_the_signed_record(
    tmp_path: Path, billing_server: RealServer, browser: Browser
) -> None:
    server = billing_server
    with real_agent(tmp_path, server) as agent:
        listed = await asyncio.to_thread(agent.cli, "help", "--items")
        assert "Network repair — included in your plan" in listed and "Virus clean-up — 50.00 CNY" in listed
        # `--item`: the price is shown before confirming; "no" calls nobody.
        declined = await asyncio.to_thread(
            subprocess.run,
            [str(BIN / "rme-agent"), "help", "pop-ups", "--item", "virus_cleanup",
             "--data-dir", str(agent.data), "--server", server.url],
            input="n\n", capture_output=True, text=True, env={**os.environ, **agent.env}, check=False,
        )  # fmt: skip
        assert declined.returncode == 1, declined.stderr
        assert "Virus clean-up" in declined.stdout and "50.00 CNY" in declined.stdout
        assert "Cancelled: no expert was called." in declined.stdout
        assert agent.state()["help"]["state"] == "none"

        async with engineer(server) as eng:
            page = await browser.new_page(accept_downloads=True)
            url = (await asyncio.to_thread(agent.post, "/api/launch")).json()["url"]
            await page.goto(url)
            await page.wait_for_selector("#items-box:not([hidden])")
            options = await page.locator("#items option").all_inner_texts()
            assert "Network repair — included in your plan" in options
            assert "Virus clean-up — price: 50.00 CNY" in options
            await page.select_option("#items", "virus_cleanup")
            assert "50.00 CNY" in await page.locator("#item-detail").inner_text()
            await page.fill("#help-words", WORDS)
            await page.click("#help")
            confirm = await page.locator("#help-confirm-text").inner_text()
            assert "Virus clean-up" in confirm and "50.00 CNY" in confirm  # the price before confirming
            await page.click("#help-confirm-ok")

            # The engineer sees the item on the ticket, accepts; the user lets them in.
            while True:
                update = await eng.expect(QueueUpdate)
                mine = [t for t in update.body.changed if t.words == WORDS]
                if mine:
                    assert mine[0].service_item == "virus_cleanup"
                    break
            await eng.send(TicketAccept(body=TicketAcceptBody(ticket_id=mine[0].ticket_id)))
            prompt = await asyncio.to_thread(agent.wait_prompt, "session")
            await asyncio.to_thread(agent.answer, prompt["id"], True)
            session = (await eng.expect(SessionAccept)).session or ""

            # Changing the item is a request like any other: the user reads the new item and its price.
            back = ServiceItemParams(item="network_repair")
            change = await eng.request(session, back, reason="not a virus")
            await page.wait_for_selector('#prompts .prompt[data-kind="action"]')
            shown = await page.locator('#prompts .prompt[data-kind="action"]').inner_text()
            assert "Network repair" in shown and "included in your plan" in shown
            await page.click('#prompts .prompt[data-kind="action"] button.allow')
            result = await eng.expect(ActionResult, body__action_id=change)
            assert result.body.status == "ok"
            end = SessionEndBody(reason="resolved", resolution="other")
            await eng.send(SessionEnd(session=session, body=end))

            # 事后可查: the record in the panel, in English and in Chinese, and the signed receipt.
            await page.wait_for_selector("#session-box")
            for _ in range(100):
                if "No session" in await page.locator("#session").inner_text():
                    break
                await asyncio.sleep(0.1)
            await page.click("#records-show")
            record = page.locator(f'#records li.record[data-session="{session}"]')
            await record.wait_for()
            text = await record.inner_text()
            assert "Service: Network repair (network_repair)" in text
            assert "Engineer: Wang Wei" in text and "Result: resolved" in text
            assert "Price: included in your plan (free)" in text
            step = record.locator("li.step").first
            assert await step.get_attribute("data-decision") == "allowed"
            assert "Change of service item" in await step.inner_text()
            async with page.expect_download() as download_info:
                await record.locator("a.rec-save").click()
            saved = tmp_path / "receipt.json"
            await (await download_info.value).save_as(saved)

            await page.click("#lang")
            await page.wait_for_selector("html[lang='zh-CN']")
            await page.click("#records-show")
            zh = ""
            for _ in range(100):
                zh = await page.locator("#records").inner_text()
                if "网络修复" in zh:
                    break
                await asyncio.sleep(0.1)
            assert "工程师" in zh and "套餐内包含" in zh and "您已允许" in zh

    key = server.admin("audit", "key").strip().splitlines()[-1]
    verify = [str(BIN / "rme-server"), "audit", "verify", "--receipt"]
    ok = await asyncio.to_thread(
        subprocess.run, [*verify, str(saved), "--key", key], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0 and ok.stdout.startswith("OK"), ok.stdout + ok.stderr
    changed = json.loads(saved.read_text(encoding="utf-8"))
    changed["record"]["price_cents"] = 1
    bad = tmp_path / "changed.json"
    bad.write_text(json.dumps(changed), encoding="utf-8")
    refused = await asyncio.to_thread(
        subprocess.run, [*verify, str(bad), "--key", key], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1 and "FAILED" in refused.stdout
    # Signed with the server's own key, yet not what the log says: a step's answer turned round.
    forged = json.loads(saved.read_text(encoding="utf-8"))
    step = forged["record"]["steps"][0]
    step["decision"] = "denied" if step["decision"] == "allowed" else "allowed"
    signer = NoteSigner.load_or_create(server.data, "unused")
    note = receipt_body(forged["record"], forged["audit"]["checkpoint"])
    forged["signature"] = note.decode() + "\n" + signer.sign_line(note)
    resigned = tmp_path / "resigned.json"
    resigned.write_text(json.dumps(forged), encoding="utf-8")
    caught = await asyncio.to_thread(
        subprocess.run, [*verify, str(resigned), "--key", key], capture_output=True, text=True, check=False
    )
    assert caught.returncode == 1 and "steps differ" in caught.stdout, caught.stdout

    # The offline page: it checks the receipt itself, in the browser, with nothing but the file.
    pages = ((saved, "Verified"), (bad, "FAILED"), (resigned, "steps differ from the audit log"))
    for receipt, verdict in pages:
        page_file = tmp_path / f"{receipt.stem}.html"
        await asyncio.to_thread(
            subprocess.run, [*verify, str(receipt), "--key", key, "--html", str(page_file)], check=False
        )
        offline = await browser.new_page()
        await offline.goto(page_file.as_uri())
        said = offline.locator("#verdict")
        for _ in range(100):
            if "Verifying" not in await said.inner_text():
                break
            await asyncio.sleep(0.05)
        assert verdict in await said.inner_text(), await said.inner_text()
        assert "Network repair" in await offline.locator("dl").inner_text()
        await offline.close()
