"""What the rescue tests and `bench.rescue` share: the fixed rescue key, a server whose certificate
names the guest's view of it, issuing an image, heartbeats while a guest boots, and waiting for the
rescue screen."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.rescue.boot import T_HELP_WORDS
from protocol.messages import Heartbeat, HeartbeatBody
from rescue.keys import KEY_FILE
from tests.e2e.harness import Engineer, RealServer, real_server
from tests.rescue.vm import GUEST_SERVER, Guest

# A fixed key, so the image's agent layer (which carries the public half) stays cached between runs.
TEST_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"rme rescue test key").digest())
WORDS = T_HELP_WORDS.render("zh-CN")


def write_key(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    pem = TEST_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (data_dir / KEY_FILE).write_bytes(pem)
    (data_dir / KEY_FILE).chmod(0o600)


@contextlib.contextmanager
def rescue_server(tmp: Path) -> Iterator[RealServer]:
    """`rme-server serve` on 127.0.0.1 whose certificate also names the guest's view of it, with the
    fixed rescue key (read by `rescue issue`)."""
    with real_server(tmp, env={"RME_TLS_NAMES": GUEST_SERVER}) as server:
        write_key(server.data)
        yield server


def issue(server: RealServer, base: Path, out: Path, ttl: int = 900) -> Path:
    server.admin(
        "rescue",
        "issue",
        "--customer",
        server.customer,
        "--out",
        str(out),
        "--base",
        str(base),
        "--server-url",
        f"wss://{GUEST_SERVER}:{server.port}",
        "--ttl",
        str(ttl),
    )
    return out


@contextlib.asynccontextmanager
async def keepalive(eng: Engineer) -> AsyncIterator[None]:
    """Heartbeats while the guest boots (minutes under TCG), as the console sends them."""

    async def beat() -> None:
        seq = 0
        while True:
            await asyncio.sleep(10)
            seq += 1
            await eng.send(Heartbeat(body=HeartbeatBody(seq=seq)))

    task = asyncio.ensure_future(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def wait(guest: Guest, pattern: str, within: float = 240.0, since: int = 0) -> None:
    await asyncio.to_thread(guest.wait_for, pattern, within, since=since)


async def allow_on_screen(guest: Guest, kind: str, since: int, key: str = "y") -> None:
    await wait(guest, rf"RME-PROMPT: {kind}", 60, since)
    guest.key(key)
