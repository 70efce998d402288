"""A finished session's signed receipt on a real database (SQLite and PostgreSQL) with a real audit
log: what it says stays what was billed, and a tampered one is refused, never crashes the check."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playwright.async_api import async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts.engineers import create_engineer
from server.accounts.roles import Role
from server.audit.log import AuditLog
from server.audit.note import NoteSigner
from server.billing.admin import add_endpoint
from server.billing.catalogue import load_catalogue
from server.billing.provisioning import ChangePlan, Order, apply_request
from server.billing.receipt import verify_receipt
from server.billing.receipt_page import render_receipt_page
from server.billing.service_record import make_receipt
from server.db.tables import billing_outbox, customers
from tests.localnet import CHROMIUM, CHROMIUM_ARGS
from tests.server.billing.test_completion import CATALOGUE, run_session
from tests.server.kpi.test_store import db, make_device

__all__ = ["db"]


async def finished_session(db: AsyncEngine, tmp_path: Path) -> tuple[AuditLog, str]:
    """A customer on "care" (network repair included) and one finished network-repair session."""
    await load_catalogue(db, CATALOGUE)
    await add_endpoint(db, "http://127.0.0.1:9/billing")
    engineer = await create_engineer(db, "rec-eng", "a long password 1", Role.ENGINEER)
    device = await make_device(db, "Recorded")
    async with db.begin() as conn:
        await conn.execute(
            sa.update(customers).where(customers.c.id == device.customer_id).values(external_ref="BB-9")
        )
    now = dt.datetime.now(dt.UTC)
    order = Order(customer_ref="BB-9", customer_name="王五", plan="care", kind="standalone",
                  starts_on=now.date(), occurred_at=now - dt.timedelta(minutes=1))  # fmt: skip
    answer = await apply_request(
        db, webhook_id="o-9", integration_id="bi_x", action="order", ref=None, body=order, now=now
    )
    assert answer.status_code == 201
    session_id = await run_session(db, device, engineer.id, "network_repair")
    audit = AuditLog(db, NoteSigner.load_or_create(tmp_path, "rme.test/audit"))
    await audit.append("help.request", "device:x", session_id, {"service_item": "network_repair"})
    await audit.append("ticket.accept", f"engineer:{engineer.id}", session_id, {"engineer": engineer.id})
    await audit.append(
        "session.end", "engineer", session_id, {"reason": "resolved", "resolution": "dns.fixed"}
    )
    return audit, session_id


async def test_a_receipt_keeps_the_price_that_was_billed(db: AsyncEngine, tmp_path: Path) -> None:
    audit, session_id = await finished_session(db, tmp_path)
    async with db.connect() as conn:
        billed = await conn.scalar(
            sa.select(billing_outbox.c.payload).where(billing_outbox.c.event_type == "session.completed")
        )
    assert billed is not None and billed["billable_cents"] == 0  # included in the plan
    before = await make_receipt(db, audit, session_id)
    assert before is not None and before["record"]["price_cents"] == 0
    assert verify_receipt(json.dumps(before), audit.verifier_key).ok
    # Later the BSS moves the customer to a plan without the item: the session's bill does not change,
    # and neither may its record (the user and the CRM settle complaints on it).
    catalogue = CATALOGUE.model_copy(deep=True)
    catalogue.plans.append(catalogue.plans[0].model_copy(update={"code": "basic", "items": []}))
    await load_catalogue(db, catalogue)
    later = dt.datetime.now(dt.UTC)
    changed = await apply_request(
        db, webhook_id="p-9", integration_id="bi_x", action="change_plan", ref="BB-9",
        body=ChangePlan(plan="basic", occurred_at=later), now=later,
    )  # fmt: skip
    assert changed.body["applied"] is True
    after = await make_receipt(db, audit, session_id)
    assert after is not None
    assert (after["record"]["price_cents"], after["record"]["currency"]) == (0, billed["currency"])


async def test_a_tampered_receipt_is_refused_not_crashed_on(db: AsyncEngine, tmp_path: Path) -> None:
    audit, session_id = await finished_session(db, tmp_path)
    receipt = await make_receipt(db, audit, session_id)
    assert receipt is not None
    tampered: list[dict[str, Any]] = []
    for field, value in [("engineer", "someone else"), ("service_item", ["x"]), ("steps", 7)]:
        copy = json.loads(json.dumps(receipt))
        copy["record"][field] = value
        tampered.append(copy)
    for copy in tampered:
        report = verify_receipt(json.dumps(copy), audit.verifier_key)
        assert not report.ok and report.problems, report
        assert "FAILED" in report.summary()


async def test_the_offline_page_embeds_any_text_safely(db: AsyncEngine, tmp_path: Path) -> None:
    """Text from the session (an engineer's command, a file name) inside the page's JSON must not
    change how a browser parses the page: "<!--<script>" there would make the HTML parser swallow the
    checking script that follows (HTML's script-data escape states), so the page never says a word."""
    audit, session_id = await finished_session(db, tmp_path)
    receipt = await make_receipt(db, audit, session_id)
    assert receipt is not None
    receipt["record"]["resolution"] = "ping <!--<script> x"
    page = render_receipt_page(json.dumps(receipt), audit.verifier_key)
    opening = '<script type="application/json" id="receipt">'
    embedded = page.split(opening, 1)[1].split("</script>", 1)[0]
    assert "<" not in embedded  # nothing a tokenizer could take for markup
    assert json.loads(embedded) == receipt
    assert page.count("<script") == 2 and page.rstrip().endswith("</script></body></html>")
    # And in a real browser the checking script runs: the page gives its verdict (FAILED: the
    # resolution was changed after signing) instead of "Verifying…" for ever.
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = await browser.new_page()
            html_file = tmp_path / "receipt.html"
            html_file.write_text(page, encoding="utf-8")
            await tab.goto(html_file.as_uri())
            verdict = tab.locator("#verdict")
            await verdict.filter(has_text="FAILED").wait_for(timeout=10_000)
        finally:
            await browser.close()
