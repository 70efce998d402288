"""Entitlement through a real `rme-server serve` with billing on (a catalogue and BSS-provisioned
subscriptions): the catalogue the agent is offered, refusals at the help request and again when an
engineer starts the session, a suspension during a session letting it finish, the service item on the
ticket and changed with the user's consent, and the signed service receipt — which verifies with
`rme-server audit verify --receipt`, and fails once changed. Billing off is the relay tests' server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from protocol.actions import PushFileOutcome, PushFileParams, ServiceItemOutcome, ServiceItemParams
from protocol.codec import FileChunk, encode_chunk
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    ActionResult,
    ActionResultBody,
    Catalogue,
    CatalogueRequest,
    Chat,
    ChatBody,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
    Error,
    HelpQueued,
    HelpRefused,
    HelpRequest,
    HelpRequestBody,
    QueueUpdate,
    Records,
    RecordsRequest,
    SessionAccept,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
    TicketAccept,
    TicketAcceptBody,
)
from server.billing.receipt import verify_receipt
from tests.server.billing.test_bss_api import Bss, at
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_enroll,
    logged_in,
    login,
    open_engineer,
    running_server,
)

CATALOGUE = {
    "items": [
        {"code": "network_repair", "name_zh": "网络修复", "name_en": "Network repair", "price_cents": 2000},
        {"code": "virus_cleanup", "name_zh": "病毒清除", "name_en": "Virus clean-up", "price_cents": 5000},
        {"code": "data_rescue", "name_zh": "数据救援", "name_en": "Data rescue", "price_cents": 9900},
    ],
    "plans": [
        # One session a month, network repair only, nothing else may be bought.
        {"code": "basic", "name_zh": "基础版", "name_en": "Basic", "sessions_per_month": 1,
         "extras_allowed": False, "items": ["network_repair"]},
        {"code": "care", "name_zh": "宽带无忧", "name_en": "Broadband care", "sessions_per_month": 5,
         "extras_allowed": True, "items": ["network_repair"]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def billing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    folder = tmp_path_factory.mktemp("entitlement")
    with running_server(folder / "data", f"sqlite+aiosqlite:///{folder / 'rme.db'}") as server:
        catalogue = folder / "catalogue.json"
        catalogue.write_text(json.dumps(CATALOGUE), encoding="utf-8")
        server.cli("billing", "catalogue", "load", str(catalogue))
        secret = server.cli("billing", "integration", "add", "crm").stdout.strip()
        yield server, secret


async def customer_agent(server: RunningServer, bss: Bss, ref: str, plan: str) -> ProtocolClient:
    """A customer ordered by the BSS, with one enrolled device; returns its connected agent."""
    ordered = await bss.send(
        "/orders", {"customer_ref": ref, "customer_name": "王五", "plan": plan, "kind": "bundled",
                    "starts_on": "2026-11-01", "occurred_at": at(0)},
    )  # fmt: skip
    assert ordered.status_code == 201, ordered.text
    async with logged_in(server, *ADMIN) as admin:
        code = await admin.post(f"/api/customers/{ordered.json()['customer_id']}/enrollment-codes")
        assert code.status_code == 201, code.text
    return await agent_enroll(server, AgentIdentity(), code.json()["code"])


@pytest.fixture
async def engineer_http(billing_server: tuple[RunningServer, str]) -> AsyncIterator[httpx.AsyncClient]:
    http = await login(billing_server[0], *ENGINEER)
    yield http
    await http.aclose()


async def ask(agent: ProtocolClient, item: str | None, words: str = "help") -> HelpQueued | HelpRefused:
    await agent.send(HelpRequest(body=HelpRequestBody(words=words, lang="zh-CN", service_item=item)))
    while True:
        reply = await agent.recv()
        if isinstance(reply, HelpQueued | HelpRefused):
            return reply


async def start_session(agent: ProtocolClient, engineer: ProtocolClient, ticket: str) -> str:
    await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket)))
    offer = await agent.expect(SessionOffer)
    assert offer.session is not None
    await agent.send(SessionAccept(session=offer.session))
    await engineer.expect(SessionAccept)
    return offer.session


async def consented(
    agent: ProtocolClient, engineer: ProtocolClient, session: str, request: ActionRequest, allow: bool
) -> None:
    await engineer.send(request)
    await agent.expect(ActionRequest)
    asking = ConsentRequestBody(action_id=request.body.action_id, timeout_s=60)
    await agent.send(ConsentRequest(session=session, body=asking))
    await engineer.expect(ConsentRequest)
    reply = ConsentReplyBody(action_id=request.body.action_id, decision="allowed" if allow else "denied")
    decision = reply.decision
    await agent.send(ConsentReply(session=session, body=reply))
    assert (await engineer.expect(ConsentReply)).body.decision == decision


async def test_items_refusals_suspension_item_change_and_signed_receipt(
    billing_server: tuple[RunningServer, str], engineer_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    server, secret = billing_server
    bss = Bss(server, secret)
    agent = await customer_agent(server, bss, "BB-E1", "basic")
    engineer = await open_engineer(server, engineer_http)

    # The catalogue the user picks from: the plan's item is included (price 0), the others are not
    # purchasable on this plan — each with the reason.
    await agent.send(CatalogueRequest())
    offered = (await agent.expect(Catalogue)).body
    assert offered.billing and offered.plan is not None and offered.plan.en == "Basic"
    assert offered.sessions_left == 1
    items = {entry.code: entry for entry in offered.items}
    assert items["network_repair"].included and items["network_repair"].price_cents == 0
    assert items["network_repair"].list_price_cents == 2000
    assert not items["virus_cleanup"].allowed and items["virus_cleanup"].reason == "plan.item_not_included"

    # Refusals at the help request, in both languages.
    refused = await ask(agent, "virus_cleanup")
    assert isinstance(refused, HelpRefused) and refused.body.reason == "plan.item_not_included"
    assert "套餐" in refused.body.message.zh_CN and "plan" in refused.body.message.en
    unknown = await ask(agent, "gold_plating")
    assert isinstance(unknown, HelpRefused) and unknown.body.reason == "item.unknown"

    # Allowed: the engineer sees the item on the ticket (queue update, ticket API, console API).
    queued = await ask(agent, "network_repair", "上不了网")
    assert isinstance(queued, HelpQueued)
    ticket_id = queued.body.ticket_id
    update = await engineer.expect(QueueUpdate)
    assert [t.service_item for t in update.body.changed if t.ticket_id == ticket_id] == ["network_repair"]
    assert (await engineer_http.get(f"/api/tickets/{ticket_id}")).json()["service_item"] == "network_repair"
    detail = (await engineer_http.get(f"/api/console/tickets/{ticket_id}")).json()
    assert detail["service_item"]["name_zh"] == "网络修复" and detail["service_item"]["price_cents"] == 2000

    session = await start_session(agent, engineer, ticket_id)

    # Suspended by the BSS during the session: the session goes on to its end.
    suspended = await bss.send("/customers/BB-E1/suspend", {"occurred_at": at(10), "reason": "arrears"})
    assert suspended.json()["status"] == "suspended"
    await engineer.send(Chat(session=session, body=ChatBody(text="还在吗")))
    assert (await agent.expect(Chat)).body.text == "还在吗"

    # A denied request and a pushed file, for the record.
    denied = ActionRequest(
        session=session,
        body=ActionRequestBody(
            action_id="a-deny", action=PushFileParams(name="x.exe", size=1, sha256="0" * 64)
        ),
    )
    await consented(agent, engineer, session, denied, allow=False)
    payload = b"driver bytes"

    digest = hashlib.sha256(payload).hexdigest()
    push = ActionRequest(
        session=session,
        body=ActionRequestBody(
            action_id="a-push", action=PushFileParams(name="driver.zip", size=len(payload), sha256=digest)
        ),
    )
    await consented(agent, engineer, session, push, allow=True)
    await engineer.send_raw(encode_chunk(FileChunk("a-push", 0, payload, last=True)))
    assert isinstance(await agent.recv(), FileChunk)
    outcome = PushFileOutcome(saved_as="driver.zip", size=len(payload), sha256=digest)
    await agent.send(
        ActionResult(session=session, body=ActionResultBody(action_id="a-push", status="ok", outcome=outcome))
    )
    await engineer.expect(ActionResult)

    # The engineer asks to change the item; the user consents; the ticket follows.
    change = ActionRequest(
        session=session,
        body=ActionRequestBody(
            action_id="a-item", action=ServiceItemParams(item="virus_cleanup"), reason="病毒"
        ),
    )
    await consented(agent, engineer, session, change, allow=True)
    await agent.send(
        ActionResult(
            session=session,
            body=ActionResultBody(
                action_id="a-item", status="ok", outcome=ServiceItemOutcome(item="virus_cleanup")
            ),
        )
    )
    await engineer.expect(ActionResult)
    changed = await engineer.expect(QueueUpdate)
    assert [t.service_item for t in changed.body.changed if t.ticket_id == ticket_id] == ["virus_cleanup"]

    await engineer.send(
        SessionEnd(session=session, body=SessionEndBody(reason="resolved", resolution="other"))
    )
    await agent.expect(SessionEnd)

    # The service record: signed by the server; verifies offline and with the CLI; a change fails.
    await agent.send(RecordsRequest())
    receipts = (await agent.expect(Records, wait=20)).body.receipts
    assert len(receipts) == 1
    receipt = json.loads(receipts[0])
    record = receipt["record"]
    assert record["session_id"] == session and record["service_item"]["code"] == "virus_cleanup"
    assert record["engineer"]["name"] == ENGINEER[0] and record["outcome"] == "resolved"
    assert record["price_cents"] == 5000  # not in the plan: its price
    steps = {s["action_id"]: s for s in record["steps"]}
    assert steps["a-deny"]["decision"] == "denied" and steps["a-deny"]["status"] is None
    assert steps["a-push"]["file"] == {
        "name": "driver.zip",
        "size": len(payload),
        "sha256": digest,
        "matches": True,
    }
    assert steps["a-item"]["decision"] == "allowed" and steps["a-item"]["status"] == "ok"
    key = server.cli("audit", "key").stdout.strip().splitlines()[-1]
    assert verify_receipt(receipts[0], key).ok

    good = tmp_path / "receipt.json"
    good.write_text(receipts[0], encoding="utf-8")
    verified = server.cli("audit", "verify", "--receipt", str(good), "--key", key, check=False, offline=True)
    assert verified.returncode == 0 and verified.stdout.startswith("OK"), verified.stdout + verified.stderr
    for field, value in (("price_cents", 0), ("engineer", {"id": "e_x", "name": "Mallory"})):
        tampered = json.loads(receipts[0])
        tampered["record"][field] = value
        bad = tmp_path / f"bad-{field}.json"
        bad.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
        failed = server.cli("audit", "verify", "--receipt", str(bad), "--key", key, check=False, offline=True)
        assert failed.returncode == 1 and "FAILED" in failed.stdout
    # A step dropped and the record re-signed by someone else's key: refused against the real key.
    forged = json.loads(receipts[0])
    forged["record"]["steps"] = forged["record"]["steps"][1:]
    assert not verify_receipt(json.dumps(forged), key).ok

    # The CRM reads the same record (signed request like the other BSS endpoints).
    crm = await bss.get("/customers/BB-E1/sessions")
    assert crm.status_code == 200, crm.text
    listed = {s["session_id"]: s for s in crm.json()["sessions"]}
    assert listed[session]["receipt"]["record"] == record

    # Resumed, but the month's single session is used: refused, and the agent says why.
    await bss.send("/customers/BB-E1/resume", {"occurred_at": at(20)})
    used = await ask(agent, "network_repair")
    assert isinstance(used, HelpRefused) and used.body.reason == "plan.allowance_used"
    await agent.close()
    await engineer.close()


async def test_entitlement_is_checked_again_when_the_engineer_starts(
    billing_server: tuple[RunningServer, str], engineer_http: httpx.AsyncClient
) -> None:
    server, secret = billing_server
    bss = Bss(server, secret)
    agent = await customer_agent(server, bss, "BB-E2", "care")
    engineer = await open_engineer(server, engineer_http)
    queued = await ask(agent, "data_rescue")  # not in the plan, but extras may be bought
    assert isinstance(queued, HelpQueued)
    await agent.send(CatalogueRequest())
    entries = {e.code: e for e in (await agent.expect(Catalogue)).body.items}
    assert entries["data_rescue"].allowed and entries["data_rescue"].price_cents == 9900

    # Suspended while waiting: when the engineer accepts, the session does not start.
    await bss.send("/customers/BB-E2/suspend", {"occurred_at": at(10)})
    await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=queued.body.ticket_id)))
    refused = await agent.expect(HelpRefused)
    assert refused.body.reason == "subscription.suspended" and "暂停" in refused.body.message.zh_CN
    while True:
        told = await engineer.recv()
        if isinstance(told, Error):
            assert told.body.code == "ticket.not_entitled"
            break
    ticket = (await engineer_http.get(f"/api/console/tickets/{queued.body.ticket_id}")).json()
    assert (ticket["state"], ticket["outcome"]) == ("ended", "not_entitled")
    await agent.close()
    await engineer.close()
