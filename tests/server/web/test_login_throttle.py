"""Login and handshake throttling on a real server whose loopback addresses are not exempt (each
127.0.0.x is its own client): the same answer for every name, back-off per address and name that
never locks the owner out from elsewhere, a per-address budget for failures that successes do not
spend, and a per-address rate for anonymous WebSocket handshakes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.server.helpers import ADMIN, RunningServer, running_server

FREE = 3  # failures of one name from one address before it backs off
BURST = 8  # failures per address


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("throttle")
    with running_server(
        folder,
        f"sqlite+aiosqlite:///{folder / 'rme.db'}",
        throttle_exempt="",
        login_max_failures=str(FREE),
        login_lockout="600",
        login_address_burst=str(BURST),
        login_address_per_minute="1",
        ws_handshake_burst="4",
        ws_handshakes_per_second="0.2",
    ) as running:
        yield running


def client_from(server: RunningServer, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(verify=server.ssl_context(), local_address=address)
    return httpx.AsyncClient(
        base_url=server.base, transport=transport, headers={"Origin": server.origin}, timeout=30
    )


async def attempt(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": name, "password": password})


async def test_the_same_answers_for_existing_and_unknown_names(server: RunningServer) -> None:
    async with client_from(server, "127.0.0.11") as a, client_from(server, "127.0.0.12") as b:
        existing = [await attempt(a, ADMIN[0], f"guess {i}") for i in range(FREE + 2)]
        unknown = [await attempt(b, "nobody-at-all", f"guess {i}") for i in range(FREE + 2)]
    assert [r.status_code for r in existing] == [r.status_code for r in unknown]
    assert [r.status_code for r in existing] == [401] * FREE + [429, 429]
    assert [r.json() for r in existing] == [r.json() for r in unknown]
    assert existing[-1].headers["Retry-After"] == unknown[-1].headers["Retry-After"]


async def test_a_stranger_cannot_lock_the_admin_out(server: RunningServer) -> None:
    async with client_from(server, "127.0.0.21") as stranger, client_from(server, "127.0.0.22") as owner:
        codes = [(await attempt(stranger, ADMIN[0], f"guess {i}")).status_code for i in range(BURST)]
        assert codes[:FREE] == [401] * FREE and set(codes[FREE:]) == {429}
        # Even with the right password, the stranger's address waits …
        assert (await attempt(stranger, ADMIN[0], ADMIN[1])).status_code == 429
        # … while the admin, from their own address, logs in at once.
        assert (await attempt(owner, ADMIN[0], ADMIN[1])).status_code == 200


async def test_an_address_has_a_failure_budget_that_successes_do_not_spend(server: RunningServer) -> None:
    async with client_from(server, "127.0.0.31") as flood, client_from(server, "127.0.0.32") as office:
        # Many different names from one address: the per-address budget runs out.
        codes = [
            (await attempt(flood, f"n{secrets.token_hex(4)}", "guess guess")).status_code
            for _ in range(BURST + 4)
        ]
        assert codes[:BURST] == [401] * BURST and codes[BURST:] == [429] * 4
        # Right passwords never spend it: an office behind one address logs in all day.
        for _ in range(BURST + 4):
            assert (await attempt(office, ADMIN[0], ADMIN[1])).status_code == 200


async def test_anonymous_handshakes_are_rate_limited_per_address(server: RunningServer) -> None:
    url = f"wss://127.0.0.1:{server.port}/ws/agent"
    opened = []
    try:
        for _ in range(4):
            opened.append(await connect(url, ssl=server.ssl_context(), local_addr=("127.0.0.41", 0)))
        with pytest.raises(InvalidStatus):
            await connect(url, ssl=server.ssl_context(), local_addr=("127.0.0.41", 0))
        opened.append(await connect(url, ssl=server.ssl_context(), local_addr=("127.0.0.42", 0)))
    finally:
        for ws in opened:
            await ws.close()
