"""Billing: the outbox's delivery rate, and what billing costs the help path.

1. Delivery (target ≥ 1,000 events/s on one node): RME_BENCH_BILLING_EVENTS events (default 5,000) are
   enqueued in a fresh database (SQLite; PostgreSQL at 127.0.0.1:5432 too when it answers), then one
   node's delivery loop (`server.billing.delivery.Deliverer`, the code `rme-server serve` runs) claims,
   signs and POSTs them to a real receiver process that verifies every signature with the
   `standardwebhooks` library (`tests/server/billing/receiver_process.py`) until all are delivered.
   Anchor in the same run: the same receiver fed the same number of pre-signed POSTs by the same HTTP
   client (`server.billing.poster`) with the same concurrency: what HTTP and the receiver alone cost,
   so the ratio is the outbox's own cost (claim, sign, mark delivered).
2. Help latency with billing on vs off (target: on ≤ 1.1 × off): two real `rme-server serve` processes
   side by side, one with no catalogue (billing off) and one with a catalogue and BSS-provisioned
   customers (every help request checks the subscription, the plan and the month's allowance). Rounds
   alternate between them; each measures `help.request` sent → the engineer's `queue.update` naming
   the new ticket received (RME_BENCH_BILLING_ROUNDS rounds each, default 300).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from standardwebhooks import Webhook

from protocol.messages import HelpQueued, HelpRequest, HelpRequestBody, QueueUpdate
from server.billing.admin import add_endpoint
from server.billing.delivery import CONCURRENCY, Deliverer
from server.billing.outbox import enqueue
from server.billing.poster import Poster
from server.billing.signatures import sign_headers
from server.db.migrate import upgrade
from server.db.tables import billing_outbox
from tests.server.billing.receiver_process import receiver_process
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_enroll,
    logged_in,
    login,
    new_customer_code,
    open_engineer,
    running_server,
)

EVENTS = int(os.environ.get("RME_BENCH_BILLING_EVENTS", "5000"))
ROUNDS = int(os.environ.get("RME_BENCH_BILLING_ROUNDS", "300"))
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
CATALOGUE = {
    "items": [{"code": "network_repair", "name_zh": "网络修复", "name_en": "Network repair",
               "price_cents": 0}],
    "plans": [{"code": "care", "name_zh": "宽带无忧", "name_en": "Broadband care", "sessions_per_month": 1000,
               "extras_allowed": True, "items": ["network_repair"]}],
}  # fmt: skip


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- 1. delivery rate ------------------------------------------------------------------------------


async def _pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).select_from(billing_outbox).where(billing_outbox.c.state == "pending")
        )
    return int(count or 0)


async def _delivery(url: str, secret_file: Path, database_url: str) -> float:
    engine = create_async_engine(database_url)
    try:
        await upgrade(engine)
        secret = await add_endpoint(engine, url)
        await asyncio.to_thread(secret_file.write_text, secret, encoding="utf-8")
        now = dt.datetime.now(dt.UTC)
        async with engine.begin() as conn:
            for n in range(EVENTS):
                payload = {"session_id": f"s{n}", "billable_cents": n, "currency": "CNY"}
                await enqueue(conn, "session.completed", payload, now, key=f"session:s{n}")
        node = Deliverer(engine, period=0.05, node="bench")
        start = time.perf_counter()
        while await node.run_once():
            pass
        elapsed = time.perf_counter() - start
        await node.stop()
        left = await _pending(engine)
        if left or node.sent != EVENTS:
            raise RuntimeError(f"delivered {node.sent} of {EVENTS}; {left} still pending")
        return EVENTS / elapsed
    finally:
        await engine.dispose()


async def _anchor(url: str, secret: str) -> float:
    """The same POSTs without the outbox: pre-signed, sent by the same HTTP client, same concurrency."""
    gate = asyncio.Semaphore(CONCURRENCY)
    now = dt.datetime.now(dt.UTC)
    bodies = [
        json.dumps({"type": "session.completed", "timestamp": now.isoformat(), "data": {"n": n}})
        for n in range(EVENTS)
    ]
    headers = [sign_headers(secret, f"anchor_{n}", now, bodies[n]) for n in range(EVENTS)]
    poster = Poster(url, CONCURRENCY)

    async def one(n: int) -> None:
        async with gate:
            status = await poster.post(bodies[n].encode(), headers[n])
            if status != 204:
                raise RuntimeError(f"the receiver answered {status}")

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(EVENTS)))
    rate = EVENTS / (time.perf_counter() - start)
    await poster.close()
    return rate


async def _postgres_database() -> str | None:
    name = f"rme_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(
        f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT", connect_args={"timeout": 3}
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception:
        return None
    finally:
        await admin.dispose()
    return name


async def _drop_postgres(name: str) -> None:
    admin = create_async_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def delivery(folder: Path) -> None:
    print(f"outbox delivery, {EVENTS} events, one node's delivery loop -> a receiver process (verifies each)")
    with receiver_process(folder) as (url, secret_file, _log):
        rates = {
            "SQLite": asyncio.run(_delivery(url, secret_file, f"sqlite+aiosqlite:///{folder / 'bench.db'}"))
        }
        name = asyncio.run(_postgres_database())
        if name is not None:
            try:
                rates["PostgreSQL"] = asyncio.run(_delivery(url, secret_file, f"{POSTGRES}/{name}"))
            finally:
                asyncio.run(_drop_postgres(name))
        anchor = asyncio.run(_anchor(url, secret_file.read_text(encoding="utf-8").strip()))
    for label, rate in rates.items():
        verdict = "meets" if rate >= 1000 else "MISSES"
        print(
            f"  {label:10s} {rate:8.0f} events/s   ({rate / anchor:.2f} x the anchor)"
            f"   target >= 1,000: {verdict}"
        )
    print(f"  anchor: pre-signed POSTs, same client and receiver, {CONCURRENCY} at once: {anchor:8.0f} /s")


# ---- 2. help latency, billing on vs off --------------------------------------------------------------


async def _bss_devices(server: RunningServer, secret: str, count: int) -> list[ProtocolClient]:
    agents = []
    async with server.http() as client, logged_in(server, *ADMIN) as admin:
        for n in range(count):
            body = json.dumps({"customer_ref": f"B-{n}", "customer_name": "bench", "plan": "care",
                               "kind": "bundled", "starts_on": "2026-11-01",
                               "occurred_at": "2026-11-01T00:00:00Z"})  # fmt: skip
            msg_id, now = f"msg_{secrets.token_hex(6)}", dt.datetime.now(dt.UTC)
            headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                       "webhook-signature": Webhook(secret).sign(msg_id, now, body),
                       "content-type": "application/json"}  # fmt: skip
            ordered = await client.post("/api/bss/v1/orders", content=body, headers=headers)
            ordered.raise_for_status()
            code = await admin.post(f"/api/customers/{ordered.json()['customer_id']}/enrollment-codes")
            agents.append(await agent_enroll(server, AgentIdentity(), code.json()["code"]))
    return agents


async def _plain_devices(server: RunningServer, count: int) -> list[ProtocolClient]:
    agents = []
    async with logged_in(server, *ADMIN) as admin:
        for _ in range(count):
            _customer, code = await new_customer_code(admin)
            agents.append(await agent_enroll(server, AgentIdentity(), code))
    return agents


async def _one(agent: ProtocolClient, engineer: ProtocolClient, item: str | None) -> float:
    sent = time.perf_counter()
    await agent.send(HelpRequest(body=HelpRequestBody(words="bench", lang="en", service_item=item)))
    ticket = (await agent.expect(HelpQueued)).body.ticket_id
    while True:
        update = await engineer.expect(QueueUpdate)
        if any(t.ticket_id == ticket for t in update.body.changed):
            return (time.perf_counter() - sent) * 1000


async def _latency(off: RunningServer, on: RunningServer, secret: str) -> dict[str, list[float]]:
    agents_off = await _plain_devices(off, ROUNDS)
    agents_on = await _bss_devices(on, secret, ROUNDS)
    http_off, http_on = await login(off, *ENGINEER), await login(on, *ENGINEER)
    eng_off, eng_on = await open_engineer(off, http_off), await open_engineer(on, http_on)
    found: dict[str, list[float]] = {"off": [], "on": []}
    for n in range(ROUNDS):  # alternate, so both see the same noise
        found["off"].append(await _one(agents_off[n], eng_off, None))
        found["on"].append(await _one(agents_on[n], eng_on, "network_repair"))
    for agent in agents_off + agents_on:
        await agent.close()
    for closing in (eng_off, eng_on):
        await closing.close()
    await http_off.aclose()
    await http_on.aclose()
    return found


def latency(folder: Path) -> None:
    with (
        running_server(folder / "off", f"sqlite+aiosqlite:///{folder / 'off.db'}") as off,
        running_server(folder / "on", f"sqlite+aiosqlite:///{folder / 'on.db'}") as on,
    ):
        catalogue = folder / "catalogue.json"
        catalogue.write_text(json.dumps(CATALOGUE), encoding="utf-8")
        on.cli("billing", "catalogue", "load", str(catalogue))
        secret = on.cli("billing", "integration", "add", "bench").stdout.strip()
        found = asyncio.run(_latency(off, on, secret))
    print(f"help request -> engineer's queue.update, {ROUNDS} rounds each, alternating, SQLite servers")
    for name, label in (("off", "billing off (no catalogue)"), ("on", "billing on (plan, item, allowance)")):
        values = found[name]
        print(f"  {label:36s} p50 {statistics.median(values):6.1f} ms   p99 {pct(values, 0.99):6.1f} ms")
    ratio = pct(found["on"], 0.99) / pct(found["off"], 0.99)
    print(f"  p99 on / off = {ratio:.2f}   target <= 1.10: {'meets' if ratio <= 1.1 else 'MISSES'}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        delivery(folder)
        latency(folder)


if __name__ == "__main__":
    main()
