"""`rme-server serve --workers N` (`server.workers`): refused on SQLite and without Redis; two real worker
processes on one port (SO_REUSEPORT) on a private PostgreSQL and Redis, with 300 real agents spread
over both; an agent on one worker is served by an engineer whose console is on the other (help request,
offer, session, chat); one worker is killed (-9): its agents come back on the other at once and the
supervisor starts it again; SIGTERM stops every worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench._swarm import raise_nofile
from bench.agents import Swarm, engineer_console, help_latencies, online, provision, start_swarm
from protocol.messages import Chat, ChatBody, SessionEnd, SessionEndBody
from server.config import ServerConfig
from server.workers import workers_problem
from tests.deploy.services import own_postgres, own_redis
from tests.server.helpers import (
    METRICS_TOKEN,
    PYTHON,
    ROOT,
    ProtocolClient,
    RunningServer,
    bootstrap_accounts,
    free_port,
    open_engineer,
    start_server,
)
from tests.server.relay.test_engineer_grace import new_engineer
from tests.server.relay.test_engineer_link import agent_asking, take

AGENTS = 300


def test_more_than_one_worker_needs_postgres_redis_and_a_port(tmp_path: Path) -> None:
    assert workers_problem(ServerConfig(data_dir=tmp_path)) is None  # one worker: anything goes
    sqlite = workers_problem(ServerConfig(data_dir=tmp_path, workers=2, redis_url="redis://x"))
    assert sqlite is not None and "PostgreSQL" in sqlite
    pg = "postgresql+asyncpg://rme@db/rme"
    no_redis = workers_problem(ServerConfig(data_dir=tmp_path, workers=2, database_url=pg))
    assert no_redis is not None and "Redis" in no_redis
    no_port = ServerConfig(data_dir=tmp_path, workers=2, database_url=pg, redis_url="redis://x", port=0)
    assert "--port" in (workers_problem(no_port) or "")
    ok = ServerConfig(data_dir=tmp_path, workers=2, database_url=pg, redis_url="redis://x", port=8443)
    assert workers_problem(ok) is None


def test_serve_refuses_workers_on_sqlite_with_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "server.cli", "serve", "--workers", "2", "--port", str(free_port()),
         "--data-dir", str(tmp_path)],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("RME_")},
    )  # fmt: skip
    assert done.returncode == 2
    assert "--workers 2 needs PostgreSQL" in done.stderr


# -- which worker holds a connection ----------------------------------------------------------


def workers(server: RunningServer) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


def tcp_entries(port: int) -> list[tuple[int, int, str]]:
    """(remote port, inode, state) rows of /proc/net/tcp for loopback IPv4 on `port`."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        lport, rport = int(local.split(":")[1], 16), int(remote.split(":")[1], 16)
        if lport == port:
            rows.append((rport, int(inode), state))
    return rows


def socket_owners(pids: list[int]) -> dict[int, int]:
    """socket inode → the pid (of `pids`) holding it."""
    owners: dict[int, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[int(target[8:-1])] = pid
    return owners


def listeners(server: RunningServer) -> int:
    return sum(1 for _, _, state in tcp_entries(server.port) if state == "0A")


def spread(server: RunningServer) -> dict[int, int]:
    """Established connections on the port per worker pid."""
    pids = workers(server)
    owners = socket_owners(pids)
    counts = dict.fromkeys(pids, 0)
    for _, inode, state in tcp_entries(server.port):
        if state == "01" and inode in owners:
            counts[owners[inode]] += 1
    return counts


def worker_of(server: RunningServer, client: ProtocolClient) -> int:
    """The worker pid serving this client's connection (found by the client's port)."""
    mine = client.ws.transport.get_extra_info("sockname")[1]
    owners = socket_owners(workers(server))
    for rport, inode, state in tcp_entries(server.port):
        if rport == mine and state == "01" and inode in owners:
            return owners[inode]
    raise AssertionError(f"no worker holds the connection from port {mine}")


async def wait_for(what: str, check: Callable[[], bool], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {limit} s"
        await asyncio.sleep(0.2)


def node_agents(server: RunningServer, scrapes: int = 6) -> list[int]:
    """`rme_connected_agents` as each of `scrapes` fresh connections to `/metrics` reads it."""
    seen = []
    for _ in range(scrapes):
        response = httpx.get(
            f"{server.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            verify=server.ssl_context(), timeout=10,
        )  # fmt: skip
        response.raise_for_status()
        values = [
            line.split()[-1]
            for line in response.text.splitlines()
            if line.startswith("rme_connected_agents ")
        ]
        seen.append(int(float(values[0])) if values else -1)
    return seen


async def test_two_workers_are_one_node_of_two_cluster_members(tmp_path: Path) -> None:
    raise_nofile()
    with own_postgres() as postgres, own_redis(tmp_path / "redis") as redis:
        server = start_server(
            tmp_path / "node", postgres.url, workers="2", redis_url=redis.url, node_heartbeat="0.5",
            node_dead_after="6", metrics_token=METRICS_TOKEN,
        )  # fmt: skip
        swarms: list[Swarm] = []
        try:
            await wait_for("two listening workers", lambda: listeners(server) == 2, 60)
            pids = workers(server)
            assert len(pids) == 2
            bootstrap_accounts(server)

            # Real agents, spread by the kernel over both workers.
            seed = os.urandom(16)
            devices = provision(server, seed, 0, AGENTS, tmp_path)
            url = f"wss://127.0.0.1:{server.port}"
            half = AGENTS // 2
            swarms = [
                await start_swarm(url, server.ca, seed, 0, devices[:half], 100.0, 200.0, tmp_path),
                await start_swarm(url, server.ca, seed, half, devices[half:], 100.0, 200.0, tmp_path),
            ]
            await wait_for(f"{AGENTS} agents online", lambda: online(swarms) >= AGENTS, 90)
            counts = spread(server)
            assert all(n > AGENTS // 5 for n in counts.values()), counts
            # Whichever worker answers a scrape, it reports the whole node (each scrape a new connection,
            # so the kernel spreads them over both workers).
            await wait_for("every scrape counts every agent", lambda: node_agents(server) == [AGENTS] * 6, 30)

            # Help requests from agents on both workers all reach one console.
            async with engineer_console(server) as watcher:
                latencies = await help_latencies(swarms, watcher, 20, 30.0)
            assert len(latencies) == 20, latencies

            # One user's agent on one worker, the engineer's console on the other: a whole session.
            agent, ticket_id = await agent_asking(server)
            agent_worker = worker_of(server, agent)
            http = await new_engineer(server)
            consoles: list[ProtocolClient] = []
            console = None
            for _ in range(20):  # the kernel picks the worker by the addresses' hash: dial until across
                attempt = await open_engineer(server, http)
                if worker_of(server, attempt) != agent_worker:
                    console = attempt
                    break
                consoles.append(attempt)
            for other in consoles:
                await other.close()
            assert console is not None, "every console landed on the agent's worker"
            session = await take(console, agent, ticket_id)
            await console.send(Chat(session=session, body=ChatBody(text="from the other worker")))
            assert (await agent.expect(Chat, wait=10)).body.text == "from the other worker"
            await console.send(SessionEnd(session=session, body=SessionEndBody(reason="resolved")))
            await agent.expect(SessionEnd, wait=10)
            await agent.close()
            await console.close()
            await http.aclose()

            # kill -9 one worker: its agents come back on the other at once; the supervisor restarts it.
            victim, survivor = pids
            lost = spread(server)[victim]
            before = sum(int(s.status.get("connections", 0)) for s in swarms)
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()

            def back() -> bool:
                connections = sum(int(s.status.get("connections", 0)) for s in swarms)
                return online(swarms) >= AGENTS and connections >= before + lost

            await wait_for("the killed worker's agents back", back, 20)
            print(f"worker killed with {lost} agents: all back in {time.monotonic() - killed:.1f} s")
            await wait_for("the worker started again", lambda: len(workers(server)) == 2, 60)
            assert victim not in workers(server) and survivor in workers(server)
            await wait_for("two listening workers again", lambda: listeners(server) == 2, 60)
            # The dead worker's connections no longer count; the restarted one's do.
            await wait_for("scrapes count the agents again", lambda: node_agents(server) == [AGENTS] * 6, 30)
        finally:
            await asyncio.gather(*(s.stop() for s in swarms), return_exceptions=True)
            children = workers(server) if server.process.poll() is None else []
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=40)
        # SIGTERM to the supervisor stopped every worker.
        assert server.process.returncode == 0
        assert not [pid for pid in children if os.path.exists(f"/proc/{pid}")], children  # noqa: ASYNC240
