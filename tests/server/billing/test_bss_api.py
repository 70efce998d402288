"""The BSS API and billing delivery through a real `rme-server serve` (SQLite here; PostgreSQL with two
nodes below): signed, idempotent, order-safe provisioning, and every billing event delivered to a real
receiver that verifies signatures and deduplicates — through failures and a server restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.server.helpers import RunningServer, audit_kinds, running_server, start_server
from tests.server.kpi.webhook_receiver import Receiver

CATALOGUE = {
    "items": [
        {"code": "network_repair", "name_zh": "网络修复", "name_en": "Network repair", "price_cents": 0},
        {"code": "pc_tuneup", "name_zh": "电脑优化", "name_en": "PC tune-up", "price_cents": 3000},
    ],
    "plans": [
        {"code": "care", "name_zh": "宽带无忧", "name_en": "Broadband care", "sessions_per_month": 2,
         "extras_allowed": True, "monthly_fee_cents": 1000, "items": ["network_repair"]},
    ],
}  # fmt: skip
FAST = {"billing_period": "0.2", "billing_retry_base": "0.2"}
WRONG = "whsec_" + "A" * 43  # a well-formed secret nobody was given


def setup_billing(server: RunningServer, tmp_path: Path, receiver: Receiver) -> str:
    """Catalogue, one BSS integration (its secret returned) and the receiver as billing endpoint."""
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps(CATALOGUE), encoding="utf-8")
    server.cli("billing", "catalogue", "load", str(catalogue))
    secret = server.cli("billing", "integration", "add", "crm").stdout.strip()
    receiver.secret = server.cli("billing", "endpoint", "add", receiver.url).stdout.strip()
    return secret


class Bss:
    """The operator's BSS: signs each request with its integration secret."""

    def __init__(self, server: RunningServer, secret: str) -> None:
        self.server = server
        self.secret = secret

    async def send(
        self, path: str, body: dict[str, Any] | bytes, *, webhook_id: str | None = None,
        when: dt.datetime | None = None, secret: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        message_id = webhook_id or f"msg_{secrets.token_hex(8)}"
        moment = when or dt.datetime.now(dt.UTC)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": Webhook(secret or self.secret).sign(
                message_id, moment, raw.decode(errors="replace")
            ),
            "content-type": "application/json",
        }
        async with self.server.http() as client:
            return await client.post(f"/api/bss/v1{path}", content=raw, headers=headers)

    def read_headers(self) -> dict[str, str]:
        """A signed read's headers (signed over an empty body)."""
        message_id, moment = f"msg_{secrets.token_hex(8)}", dt.datetime.now(dt.UTC)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(message_id, moment, ""),
        }

    async def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async with self.server.http() as client:
            return await client.get(f"/api/bss/v1{path}", headers=headers or self.read_headers())


def at(minutes: int) -> str:
    return (dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


def order(ref: str, minutes: int = 0) -> dict[str, Any]:
    return {"customer_ref": ref, "customer_name": "李四", "plan": "care", "kind": "bundled",
            "starts_on": "2026-11-01", "occurred_at": at(minutes)}  # fmt: skip


async def wait_for(predicate: Any, seconds: float = 30) -> None:
    for _ in range(int(seconds * 10)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(fail_first=3) as r:
        yield r


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'rme.db'}", **FAST) as s:
        yield s


async def test_provisioning_is_signed_idempotent_and_order_safe(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    bss = Bss(server, setup_billing(server, tmp_path, receiver))

    created = await bss.send("/orders", order("BB-1001"), webhook_id="order-1")
    assert created.status_code == 201, created.text
    customer_id = created.json()["customer_id"]
    # A repeat of the same webhook-id: the first answer, nothing changed (no second event).
    again = await bss.send("/orders", order("BB-1001"), webhook_id="order-1")
    assert (again.status_code, again.json()) == (201, created.json())

    # Out of order: the resume (minute 20) arrives before the suspend (minute 10) it follows.
    early = await bss.send("/customers/BB-1001/suspend", {"occurred_at": at(20), "reason": "arrears"})
    assert early.json()["status"] == "suspended"
    resumed = await bss.send("/customers/BB-1001/resume", {"occurred_at": at(30)})
    assert resumed.json()["status"] == "active"
    late = await bss.send("/customers/BB-1001/suspend", {"occurred_at": at(25)})
    assert late.status_code == 200 and late.json() == {
        "applied": False,
        "reason": "stale",
        "customer_id": customer_id,
        "status": "active",
    }
    changed = await bss.send("/customers/BB-1001/plan", {"plan": "care", "occurred_at": at(40)})
    assert changed.json()["applied"] is True

    # Clear refusals, each with a code, nothing changed.
    cases: list[tuple[httpx.Response, int, str]] = [
        (await bss.send("/customers/NOPE/suspend", {"occurred_at": at(50)}), 404, "customer.unknown"),
        (await bss.send("/orders", {**order("BB-2"), "plan": "gold"}), 422, "plan.unknown"),
        (await bss.send("/orders", {"customer_ref": "BB-3"}), 422, "body.invalid"),
        (await bss.send("/orders", b"{not json"), 422, "body.invalid"),
        (await bss.send("/orders", b'{"occurred_at": NaN}'), 422, "body.invalid"),
        (await bss.send("/customers/BB-1001/resume", {"occurred_at": at(60)}), 409, "subscription.active"),
        (await bss.send("/orders", order("BB-4"), secret=WRONG), 401, "signature.invalid"),
        (await bss.send("/orders", order("BB-5"), when=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)),
         401, "timestamp.stale"),
        (await bss.send("/orders", b"x" * (65 * 1024)), 413, "body.too_large"),
    ]  # fmt: skip
    for reply, status, code in cases:
        assert (reply.status_code, reply.json()["code"]) == (status, code), reply.text
    async with server.http() as client:
        unsigned = await client.post("/api/bss/v1/orders", json=order("BB-6"))
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "signature.missing")

    # Rotation: both secrets work until the next rotation.
    new_secret = server.cli("billing", "integration", "rotate", "crm").stdout.strip()
    assert (await bss.send("/orders", order("BB-7"))).status_code == 201  # the old secret
    assert (await bss.send("/orders", order("BB-8"), secret=new_secret)).status_code == 201
    server.cli("billing", "integration", "rotate", "crm")
    assert (await bss.send("/orders", order("BB-9"))).status_code == 401  # two rotations ago

    # Every applied change reached billing exactly once in effect, despite three failed attempts.
    await wait_for(lambda: len(receiver.events) == 6)
    events = list(receiver.events.values())
    # (At least once, not in order: a retried event may arrive after a later one.)
    assert sorted(e["data"]["change"] for e in events) == sorted(
        ["order", "suspend", "resume", "change_plan", "order", "order"]
    )
    assert receiver.rejected == 0 and receiver.attempts >= 9

    # The CRM reads the customer's record; reconciliation matches what billing received.
    async with server.http() as client:
        moment = dt.datetime.now(dt.UTC)
        headers = {"webhook-id": "read-1", "webhook-timestamp": str(int(moment.timestamp())),
                   "webhook-signature": Webhook(new_secret).sign("read-1", moment, "")}  # fmt: skip
        record = await client.get("/api/bss/v1/customers/BB-1001/sessions", headers=headers)
    assert record.status_code == 200 and record.json() == {"customer_id": customer_id, "sessions": []}
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    server.cli("billing", "export", "--month", month, "--out", str(tmp_path / "export"))
    exported = json.loads((tmp_path / "export" / f"rme-billing-{month}.json").read_text())
    assert exported["totals"]["events"] == len(receiver.events) == 6
    assert sorted(e["event_key"] for e in exported["events"]) == sorted(
        e["data"]["event_key"] for e in receiver.events.values()
    )


async def test_events_survive_a_server_restart_while_billing_is_down(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'rme.db'}"
    receiver = Receiver()
    receiver.server.server_close()  # billing is down: nothing listens on its port yet
    port = receiver.server.server_address[1]
    with running_server(tmp_path / "data", db, **FAST) as first:
        bss = Bss(first, setup_billing(first, tmp_path, receiver))
        for i in range(5):
            assert (await bss.send("/orders", order(f"R-{i}"))).status_code == 201
        await asyncio.sleep(1)  # a few failed attempts
    # The receiver comes back on the same port; the server restarts and delivers what it owed.
    back = Receiver(secret=receiver.secret, port=port)
    with back:
        second = start_server(tmp_path / "data", db, **FAST)
        try:
            await wait_for(lambda: len(back.events) == 5, 60)
        finally:
            second.stop()
    assert sorted(e["data"]["customer_ref"] for e in back.events.values()) == [f"R-{i}" for i in range(5)]


def _docs_block(marker: str) -> str:
    """The Python block of docs/billing.md that contains `marker`, as written there."""
    text = (Path(__file__).parents[3] / "docs" / "billing.md").read_text(encoding="utf-8")
    for block in text.split("```python\n")[1:]:
        code = block.split("```", 1)[0]
        if marker in code:
            return code
    raise AssertionError(f"no python block with {marker!r} in docs/billing.md")


def test_the_docs_client_works_as_written(server: RunningServer, receiver: Receiver, tmp_path: Path) -> None:
    """A BSS developer copies the docs' client: only the secret and the server's address change."""
    secret = setup_billing(server, tmp_path, receiver)
    client = _docs_block("def call(path: str, body: dict)")
    reader = _docs_block("def call_get(path: str)")
    answers: list[httpx.Response] = []

    def post(url: str, **kwargs: Any) -> httpx.Response:
        reply = httpx.post(url, verify=server.ssl_context(), **kwargs)
        answers.append(reply)
        return reply

    def get(url: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(url, verify=server.ssl_context(), **kwargs)

    # The server's own CA (a test certificate) is the only thing the docs' client is not told.
    tls = type(
        "httpx", (), {"post": staticmethod(post), "get": staticmethod(get), "Response": httpx.Response}
    )
    namespace: dict[str, Any] = {"httpx": tls}
    source = (client + reader).replace('"whsec_…"', repr(secret)).replace("https://rme.example", server.base)
    source = source.replace(
        "import datetime as dt, json, secrets, httpx", "import datetime as dt, json, secrets"
    )
    exec(compile(source, "docs/billing.md", "exec"), namespace)  # the docs' own code, as written
    assert [r.status_code for r in answers] == [201, 200, 200, 200, 200, 200], [r.text for r in answers]
    assert [r.json().get("applied") for r in answers] == [True] * 6
    assert answers[-1].json()["status"] == "cancelled"
    record = namespace["call_get"]("/customers/BB-1001/sessions")
    assert record.status_code == 200 and record.json()["sessions"] == [], record.text


async def test_rotating_a_disabled_integration_does_not_revive_its_old_secret(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    """An admin disables an integration whose secret leaked, then rotates to give the BSS a new one:
    the leaked secret must stay refused (a rotation of a live one keeps the previous valid)."""
    leaked = setup_billing(server, tmp_path, receiver)
    server.cli("billing", "integration", "disable", "crm")
    assert (await Bss(server, leaked).send("/orders", order("BB-L1"))).status_code == 401
    fresh = server.cli("billing", "integration", "rotate", "crm").stdout.strip()
    refused = await Bss(server, leaked).send("/orders", order("BB-L2"))
    assert (refused.status_code, refused.json()["code"]) == (401, "signature.invalid")
    assert (await Bss(server, fresh).send("/orders", order("BB-L3"))).status_code == 201


async def test_garbage_in_the_signature_or_body_is_a_401_not_a_500(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    setup_billing(server, tmp_path, receiver)
    stamp = str(int(dt.datetime.now(dt.UTC).timestamp()))
    cases = [("no-comma", b"{}"), ("v1,***", b"{}"), ("v1,a,b", b"{}"), ("v1,AAAA", b'{"x": "\xff"}')]
    async with server.http() as client:
        for signature, body in cases:
            headers = {"webhook-id": "g-1", "webhook-timestamp": stamp, "webhook-signature": signature}
            reply = await client.post("/api/bss/v1/orders", content=body, headers=headers)
            assert (reply.status_code, reply.json()["code"]) == (401, "signature.invalid"), reply.text


async def test_a_signed_read_is_good_once_and_a_bad_reference_is_a_404(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    """A read's signature covers an empty body, not the path: headers seen once (a proxy's log) must not
    read another customer's records — or the same one's again."""
    bss = Bss(server, setup_billing(server, tmp_path, receiver))
    for ref in ("BB-R1", "BB-R2"):
        assert (await bss.send("/orders", order(ref))).status_code == 201
    seen = bss.read_headers()
    assert (await bss.get("/customers/BB-R1/sessions", seen)).status_code == 200
    for path in ("/customers/BB-R2/sessions", "/customers/BB-R1/sessions"):
        replayed = await bss.get(path, seen)
        assert (replayed.status_code, replayed.json()["code"]) == (409, "webhook_id.reused"), path
    assert (await bss.get("/customers/BB-R2/sessions")).status_code == 200  # a fresh id reads
    for ref in ("BB%00R1", "a%20b", "x" * 200):
        refused = await bss.get(f"/customers/{ref}/sessions")
        assert (refused.status_code, refused.json()["code"]) == (404, "customer.unknown"), ref


async def test_refused_signatures_cannot_grow_the_audit_log_at_will(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    """Anyone can send an unsigned request: each is refused, but only a few a minute are audited, the
    next one recorded saying how many went unrecorded before it."""
    setup_billing(server, tmp_path, receiver)
    async with server.http() as client:
        for _ in range(60):
            reply = await client.post("/api/bss/v1/orders", content=b"{}")
            assert (reply.status_code, reply.json()["code"]) == (401, "signature.missing")
    recorded = [k for k, _actor, _session in await audit_kinds(server) if k == "bss.rejected"]
    assert 10 <= len(recorded) <= 12  # the burst, and what refilled while the requests ran
