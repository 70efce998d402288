"""Three nodes behind Debian's HAProxy on `deploy/haproxy.cfg`, on a private PostgreSQL and Redis:

- a node is killed (-9) under load: its agents are back through HAProxy on the other nodes within
  10 s; a session whose console was on that node waits through the grace period and resumes when the
  console reconnects (through HAProxy, to a live node); the audit log verifies whole afterwards;
- Redis restarts, then PostgreSQL restarts: `/ready` says which is down (503) while it is, the agents
  stay connected, and afterwards the nodes route between each other again.

Everything runs on loopback; the shared 5432/6379 services are not touched (`tests.deploy.services`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from bench._swarm import raise_nofile
from bench.agents import Swarm, online, provision, start_swarm
from protocol.messages import Chat, ChatBody, SessionEnd, SessionEndBody
from tests.deploy.services import OwnPostgres, OwnRedis, haproxy, own_postgres, own_redis
from tests.server.helpers import (
    METRICS_TOKEN,
    SUPERVISOR,
    ProtocolClient,
    RunningServer,
    bootstrap_accounts,
    free_port,
    logged_in,
    open_engineer,
    start_server,
)
from tests.server.relay.test_engineer_grace import new_engineer, session_kinds, ticket_state
from tests.server.relay.test_engineer_link import agent_asking, take

AGENTS = 300
GRACE_S = 15
# `node_dead_after` must outlast the longest stall of a live node's event loop: 300 agents reconnecting
# at once through TLS kept a surviving node from refreshing its row for over 2 s in a loaded full run,
# and the others then ended that node's sessions as orphans (the session under test among them).
NODE_SETTINGS = {
    "node_heartbeat": "0.5",
    "node_dead_after": "6",
    "engineer_grace": str(GRACE_S),
    "metrics_token": METRICS_TOKEN,
}


@dataclass
class Cluster:
    nodes: list[RunningServer]
    front: RunningServer  # the same data dir and environment, at HAProxy's address
    postgres: OwnPostgres
    redis: OwnRedis


@contextlib.contextmanager
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with (
        own_postgres() as postgres,
        own_redis(tmp_path / "redis") as redis,
        contextlib.ExitStack() as stack,
    ):
        front_port = free_port()
        settings = {
            **NODE_SETTINGS,
            "redis_url": redis.url,
            "allowed_origins": f"https://127.0.0.1:{front_port}",
        }
        nodes: list[RunningServer] = []
        for _ in range(3):  # one after the other: the first migrates the fresh database
            # The nodes share the keys (TLS, audit signing key), as an operator deploys them.
            node = start_server(tmp_path / "shared", postgres.url, **settings)
            stack.callback(node.stop)
            nodes.append(node)
        proxy = stack.enter_context(haproxy([n.port for n in nodes], nodes[0].ca, tmp_path, front_port))
        front = replace(nodes[0], port=proxy.port)
        bootstrap_accounts(front)
        yield Cluster(nodes, front, postgres, redis)


def gauge(node: RunningServer, name: str) -> int:
    with node.sync_http() as http:
        text = http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, name
    return int(float(match.group(1)))


def agents_on(nodes: list[RunningServer]) -> list[int]:
    return [gauge(n, "rme_connected_agents") for n in nodes]


async def settled(nodes: list[RunningServer], total: int) -> list[int]:
    """The nodes' agent counts once they add up to at least `total` (an agent hears `auth.ok` just
    before its node counts it)."""
    deadline = time.monotonic() + 10
    while sum(spread := agents_on(nodes)) < total:
        assert time.monotonic() < deadline, spread
        await asyncio.sleep(0.1)
    return spread


def connections(swarms: list[Swarm]) -> int:
    return sum(int(s.status.get("connections", 0)) for s in swarms)


async def chat_through(console: ProtocolClient, agent: ProtocolClient, session: str, text: str) -> None:
    """The console's chat reaches the user. A note published while a node was resubscribing is lost
    (Redis pub/sub keeps nothing), as a chat typed during a blip would be: so up to three tries."""
    for _ in range(3):
        await console.send(Chat(session=session, body=ChatBody(text=text)))
        with contextlib.suppress(TimeoutError):
            assert (await agent.expect(Chat, wait=5)).body.text == text
            return
    raise AssertionError(f"{text!r} never reached the agent")


async def ready(node: RunningServer) -> httpx.Response:
    async with node.http() as http:
        return await http.get("/ready")


async def wait_ready(node: RunningServer, status: int, limit: float) -> dict[str, object]:
    deadline = time.monotonic() + limit
    while True:
        reply = await ready(node)
        if reply.status_code == status:
            body: dict[str, object] = reply.json()
            return body
        assert time.monotonic() < deadline, f"/ready still {reply.status_code}: {reply.text}"
        await asyncio.sleep(0.2)


async def test_three_nodes_behind_haproxy_survive_a_node_redis_and_postgres(tmp_path: Path) -> None:
    raise_nofile()
    with cluster(tmp_path) as c:
        front, nodes = c.front, c.nodes
        # A session: the user's agent on one node, the engineer's console (through HAProxy) on another.
        agent, ticket_id = await agent_asking(front)
        where_agent = agents_on(nodes).index(1)
        http = await new_engineer(front)
        console = await open_engineer(front, http)
        consoles = [gauge(n, "rme_connected_engineers") for n in nodes]
        assert sum(consoles) == 1
        console_node = consoles.index(1)
        assert console_node != where_agent, "leastconn put the console beside the agent"
        session = await take(console, agent, ticket_id)

        # Load: AGENTS real agents through HAProxy, spread over the three nodes.
        seed = os.urandom(16)
        devices = provision(front, seed, 0, AGENTS, tmp_path)
        front_url = f"wss://127.0.0.1:{front.port}"
        swarms = [
            await start_swarm(front_url, front.ca, seed, 0, devices[: AGENTS // 2], 100.0, 240.0, tmp_path),
            await start_swarm(
                front_url, front.ca, seed, AGENTS // 2, devices[AGENTS // 2 :], 100.0, 240.0, tmp_path
            ),
        ]
        try:
            deadline = time.monotonic() + 90
            while online(swarms) < AGENTS:
                assert time.monotonic() < deadline, f"{online(swarms)} of {AGENTS} online"
                await asyncio.sleep(0.5)
            spread = await settled(nodes, AGENTS)
            assert min(spread) > 0, spread

            # kill -9 the node holding the console (and a third of the agents).
            victim = nodes[console_node]
            lost = spread[console_node]
            before = connections(swarms)
            async with logged_in(front, *SUPERVISOR) as supervisor:
                victim.process.kill()
                victim.process.wait()
                killed = time.monotonic()
                while online(swarms) < AGENTS or connections(swarms) < before + lost:
                    assert time.monotonic() - killed < 10, f"{online(swarms)} of {AGENTS} back after 10 s"
                    await asyncio.sleep(0.1)
                back = time.monotonic() - killed
                live = [n for n in nodes if n is not victim]
                await settled(live, AGENTS)
                # The session waited (grace), and the console reconnecting through HAProxy resumes it.
                state = await ticket_state(supervisor, ticket_id)
                assert state == "active", await session_kinds(front, session)
                console = await open_engineer(front, http)
                await console.send(Chat(session=session, body=ChatBody(text="back through HAProxy")))
                assert (await agent.expect(Chat, wait=10)).body.text == "back through HAProxy"
                await agent.send(Chat(session=session, body=ChatBody(text="still here")))
                assert (await console.expect(Chat, wait=10)).body.text == "still here"
                assert await ticket_state(supervisor, ticket_id) == "active"
                print(f"node killed with {lost} agents: all back in {back:.1f} s")

                # Redis restarts: /ready says so while it is down; agents stay; routing comes back.
                node = live[0]
                c.redis.stop()
                down = await wait_ready(node, 503, 10)
                assert str(down["bus"]).startswith("redis") and down["database"] == "ok"
                c.redis.start()
                for each in live:  # ready again only once its pub/sub listens (all topics resubscribed)
                    await wait_ready(each, 200, 30)
                await chat_through(console, agent, session, "after redis")

                # PostgreSQL restarts: the same.
                c.postgres.stop()
                down = await wait_ready(node, 503, 10)
                assert str(down["database"]).startswith("unreachable") and down["bus"] == "ok"
                assert online(swarms) == AGENTS  # idle agents do not need the database
                c.postgres.start()
                for each in live:
                    await wait_ready(each, 200, 30)
                await chat_through(console, agent, session, "after postgres")

                await console.send(SessionEnd(session=session, body=SessionEndBody(reason="resolved")))
                await agent.expect(SessionEnd, wait=10)
            assert online(swarms) == AGENTS
        finally:
            await asyncio.gather(*(s.stop() for s in swarms), return_exceptions=True)
            await agent.close()
            await console.close()
            await http.aclose()
        # No gap: the whole log, written by three nodes and through every fault, verifies.
        live[0].cli("audit", "checkpoint")
        verified = live[0].cli("audit", "verify-log", check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
