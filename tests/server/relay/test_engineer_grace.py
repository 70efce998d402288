"""An engineer's page reload or network blip does not end the user's session: the session waits
`engineer_grace` seconds for a console connection of the same engineer, which then holds it (newest
wins); otherwise it ends as `connection_lost`. Real server processes (`GRACE_S` = 2 s, SQLite) and
real sockets; with the grace off, `test_engineer_link.test_a_lost_connection_ends_the_session`."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from protocol.actions import CommandParams
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    Chat,
    ChatBody,
    Error,
    SessionAccept,
    SessionEnd,
    SessionEndBody,
)
from server.config import ConfigError, load_config
from tests.server.helpers import (
    ADMIN,
    SUPERVISOR,
    ProtocolClient,
    RunningServer,
    audit_kinds,
    bootstrap_accounts,
    logged_in,
    login,
    open_engineer,
    start_server,
)
from tests.server.relay.conftest import GRACE_S
from tests.server.relay.test_bus import REDIS_URL, redis_available
from tests.server.relay.test_engineer_link import agent_asking, take


def test_grace_is_configured_and_checked() -> None:
    assert load_config(env={}).engineer_grace == 20.0
    assert load_config(env={"RME_ENGINEER_GRACE": "2.5"}).engineer_grace == 2.5
    assert load_config(env={"RME_ENGINEER_GRACE": "0"}).engineer_grace == 0.0
    with pytest.raises(ConfigError):
        load_config(env={"RME_ENGINEER_GRACE": "-1"})


async def new_engineer(server: RunningServer) -> httpx.AsyncClient:
    """A fresh engineer account, logged in: a console adopts *all* of its engineer's running sessions,
    so each test has an engineer of its own."""
    name, password = f"eng-{secrets.token_hex(4)}", "engineer password"
    async with logged_in(server, *ADMIN) as admin:
        reply = await admin.post(
            "/api/engineers", json={"username": name, "password": password, "role": "engineer"}
        )
        assert reply.status_code == 201, reply.text
    return await login(server, name, password)


async def ticket_state(http: httpx.AsyncClient, ticket_id: str) -> str:
    state: str = (await http.get(f"/api/tickets/{ticket_id}")).json()["state"]
    return state


async def ended_within(http: httpx.AsyncClient, ticket_id: str, wait: float) -> bool:
    """The ticket is ended within `wait` seconds (the end is relayed just before it is stored)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while await ticket_state(http, ticket_id) != "ended":
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def session_kinds(server: RunningServer, session: str) -> list[tuple[str, str]]:
    return [(kind, actor) for kind, actor, sid in await audit_kinds(server) if sid == session]


async def quiet(client: ProtocolClient, wait: float) -> None:
    """Nothing but heartbeats and queue updates arrives for `wait` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while (left := deadline - loop.time()) > 0:
        try:
            item = await client.recv(left)
        except TimeoutError:
            return
        assert getattr(item, "type", None) in ("heartbeat", "queue.update"), item


async def in_session(
    server: RunningServer,
) -> tuple[ProtocolClient, ProtocolClient, httpx.AsyncClient, str, str]:
    """A user's agent and an engineer's console in an active session: (agent, console, console's
    login, ticket id, session id)."""
    agent, ticket_id = await agent_asking(server)
    http = await new_engineer(server)
    console = await open_engineer(server, http)
    session = await take(console, agent, ticket_id)
    return agent, console, http, ticket_id, session


async def test_reconnect_within_the_grace_keeps_the_session(grace_server: RunningServer) -> None:
    agent, console, http, ticket_id, session = await in_session(grace_server)
    await console.close()  # the page reloads
    await asyncio.sleep(GRACE_S / 4)
    console = await open_engineer(grace_server, http)
    # The new connection holds the session: its chat and its requests reach the user.
    await console.send(Chat(session=session, body=ChatBody(text="I am back")))
    assert (await agent.expect(Chat)).body.text == "I am back"
    command = ActionRequestBody(action_id="a-after-reload", action=CommandParams(command="ipconfig"))
    await console.send(ActionRequest(session=session, body=command))
    assert (await agent.expect(ActionRequest)).body.action_id == "a-after-reload"
    await agent.send(Chat(session=session, body=ChatBody(text="welcome back")))
    assert (await console.expect(Chat)).body.text == "welcome back"
    # Well past the grace: nothing ended.
    await quiet(agent, GRACE_S + 0.5)
    assert await ticket_state(http, ticket_id) == "active"
    kinds = await session_kinds(grace_server, session)
    engineer = next(actor for kind, actor in kinds if kind == "ticket.accept")
    assert ("session.engineer_away", engineer) in kinds
    assert ("session.engineer_back", engineer) in kinds
    assert "session.end" not in [kind for kind, _ in kinds]
    await agent.close()
    await console.close()
    await http.aclose()


async def test_no_return_ends_the_session_after_the_grace(grace_server: RunningServer) -> None:
    agent, console, http, ticket_id, session = await in_session(grace_server)
    loop = asyncio.get_running_loop()
    await console.close()
    gone = loop.time()
    await quiet(agent, GRACE_S * 0.75)  # not before the grace is over
    assert await ticket_state(http, ticket_id) == "active"
    end = await agent.expect(SessionEnd, wait=GRACE_S + 3)
    assert end.body.reason == "connection_lost"
    assert loop.time() - gone >= GRACE_S - 0.1
    assert await ended_within(http, ticket_id, 1.0)
    kinds = await session_kinds(grace_server, session)
    assert [k for k, _ in kinds][-2:] == ["session.engineer_away", "session.end"]
    assert kinds[-1][1] == "system"
    await agent.close()
    await http.aclose()


async def test_users_end_during_the_grace_ends_at_once(grace_server: RunningServer) -> None:
    agent, ticket_id = await agent_asking(grace_server)
    http = await new_engineer(grace_server)
    idle_tab = await open_engineer(grace_server, http)  # open before the accept: holds nothing
    console = await open_engineer(grace_server, http)
    session = await take(console, agent, ticket_id)
    await idle_tab.expect(SessionAccept)  # every console of the engineer hears the session
    await console.close()
    await asyncio.sleep(0.2)
    loop = asyncio.get_running_loop()
    pressed = loop.time()
    await agent.send(SessionEnd(session=session, body=SessionEndBody(reason="ended_by_user")))
    # The engineer's other console hears the end at once, and the ticket is over.
    assert (await idle_tab.expect(SessionEnd)).body.reason == "ended_by_user"
    assert loop.time() - pressed < 1.0
    assert await ended_within(http, ticket_id, 1.0)
    # The console coming back finds nothing to resume: the session is not its own any more.
    console = await open_engineer(grace_server, http)
    await console.send(Chat(session=session, body=ChatBody(text="hello?")))
    assert (await console.expect(Error)).body.code == "frame.dropped"
    await quiet(agent, 0.5)
    for client in (agent, console, idle_tab):
        await client.close()
    await http.aclose()


async def test_supervisors_kill_switch_works_during_the_grace(grace_server: RunningServer) -> None:
    agent, console, http, ticket_id, session = await in_session(grace_server)
    # Logged in first: a login (Argon2) on a loaded machine can take longer than the test's grace.
    async with logged_in(grace_server, *SUPERVISOR) as supervisor:
        await console.close()
        await asyncio.sleep(0.2)
        assert (await supervisor.post(f"/api/sessions/{session}/end")).status_code == 202
        assert (await agent.expect(SessionEnd, wait=1.0)).body.reason == "ended_by_engineer"
    assert await ended_within(http, ticket_id, 1.0)
    await quiet(agent, GRACE_S)  # and the grace timer does not end it a second time
    kinds = [k for k, _ in await session_kinds(grace_server, session)]
    assert kinds.count("session.end") == 1
    await agent.close()
    await http.aclose()


async def test_an_older_tabs_late_away_is_ignored(grace_server: RunningServer) -> None:
    agent, old_tab, http, ticket_id, session = await in_session(grace_server)
    new_tab = await open_engineer(grace_server, http)  # a second tab takes the session over
    await old_tab.close()  # ...and the first one closes afterwards
    await quiet(agent, GRACE_S + 0.5)
    assert await ticket_state(http, ticket_id) == "active"
    await new_tab.send(Chat(session=session, body=ChatBody(text="from the new tab")))
    assert (await agent.expect(Chat)).body.text == "from the new tab"
    kinds = [k for k, _ in await session_kinds(grace_server, session)]
    assert "session.engineer_back" in kinds
    assert "session.engineer_away" not in kinds
    # The tab that holds it now going away does start the grace.
    await new_tab.close()
    assert (await agent.expect(SessionEnd, wait=GRACE_S + 3)).body.reason == "connection_lost"
    await agent.close()
    await http.aclose()


@contextlib.contextmanager
def grace_nodes(
    tmp_path: Path, database_url: str, **settings: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two nodes on one PostgreSQL and Redis, with the test's grace; accounts made through the first."""
    settings = {"redis_url": REDIS_URL, "engineer_grace": str(GRACE_S), **settings}
    with contextlib.ExitStack() as nodes:
        node_a = start_server(tmp_path, database_url, **settings)
        nodes.callback(node_a.stop)
        node_b = start_server(tmp_path, database_url, **settings)
        nodes.callback(node_b.stop)
        bootstrap_accounts(node_a)
        yield node_a, node_b


# Several nodes share PostgreSQL, never an SQLite file.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_console_comes_back_on_another_node(database_url: str, tmp_path: Path) -> None:
    """The agent on node A, the console on node B; the console reconnects through node A (as a load
    balancer may send it) and holds the session; later it leaves for good and node A ends it."""
    await redis_available()
    with grace_nodes(tmp_path, database_url) as (node_a, node_b):
        agent, ticket_id = await agent_asking(node_a)
        http = await new_engineer(node_b)
        console = await open_engineer(node_b, http)
        session = await take(console, agent, ticket_id)
        await console.close()
        console = await open_engineer(node_a, http)
        await console.send(Chat(session=session, body=ChatBody(text="now through node A")))
        assert (await agent.expect(Chat)).body.text == "now through node A"
        await quiet(agent, GRACE_S + 0.5)
        assert await ticket_state(http, ticket_id) == "active"
        await console.close()
        assert (await agent.expect(SessionEnd, wait=GRACE_S + 3)).body.reason == "connection_lost"
        kinds = [k for k, _ in await session_kinds(node_a, session)]
        # (The first away crosses nodes through Redis and may arrive after the back: then it is ignored.)
        assert kinds.count("session.engineer_back") == 1
        assert kinds[-2:] == ["session.engineer_away", "session.end"]
        await agent.close()
        await http.aclose()


# Several nodes share PostgreSQL, never an SQLite file.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("comes_back", [True, False], ids=["console-returns", "console-gone"])
async def test_the_consoles_node_dies(database_url: str, tmp_path: Path, comes_back: bool) -> None:
    """The agent on node A, the console on node B, and node B is SIGKILLed: it cannot say that the
    console went away, so node A's sweep notices the dead node and starts the grace. The console
    coming back through node A keeps the session; otherwise it ends and the user is told."""
    await redis_available()
    # Short node intervals: node B is dead 2 s after the kill and swept on a 0.5 s heartbeat.
    with grace_nodes(tmp_path, database_url, node_heartbeat="0.5", node_dead_after="2") as (node_a, node_b):
        agent, ticket_id = await agent_asking(node_a)
        http = await new_engineer(node_b)
        console = await open_engineer(node_b, http)
        session = await take(console, agent, ticket_id)

        # Logged in first: a login (Argon2) on a loaded machine can take longer than the test's grace.
        async with logged_in(node_a, *SUPERVISOR) as supervisor:
            node_b.process.kill()  # SIGKILL: no engineer.away from node B, ever
            node_b.process.wait()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 6  # dead after 2 s, swept on a 0.5 s heartbeat
            while ("session.engineer_away", "system") not in await session_kinds(node_a, session):
                assert loop.time() < deadline, "node A did not notice the console's node died"
                await asyncio.sleep(0.1)
            assert await ticket_state(supervisor, ticket_id) == "active"  # waiting, not ended
            if comes_back:
                console = await open_engineer(node_a, http)
                await console.send(Chat(session=session, body=ChatBody(text="back through node A")))
                assert (await agent.expect(Chat)).body.text == "back through node A"
                await quiet(agent, GRACE_S + 0.5)
                assert await ticket_state(supervisor, ticket_id) == "active"
                await console.close()
            else:
                end = await agent.expect(SessionEnd, wait=GRACE_S + 2)
                assert end.body.reason == "connection_lost"
                assert await ended_within(supervisor, ticket_id, 1.0)
        kinds = [k for k, _ in await session_kinds(node_a, session)]
        assert kinds.count("session.engineer_away") >= 1
        assert ("session.engineer_back" in kinds) == comes_back
        await agent.close()
        await http.aclose()
