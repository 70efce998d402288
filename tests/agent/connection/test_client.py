"""The client loop against a real TLS WebSocket peer: enrollment, device-key auth bound to the
certificate, CA pinning, reconnects with backoff, and a session ended while the network was down."""

from __future__ import annotations

import asyncio
import ssl
import stat
import time
from pathlib import Path

import pytest

from agent.connection import AgentClient, IdentityStore, agent_url, backoff
from agent.connection.client import next_wait, refused_before_tls
from protocol.messages import SessionEnd
from server.tls import ensure_local_tls
from tests.agent.connection.peer import PeerServer
from tests.agent.session.harness import consented_command, running_agent, start_session


def test_agent_url() -> None:
    assert agent_url("wss://h:1") == "wss://h:1/ws/agent"
    assert agent_url("https://h:1/") == "wss://h:1/ws/agent"
    assert agent_url("h:8443") == "wss://h:8443/ws/agent"
    with pytest.raises(ValueError):
        agent_url("ws://h:1")  # never in clear text


def test_backoff_grows_with_full_jitter() -> None:
    assert backoff(0, 0.5, 30, rand=lambda: 1.0) == 0.5
    assert backoff(3, 0.5, 30, rand=lambda: 1.0) == 4.0
    assert backoff(20, 0.5, 30, rand=lambda: 1.0) == 30
    assert backoff(20, 0.5, 30, rand=lambda: 0.0) == 0.5


def test_a_node_that_says_when_is_followed_without_growing_the_back_off() -> None:
    top = lambda: 1.0  # noqa: E731
    # Unanswered failures (refused, timed out) grow the back-off up to its cap.
    attempt, wait = 0, 0.0
    for _ in range(8):
        attempt, wait = next_wait(attempt, False, 0.0, (0.5, 30), rand=top)
    assert (attempt, wait) == (8, 30)
    # Back up and shedding: its Retry-After (spread over half again), not the 30 s the outage reached;
    # the attempt count stays where the outage left it, for the next unanswered failure.
    assert next_wait(8, False, 5.0, (0.5, 30), rand=top) == (8, 7.5)
    assert next_wait(8, False, 5.0, (0.5, 30), rand=lambda: 0.0) == (8, 5.0)
    # A connection that got through starts again from the bottom, even if it was then shed.
    assert next_wait(8, True, 0.0, (0.5, 30), rand=top) == (0, 0.5)
    assert next_wait(8, True, 2.0, (0.5, 30), rand=top) == (0, 3.0)


def test_a_reset_during_tls_reads_as_busy_and_a_refused_connection_does_not() -> None:
    assert refused_before_tls(ConnectionResetError(104, "Connection reset by peer"))
    assert refused_before_tls(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    assert not refused_before_tls(ConnectionRefusedError(111, "Connection refused"))  # nobody there
    assert not refused_before_tls(TimeoutError())
    assert not refused_before_tls(ssl.SSLCertVerificationError(1, "certificate verify failed"))


async def test_enroll_then_authenticate(tmp_path: Path) -> None:
    server = PeerServer(tmp_path / "srv")
    await server.start()
    try:
        server.add_code("ABCD-EFGH-JKMN", "dev-9")
        store = IdentityStore(tmp_path / "agent")
        identity = await AgentClient(server.url, server.ca, store).enroll("ABCD-EFGH-JKMN", "my pc")
        assert identity.device_id == "dev-9"
        for name in ("device.key", "device.json"):
            assert stat.S_IMODE((tmp_path / "agent" / name).stat().st_mode) == 0o600
        client = AgentClient(server.url, server.ca, store, reconnect_min=0.05, reconnect_max=0.2)
        stop = asyncio.Event()
        task = asyncio.ensure_future(client.run(stop))
        link = await server.link()
        assert link.device_id == "dev-9" and client.state == "online"
        # Drops are survived without anyone doing anything.
        link.ws.transport.abort()
        await server.link()
        assert client.connections == 2
        stop.set()
        await client.close()
        await asyncio.wait_for(task, 5)
        assert server.auth_failures == 0
    finally:
        await server.stop()


async def test_a_server_with_another_ca_is_refused(tmp_path: Path) -> None:
    server = PeerServer(tmp_path / "srv")
    await server.start()
    try:
        other = ensure_local_tls(tmp_path / "other", [])
        assert other.ca is not None
        client = AgentClient(server.url, other.ca, IdentityStore(tmp_path / "agent"))
        with pytest.raises(ssl.SSLCertVerificationError):
            await client.enroll("ANY-CODE", "pc")
        assert not (tmp_path / "agent" / "device.json").exists()
    finally:
        await server.stop()


async def test_end_while_network_is_down_is_reported_on_reconnect(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, link):
        session = await start_session(server, runtime)
        action_id = await consented_command(server, runtime, session, "sleep 30")
        for _ in range(200):
            job = runtime.guard.jobs.get(action_id)
            if job is not None and job.work is not None:
                break
            await asyncio.sleep(0.01)
        # The network goes silent (a black hole: nothing is answered, nothing is refused).
        link.ws.transport.pause_reading()
        start = time.perf_counter()
        summary = await runtime.end_session()
        assert summary["ended"] and summary["killed"] >= 1
        assert (time.perf_counter() - start) < 0.2  # ended locally at once, whatever the network does
        assert runtime.guard.session is None
        unreported = runtime.config.data_dir / "unreported-ends.json"
        await asyncio.sleep(0.1)
        assert session in unreported.read_text()
        # The agent notices, reconnects, and tells the server then.
        new_link = await server.link(timeout=15)
        link.ws.transport.abort()  # the old, black-holed line is gone for good
        end = await server.expect(SessionEnd, link=new_link, session=session)
        assert end.body.reason == "ended_by_user"
        for _ in range(100):
            if session not in unreported.read_text():
                break
            await asyncio.sleep(0.02)
        assert session not in unreported.read_text()
        assert any("offline" in e.text.en for e in runtime.feed.entries)
