"""`/ws/engineer` and the session rules the relay enforces between engineer and agent."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from protocol.actions import CommandOutcome, CommandParams
from protocol.codec import FileChunk, encode_chunk
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    ActionResult,
    ActionResultBody,
    Chat,
    ChatBody,
    ConsentReply,
    ConsentReplyBody,
    Error,
    HelpQueued,
    HelpRequest,
    HelpRequestBody,
    QueueUpdate,
    SessionAccept,
    SessionEnd,
    SessionOffer,
    TicketAccept,
    TicketAcceptBody,
)
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    SUPERVISOR,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_enroll,
    closed_with,
    logged_in,
    login,
    new_customer_code,
    open_engineer,
)


async def agent_asking(server: RunningServer) -> tuple[ProtocolClient, str]:
    async with logged_in(server, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
    agent = await agent_enroll(server, AgentIdentity(), code)
    await agent.send(HelpRequest(body=HelpRequestBody(words="no internet", lang="en")))
    queued = await agent.expect(HelpQueued)
    return agent, queued.body.ticket_id


async def take(
    engineer: ProtocolClient, agent: ProtocolClient, ticket_id: str, user_accepts: bool = True
) -> str:
    await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket_id)))
    offer = await agent.expect(SessionOffer)
    assert offer.session is not None
    if user_accepts:
        await agent.send(SessionAccept(session=offer.session))
        await engineer.expect(SessionAccept)
    return offer.session


async def test_engineer_socket_needs_login_and_our_origin(rme_server: RunningServer) -> None:
    url = f"wss://127.0.0.1:{rme_server.port}/ws/engineer"
    with pytest.raises(InvalidStatus):
        await connect(url, ssl=rme_server.ssl_context(), origin=rme_server.origin)  # type: ignore[arg-type]
    http = await login(rme_server, *ENGINEER)
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    with pytest.raises(InvalidStatus):  # cross-site WebSocket hijacking
        await connect(
            url, ssl=rme_server.ssl_context(), origin="https://evil.example",  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
        )  # fmt: skip
    engineer = await open_engineer(rme_server, http)  # the right origin and cookie work
    await engineer.close()
    await http.aclose()


async def test_only_one_engineer_gets_a_ticket(rme_server: RunningServer) -> None:
    agent, ticket_id = await agent_asking(rme_server)
    one_http, two_http = await login(rme_server, *ENGINEER), await login(rme_server, *SUPERVISOR)
    one, two = await open_engineer(rme_server, one_http), await open_engineer(rme_server, two_http)
    await one.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket_id)))
    await agent.expect(SessionOffer)
    await two.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket_id)))
    assert (await two.expect(Error)).body.code == "ticket.unavailable"
    for c in (agent, one, two):
        await c.close()
    for h in (one_http, two_http):
        await h.aclose()


async def test_actions_only_in_an_active_session_the_engineer_holds(rme_server: RunningServer) -> None:
    agent, ticket_id = await agent_asking(rme_server)
    http = await login(rme_server, *ENGINEER)
    engineer = await open_engineer(rme_server, http)
    command = ActionRequestBody(action_id="a1", action=CommandParams(command="whoami"))
    # No session held at all.
    await engineer.send(ActionRequest(session="s_notmine000000000000", body=command))
    assert (await engineer.expect(Error)).body.code == "frame.dropped"
    session = await take(engineer, agent, ticket_id, user_accepts=False)
    # Offered but not yet accepted by the user: nothing may run.
    await engineer.send(ActionRequest(session=session, body=command))
    assert (await engineer.expect(Error)).body.code == "session.state"
    # A file chunk with no file push behind it.
    await engineer.send_raw(encode_chunk(FileChunk("a1", 0, b"payload", True)))
    assert (await engineer.expect(Error)).body.code == "frame.dropped"
    await agent.send(SessionAccept(session=session))
    await engineer.expect(SessionAccept)
    await engineer.send(ActionRequest(session=session, body=command))
    await agent.expect(ActionRequest)
    # The agent claims a result without the user's consent: dropped, never reaches the engineer.
    outcome = CommandOutcome(exit_code=0, output="root", duration_ms=1)
    await agent.send(
        ActionResult(session=session, body=ActionResultBody(action_id="a1", status="ok", outcome=outcome))
    )
    assert (await agent.expect(Error)).body.code == "frame.dropped"
    # Consent for an action that does not exist in this session.
    await agent.send(ConsentReply(session=session, body=ConsentReplyBody(action_id="zz", decision="allowed")))
    assert (await agent.expect(Error)).body.code == "frame.dropped"
    await agent.send(Chat(session=session, body=ChatBody(text="still here")))
    assert (await engineer.expect(Chat)).body.text == "still here"  # nothing else came before it
    # Reusing an action id is refused.
    await engineer.send(ActionRequest(session=session, body=command))
    assert (await engineer.expect(Error)).body.code == "action.refused"
    for c in (agent, engineer):
        await c.close()
    await http.aclose()


async def test_supervisor_kill_switch_ends_both_sides(rme_server: RunningServer) -> None:
    agent, ticket_id = await agent_asking(rme_server)
    http = await login(rme_server, *ENGINEER)
    engineer = await open_engineer(rme_server, http)
    session = await take(engineer, agent, ticket_id)
    async with logged_in(rme_server, *ENGINEER) as plain:
        assert (await plain.post(f"/api/sessions/{session}/end")).status_code == 403
    async with logged_in(rme_server, *SUPERVISOR) as supervisor:
        assert (await supervisor.post(f"/api/sessions/{session}/end")).status_code == 202
        assert (await agent.expect(SessionEnd)).body.reason == "ended_by_engineer"
        assert (await engineer.expect(SessionEnd)).body.reason == "ended_by_engineer"
        ticket = (await supervisor.get(f"/api/tickets/{ticket_id}")).json()
        assert ticket["state"] == "ended"
        assert (await supervisor.post(f"/api/sessions/{session}/end")).status_code == 404
    # After the end nothing more is relayed.
    await engineer.send(Chat(session=session, body=ChatBody(text="hello?")))
    assert (await engineer.expect(Error)).body.code == "frame.dropped"
    for c in (agent, engineer):
        await c.close()
    await http.aclose()


@pytest.mark.parametrize("who_leaves", ["agent", "engineer"])
async def test_a_lost_connection_ends_the_session(
    rme_server: RunningServer, who_leaves: str, request: pytest.FixtureRequest
) -> None:
    # The engineer's side with `engineer_grace = 0`: the session ends with the console's connection
    # (the grace period and the resume: `test_engineer_grace.py`).
    server = rme_server if who_leaves == "agent" else request.getfixturevalue("no_grace_server")
    agent, ticket_id = await agent_asking(server)
    http = await login(server, *ENGINEER)
    engineer = await open_engineer(server, http)
    session = await take(engineer, agent, ticket_id)
    leaving, staying = (agent, engineer) if who_leaves == "agent" else (engineer, agent)
    await leaving.close()
    assert (await staying.expect(SessionEnd)).body.reason == "connection_lost"
    for _ in range(50):
        ticket = (await http.get(f"/api/tickets/{ticket_id}")).json()
        if ticket["state"] == "ended":
            break
        await asyncio.sleep(0.05)
    assert ticket["state"] == "ended"
    await staying.close()
    await http.aclose()
    assert session


async def test_queue_updates_are_pushed_when_tickets_change(rme_server: RunningServer) -> None:
    http = await login(rme_server, *ENGINEER)
    watcher = await open_engineer(rme_server, http)
    agent, ticket_id = await agent_asking(rme_server)
    states: list[str] = []
    while "queued" not in states:
        update = await watcher.expect(QueueUpdate)
        states += [t.state for t in update.body.changed if t.ticket_id == ticket_id]
    await agent.close()
    removed = False
    while not removed:
        update = await watcher.expect(QueueUpdate)
        removed = ticket_id in update.body.removed
    await watcher.close()
    await http.aclose()


async def test_disabled_engineer_is_disconnected(rme_server: RunningServer) -> None:
    async with logged_in(rme_server, *ADMIN) as admin:
        reply = await admin.post(
            "/api/engineers",
            json={"username": "temp-eng", "password": "temporary password", "role": "engineer"},
        )
        assert reply.status_code == 201
        http = await login(rme_server, "temp-eng", "temporary password")
        engineer = await open_engineer(rme_server, http)
        assert (await admin.post("/api/engineers/temp-eng/disable")).status_code == 204
        assert await closed_with(engineer) == 4403
        assert (await http.get("/api/auth/me")).status_code == 401
    await http.aclose()
