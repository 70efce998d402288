"""The admin's billing page in Chromium: create a BSS integration (its secret shown once, and it signs
a real request), rotate the secret, disable it; inspect a dead letter and replay it. Engineers and
supervisors get no such page and no such API."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from playwright.sync_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from server.billing.outbox import enqueue
from server.db.engine import open_engine
from server.db.tables import billing_endpoints, billing_outbox
from tests.console.conftest import login, new_context
from tests.server.helpers import ADMIN, ENGINEER, RunningServer


def _db(server: RunningServer, work: Callable[[AsyncEngine], Awaitable[str]]) -> str:
    async def run() -> str:
        engine = open_engine(server.env["RME_DATABASE_URL"])
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    # Playwright's sync API runs an event loop in this thread: the database work runs in another.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def dead_event(server: RunningServer) -> str:
    """A billing event that has given up (three days of failures), straight into the server's outbox."""
    server.cli("billing", "endpoint", "add", "http://127.0.0.1:9/never")

    async def work(engine: AsyncEngine) -> str:
        now = dt.datetime.now(dt.UTC)
        async with engine.begin() as conn:
            payload = {"session_id": "s_dead", "billable_cents": 3000, "currency": "CNY"}
            ids = await enqueue(
                conn, "session.completed", payload, now, key=f"session:s_dead{secrets.token_hex(2)}"
            )
            await conn.execute(
                sa.update(billing_outbox)
                .where(billing_outbox.c.id.in_(ids))
                .values(state="dead", attempts=40, last_error="HTTP 500")
            )
            await conn.execute(sa.update(billing_endpoints).values(enabled=False))  # deliver nothing now
        return str(ids[-1])

    return _db(server, work)


def state_of(server: RunningServer, event_id: str) -> str:
    async def work(engine: AsyncEngine) -> str:
        async with engine.connect() as conn:
            return str(
                await conn.scalar(sa.select(billing_outbox.c.state).where(billing_outbox.c.id == event_id))
            )

    return _db(server, work)


def signed_order(server: RunningServer, secret: str, ref: str) -> int:
    body = json.dumps({"customer_ref": ref, "customer_name": "x", "plan": "nope", "kind": "bundled",
                       "starts_on": "2026-11-01", "occurred_at": "2026-11-01T00:00:00Z"})  # fmt: skip
    msg_id, now = f"msg_{secrets.token_hex(6)}", dt.datetime.now(dt.UTC)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(secret).sign(msg_id, now, body),
               "content-type": "application/json"}  # fmt: skip
    with server.sync_http() as http:
        return http.post("/api/bss/v1/orders", content=body, headers=headers).status_code


def test_integrations_and_dead_letters_in_the_browser(
    console_server: RunningServer, browser: Browser
) -> None:
    event_id = dead_event(console_server)
    context = new_context(browser, "en")
    page = context.new_page()
    login(page, console_server, ADMIN)
    page.click("#nav-billing")
    name = f"crm{secrets.token_hex(3)}"
    page.fill("#integration-name", name)
    page.click("#integration-create")
    secret = page.locator("#secret-value").inner_text()
    assert secret.startswith("whsec_")
    # The secret works: a signed request is authenticated (then refused for its unknown plan: 422).
    assert signed_order(console_server, secret, f"R-{name}") == 422
    row = page.locator(f'tr[data-integration="{name}"]')
    expect(row).to_have_attribute("data-enabled", "true")

    row.locator("button.rotate").click()
    expect(page.locator("#secret-value")).not_to_have_text(secret)
    rotated = page.locator("#secret-value").inner_text()
    expect(row).to_contain_text("rotating")
    assert signed_order(console_server, rotated, f"R2-{name}") == 422
    assert signed_order(console_server, secret, f"R3-{name}") == 422  # the old one, during the rotation

    row.locator("button.disable").click()
    expect(row).to_have_attribute("data-enabled", "false")
    assert signed_order(console_server, rotated, f"R4-{name}") == 401

    dead = page.locator(f'tr[data-event="{event_id}"]')
    expect(dead).to_contain_text("HTTP 500")
    dead.locator("button.inspect").click()
    expect(page.locator("#dead-detail")).to_contain_text('"billable_cents": 3000')
    dead.locator("button.replay").click()
    expect(dead).to_have_count(0)
    assert state_of(console_server, event_id) == "pending"
    context.close()


def test_only_admins_have_the_billing_page(console_server: RunningServer, browser: Browser) -> None:
    context = new_context(browser, "en")
    page = context.new_page()
    login(page, console_server, ENGINEER)
    expect(page.locator("#nav-billing")).to_have_count(0)
    with console_server.sync_http() as http:
        assert http.post(
            "/api/auth/login", json={"username": ENGINEER[0], "password": ENGINEER[1]}
        ).is_success
        assert http.get("/api/admin/billing/integrations").status_code == 403
        assert http.post("/api/admin/billing/integrations", json={"name": "x"}).status_code == 403
    context.close()
