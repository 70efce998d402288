"""Two server nodes sharing PostgreSQL and Redis: the agent on one, the engineer on the other, and the
session still works end to end (Redis pub/sub routes the notes between the nodes); and when the
agent's node is killed, the other node ends its tickets (`server.relay.nodes`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.actions import DiagnoseParams
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
    HelpQueued,
    HelpRequest,
    HelpRequestBody,
    QueueUpdate,
    SessionAccept,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
    TicketAccept,
    TicketAcceptBody,
)
from server.audit import SessionAuditExport
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    SUPERVISOR,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_enroll,
    audit_kinds,
    bootstrap_accounts,
    logged_in,
    new_customer_code,
    open_engineer,
    start_server,
    verify_offline,
)
from tests.server.relay.test_bus import REDIS_URL, redis_available

# Short node intervals, so a killed node is noticed within a few seconds.
NODE_TIMES = {"node_heartbeat": "0.5", "node_dead_after": "2"}


@pytest.fixture
def two_nodes(database_url: str, tmp_path: Path) -> Iterator[tuple[RunningServer, RunningServer]]:
    # Nodes share the data directory's keys (TLS, audit signing key), as an operator would deploy them.
    first = start_server(tmp_path, database_url, redis_url=REDIS_URL, **NODE_TIMES)
    try:
        second = start_server(tmp_path, database_url, redis_url=REDIS_URL, **NODE_TIMES)
        try:
            bootstrap_accounts(first)
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


# Several nodes share PostgreSQL, never an SQLite file.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_session_across_two_nodes(two_nodes: tuple[RunningServer, RunningServer]) -> None:
    await redis_available()
    node_a, node_b = two_nodes
    async with logged_in(node_a, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
    agent = await agent_enroll(node_a, AgentIdentity(), code)
    async with logged_in(node_b, *ENGINEER) as http:
        engineer = await open_engineer(node_b, http)
        await agent.send(HelpRequest(body=HelpRequestBody(words="cross-node", lang="en")))
        ticket_id = (await agent.expect(HelpQueued)).body.ticket_id
        while True:  # the queue update crossed from node A to node B
            update = await engineer.expect(QueueUpdate)
            if any(t.ticket_id == ticket_id for t in update.body.changed):
                break
        await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket_id)))
        session = (await agent.expect(SessionOffer)).session
        assert session is not None
        await agent.send(SessionAccept(session=session))
        await engineer.expect(SessionAccept)
        await engineer.send(
            ActionRequest(session=session, body=ActionRequestBody(action_id="x1", action=DiagnoseParams()))
        )
        await agent.expect(ActionRequest)
        await agent.send(
            ConsentRequest(session=session, body=ConsentRequestBody(action_id="x1", timeout_s=9))
        )
        await agent.send(
            ConsentReply(session=session, body=ConsentReplyBody(action_id="x1", decision="denied"))
        )
        await engineer.expect(ConsentRequest)
        assert (await engineer.expect(ConsentReply)).body.decision == "denied"
        await engineer.send(SessionEnd(session=session, body=SessionEndBody(reason="unresolved")))
        assert (await agent.expect(SessionEnd)).body.reason == "unresolved"
        assert (await http.get(f"/api/tickets/{ticket_id}")).json()["state"] == "ended"
        await engineer.close()
    await agent.close()


async def read_until_ended(
    engineer: ProtocolClient, session: str, queued: str, wait: float
) -> tuple[SessionEnd, float]:
    """Read the engineer's socket until the session's end and the queued ticket's removal arrive; returns
    the end and how long the node took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    ended: SessionEnd | None = None
    removed: set[str] = set()
    while ended is None or queued not in removed:
        item = await engineer.recv(max(0.01, start + wait - loop.time()))
        if isinstance(item, SessionEnd) and item.session == session:
            ended = item
        elif isinstance(item, QueueUpdate):
            removed.update(item.body.removed)
    return ended, loop.time() - start


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_killed_nodes_tickets_are_ended_by_the_other(
    two_nodes: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    await redis_available()
    node_a, node_b = two_nodes
    async with logged_in(node_a, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
        _, other_code = await new_customer_code(admin)
    agent = await agent_enroll(node_a, AgentIdentity(), code)
    waiting = await agent_enroll(node_a, AgentIdentity(), other_code)
    async with logged_in(node_b, *ENGINEER) as http, logged_in(node_b, *SUPERVISOR) as supervisor_http:
        engineer = await open_engineer(node_b, http)
        supervisor = await open_engineer(node_b, supervisor_http)  # another engineer's queue
        await agent.send(HelpRequest(body=HelpRequestBody(words="in session", lang="en")))
        ticket_id = (await agent.expect(HelpQueued)).body.ticket_id
        await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket_id)))
        session = (await agent.expect(SessionOffer)).session
        assert session is not None
        await agent.send(SessionAccept(session=session))
        await engineer.expect(SessionAccept)
        await waiting.send(HelpRequest(body=HelpRequestBody(words="still queued", lang="en")))
        queued_id = (await waiting.expect(HelpQueued)).body.ticket_id

        node_a.process.kill()  # SIGKILL: no clean shutdown, no "connection lost" from node A
        node_a.process.wait()
        end, took = await read_until_ended(engineer, session, queued_id, wait=10)
        assert end.body.reason == "connection_lost"
        assert took < 6  # dead after 2 s, swept on a 0.5 s heartbeat
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while True:  # every engineer's queue loses the queued ticket
            update = await supervisor.recv(max(0.01, deadline - loop.time()))
            if isinstance(update, QueueUpdate) and queued_id in update.body.removed:
                break
        for ticket in (ticket_id, queued_id):
            assert (await http.get(f"/api/tickets/{ticket}")).json()["state"] == "ended"

        # The system's ends are in the audit log, once per ticket, and the session's export verifies.
        ends = [s for k, a, s in await audit_kinds(node_b, "system") if k == "session.end"]
        assert len(ends) == 2 and ends.count(session) == 1
        export_reply = await supervisor_http.get(f"/api/sessions/{session}/audit")
        assert export_reply.status_code == 200, export_reply.text
        export = SessionAuditExport.from_json(json.dumps(export_reply.json()))
        end_event = export.events[-1].document()
        assert end_event["kind"] == "session.end" and "server node" in end_event["data"]["note"]
        verify_offline(node_b, export.to_json(), tmp_path)
        for client in (engineer, supervisor):
            await client.close()
    for client in (agent, waiting):
        await client.close()
