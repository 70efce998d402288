"""Strangers failing to log in or to prove a device key, against a real server: the audit log gets a
bounded sample, not a permanent row per attempt (it used to get one each, ~200 rows/s from one client)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.messages import AuthChallenge
from server.audit.failures import SAMPLE_BURST, SAMPLE_RATE
from tests.server.helpers import AgentIdentity, RunningServer, audit_kinds, open_agent, sign, start_server


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own: the flood spends its sample budget, which other tests' servers keep."""
    data = tmp_path_factory.mktemp("flooded")
    server = start_server(data, f"sqlite+aiosqlite:///{data / 'rme.db'}")
    try:
        yield server
    finally:
        server.stop()


LOGINS = 120


def allowed(started: float) -> float:
    """The most sample rows the bucket can give since `started` (a slow, loaded run refills it)."""
    return SAMPLE_BURST + SAMPLE_RATE * (time.monotonic() - started) + 1


DEVICE_PROOFS = 60


async def test_a_login_flood_leaves_a_bounded_trace(flooded: RunningServer) -> None:
    tag = secrets.token_hex(4)
    started = time.monotonic()
    async with flooded.http() as client:
        for n in range(LOGINS):
            reply = await client.post(
                "/api/auth/login", json={"username": f"flood{tag}-{n}", "password": "wrong"}
            )
            assert reply.status_code in (401, 429)
    rows = await audit_kinds(flooded, f"engineer:flood{tag}")
    assert {kind for kind, _, _ in rows} <= {"auth.login_failed"}
    assert len(rows) < LOGINS  # was one row each
    assert len(rows) <= allowed(started)


async def test_failed_device_proofs_leave_a_bounded_trace(flooded: RunningServer) -> None:
    tag = secrets.token_hex(4)
    started = time.monotonic()
    for n in range(DEVICE_PROOFS):
        client = await open_agent(flooded)
        challenge = await client.expect(AuthChallenge)
        stranger = AgentIdentity(key=Ed25519PrivateKey.generate(), device_id=f"dflood{tag}-{n}")
        await client.send(sign(client, stranger, challenge.body.nonce))
        await client.close()
    rows = await audit_kinds(flooded, f"device:dflood{tag}")
    assert {kind for kind, _, _ in rows} <= {"device.auth_failed"}
    assert len(rows) < DEVICE_PROOFS  # was one row each
    assert len(rows) <= allowed(started)
