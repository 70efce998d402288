"""A revoked device that is connected is cut within 5 s, whichever way it was revoked: by
`rme-server customer revoke` (a separate process) on SQLite with one node; and on PostgreSQL with
two nodes, through Redis (the CLI tells the nodes) and through the nodes' own sweep alone (a CLI that
has no Redis configured)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.relay.link import CLOSE_REVOKED
from tests.server.helpers import (
    ADMIN,
    PYTHON,
    ROOT,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_connect,
    agent_enroll,
    bootstrap_accounts,
    closed_with,
    logged_in,
    new_customer_code,
    running_server,
    start_server,
)
from tests.server.relay.test_bus import REDIS_URL, redis_available

CUT_WITHIN = 5.0


def revoke_by_cli(server: RunningServer, device_id: str, *, redis: bool = True) -> None:
    env = dict(server.env)
    if not redis:
        env.pop("RME_REDIS_URL", None)
    done = subprocess.run(
        [PYTHON, "-m", "server.cli", "customer", "revoke", device_id, "--data-dir", str(server.data_dir)],
        check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


async def enrolled_agent(
    admin_server: RunningServer, connect_to: RunningServer
) -> tuple[str, ProtocolClient]:
    async with logged_in(admin_server, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
    identity = AgentIdentity()
    first = await agent_enroll(connect_to, identity, code)
    await first.close()
    agent = await agent_connect(connect_to, identity)  # a connection made before the revocation
    assert identity.device_id is not None
    return identity.device_id, agent


async def cut_after_cli(
    server: RunningServer, agent: ProtocolClient, device_id: str, *, redis: bool
) -> float:
    """Revoke by the CLI while the agent stays connected; seconds from the command's end to the cut."""
    watch = asyncio.create_task(closed_with(agent, wait=180))
    await asyncio.to_thread(revoke_by_cli, server, device_id, redis=redis)
    revoked = time.monotonic()
    code = await watch
    elapsed = time.monotonic() - revoked
    assert code == CLOSE_REVOKED, f"closed with {code}"
    assert elapsed < CUT_WITHIN, f"cut {elapsed:.2f} s after the revocation"
    return elapsed


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("revocation")
    with running_server(folder, f"sqlite+aiosqlite:///{folder / 'rme.db'}") as server:
        yield server


async def test_cli_revoke_cuts_a_connected_device_on_sqlite(sqlite_server: RunningServer) -> None:
    device_id, agent = await enrolled_agent(sqlite_server, sqlite_server)
    await cut_after_cli(sqlite_server, agent, device_id, redis=False)


@pytest.fixture
def two_nodes(database_url: str, tmp_path: Path) -> Iterator[tuple[RunningServer, RunningServer]]:
    asyncio.run(redis_available())
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


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("through_redis", [True, False], ids=["redis", "sweep"])
async def test_cli_revoke_cuts_on_every_node(
    two_nodes: tuple[RunningServer, RunningServer], through_redis: bool
) -> None:
    node_a, node_b = two_nodes
    on_a, agent_a = await enrolled_agent(node_a, node_a)
    on_b, agent_b = await enrolled_agent(node_a, node_b)
    # Revoked by a CLI run beside node A; the device held by node B is cut too.
    await cut_after_cli(node_a, agent_b, on_b, redis=through_redis)
    await cut_after_cli(node_b, agent_a, on_a, redis=through_redis)
