"""Timers on the relay: an unanswered offer times out, a silent connection is closed, and a client that
never authenticates is dropped. A server of its own with short timers (SQLite: timers are not storage)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from protocol.messages import (
    AuthChallenge,
    HelpQueued,
    HelpRequest,
    HelpRequestBody,
    SessionEnd,
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
    closed_with,
    logged_in,
    new_customer_code,
    open_agent,
    open_engineer,
    running_server,
)


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("quick")
    settings = {"offer_timeout": "1", "heartbeat_timeout": "3", "auth_timeout": "1"}
    with running_server(data, f"sqlite+aiosqlite:///{data / 'rme.db'}", **settings) as server:
        yield server


async def test_unanswered_offer_times_out(quick_server: RunningServer) -> None:
    async with logged_in(quick_server, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
    agent = await agent_enroll(quick_server, AgentIdentity(), code)
    async with logged_in(quick_server, *ENGINEER) as http:
        engineer = await open_engineer(quick_server, http)
        await agent.send(HelpRequest(body=HelpRequestBody(words="help", lang="en")))
        ticket_id = (await agent.expect(HelpQueued)).body.ticket_id
        await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=ticket_id)))
        await agent.expect(SessionOffer)
        # The user never answers: both sides hear the session timed out.
        assert (await agent.expect(SessionEnd, wait=5)).body.reason == "timed_out"
        assert (await engineer.expect(SessionEnd, wait=5)).body.reason == "timed_out"
        assert (await http.get(f"/api/tickets/{ticket_id}")).json()["state"] == "ended"
        await engineer.close()
    await agent.close()


async def test_unauthenticated_agent_is_dropped(quick_server: RunningServer) -> None:
    agent = await open_agent(quick_server)
    await agent.expect(AuthChallenge)
    assert await closed_with(agent, wait=5) == 4401


async def test_silent_connection_is_closed(quick_server: RunningServer) -> None:
    async with logged_in(quick_server, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
    agent = await agent_enroll(quick_server, AgentIdentity(), code)
    assert await closed_with(agent, wait=10) == 4408  # no heartbeat within 3 s
