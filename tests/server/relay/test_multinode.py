"""Two server nodes sharing PostgreSQL and Redis: the agent on one, the engineer on the other, and the
session still works end to end (Redis pub/sub routes the notes between the nodes)."""

from __future__ import annotations

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
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    AgentIdentity,
    RunningServer,
    agent_enroll,
    bootstrap_accounts,
    logged_in,
    new_customer_code,
    open_engineer,
    start_server,
)
from tests.server.relay.test_bus import REDIS_URL, redis_available


@pytest.fixture
def two_nodes(database_url: str, tmp_path: Path) -> Iterator[tuple[RunningServer, RunningServer]]:
    # Nodes share the data directory's keys (TLS, audit signing key), as an operator would deploy them.
    first = start_server(tmp_path, database_url, redis_url=REDIS_URL)
    try:
        second = start_server(tmp_path, database_url, redis_url=REDIS_URL)
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
