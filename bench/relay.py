"""Relay: round trip through the server vs a plain WebSocket echo server, and help request → engineer
notified.

Targets (BRIEF §7): relay overhead on a round trip ≤ 1.5 × a direct WebSocket; help request visible to
an engineer p99 < 100 ms. Anchor in the same run: the same client (websockets, TLS, the same chat
frame) talking to a plain `websockets` echo server in its own process (`bench._echo_server`).
The relay round trip is engineer → server → agent → server → engineer (the agent echoes the chat, and
connects with rme-agent's WebSocket options: no compression);
the server is a real `rme-server serve` process on SQLite, with the per-connection frame rate limit
raised (the default, 200 frames/s, is for people, not for a benchmark loop).
RME_BENCH_RELAY_ROUNDS and RME_BENCH_NOTIFY_ROUNDS set the counts.

On loopback a relayed round trip has twice the hops of an echo, so that ratio measures hop count as
much as the relay. The target's own anchor — "the same client, no relay" — is measured on a network
path (`bench._netpath`, needs root): the client in namespace `office`, rme-server in `dc`, the agent
and the plain echo server in `home`, both paths crossing the same two links, at several one-way link
delays. RME_BENCH_NETPATH_SCALE scales its round counts (1.0 by default; 0 skips it).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from bench import _netpath as netpath
from protocol.messages import (
    Chat,
    ChatBody,
    Error,
    HelpQueued,
    HelpRequest,
    HelpRequestBody,
    QueueUpdate,
    SessionAccept,
    SessionOffer,
    TicketAccept,
    TicketAcceptBody,
)
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    ROOT,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_connect,
    agent_enroll,
    free_port,
    login,
    new_customer_code,
    open_engineer,
    running_server,
)

ROUNDS = int(os.environ.get("RME_BENCH_RELAY_ROUNDS", "2000"))
NOTIFY_ROUNDS = int(os.environ.get("RME_BENCH_NOTIFY_ROUNDS", "200"))
NETPATH_SCALE = float(os.environ.get("RME_BENCH_NETPATH_SCALE", "1"))
# (one-way delay per link in ms, rounds): 0 is CPU only (plain veth); 0.5 ms is a metro network,
# 2 ms a region, 10 ms across a country. About 40 s in all here.
NETPATH_SCHEDULE = [(0.0, 2000), (0.5, 1000), (2.0, 400), (10.0, 150)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def echo_round_trips(server: RunningServer, port: int, frame: str) -> list[float]:
    times: list[float] = []
    async with connect(f"wss://127.0.0.1:{port}/", ssl=server.ssl_context()) as ws:
        for _ in range(100):  # warm-up
            await ws.send(frame)
            await ws.recv()
        for _ in range(ROUNDS):
            start = time.perf_counter()
            await ws.send(frame)
            await ws.recv()
            times.append(time.perf_counter() - start)
    return times


async def forward_round_trips(server: RunningServer, port: int, frame: str) -> list[float]:
    """The same two clients through a bare `websockets` forwarder: the cost of two hops, no relay logic."""
    times: list[float] = []
    ctx = server.ssl_context()
    async with (
        connect(f"wss://127.0.0.1:{port}/a", ssl=ctx) as engineer,
        connect(f"wss://127.0.0.1:{port}/b", ssl=ctx, compression=None) as agent,  # as rme-agent
    ):

        async def bounce() -> None:
            async for message in agent:
                await agent.send(message)

        bouncer = asyncio.create_task(bounce())
        await asyncio.sleep(0.2)  # both sides registered
        for i in range(ROUNDS + 100):
            start = time.perf_counter()
            await engineer.send(frame)
            await engineer.recv()
            if i >= 100:
                times.append(time.perf_counter() - start)
        bouncer.cancel()
    return times


async def agent_echo(agent: ProtocolClient) -> None:
    """The agent side of the relay test: send every chat straight back, as fast as it can."""
    while True:
        frame = await agent.ws.recv()
        message = agent.conn.receive(frame)
        if isinstance(message, Chat):
            await agent.ws.send(frame)  # the same bytes back: the agent's own work is as small as the echo's


async def relay_round_trips(server: RunningServer) -> tuple[list[float], str]:
    admin = await login(server, *ADMIN)
    _, code = await new_customer_code(admin)
    # The WebSocket options rme-agent uses (no compression: `agent/connection/client.py`); the console
    # side keeps a browser's default, permessage-deflate.
    agent = await agent_enroll(server, AgentIdentity(), code, compression=None)
    http = await login(server, *ENGINEER)
    engineer = await open_engineer(server, http)
    await agent.send(HelpRequest(body=HelpRequestBody(words="bench", lang="en")))
    queued = await agent.expect(HelpQueued)
    await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=queued.body.ticket_id)))
    offer = await agent.expect(SessionOffer)
    session = offer.session
    assert session is not None
    await agent.send(SessionAccept(session=session))
    await engineer.expect(SessionAccept)
    echo = asyncio.create_task(agent_echo(agent))
    frame = engineer.conn.send(Chat(session=session, body=ChatBody(text="ping " * 10))).decode()
    times: list[float] = []
    for i in range(ROUNDS + 100):
        start = time.perf_counter()
        await engineer.ws.send(frame)
        while True:
            reply = engineer.conn.receive(await engineer.ws.recv())
            if isinstance(reply, Chat):
                break
            if isinstance(reply, Error):
                raise RuntimeError(f"relay refused the benchmark's frame: {reply.body}")
        if i >= 100:  # after the warm-up
            times.append(time.perf_counter() - start)
    echo.cancel()
    for client in (agent, engineer):
        await client.close()
    for h in (admin, http):
        await h.aclose()
    return times, frame


async def notify_latencies(server: RunningServer) -> list[float]:
    admin = await login(server, *ADMIN)
    http = await login(server, *ENGINEER)
    engineer = await open_engineer(server, http)
    identities: list[AgentIdentity] = []
    for _ in range(4):
        _, code = await new_customer_code(admin)
        identity = AgentIdentity()
        await (await agent_enroll(server, identity, code)).close()
        identities.append(identity)
    latencies: list[float] = []
    for i in range(NOTIFY_ROUNDS):
        agent = await agent_connect(server, identities[i % len(identities)])
        start = time.perf_counter()
        await agent.send(HelpRequest(body=HelpRequestBody(words=f"help {i}", lang="zh-CN")))
        while True:
            update = await engineer.expect(QueueUpdate)
            if any(t.state == "queued" and t.words == f"help {i}" for t in update.body.changed):
                break
        latencies.append(time.perf_counter() - start)
        await agent.close()  # ends the ticket; the removal update arrives before the next one
    await engineer.close()
    for h in (admin, http):
        await h.aclose()
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "server"
        settings = {"heartbeat_timeout": "600", "ws_frames_per_second": "100000", "ws_frame_burst": "100000"}
        with running_server(data, f"sqlite+aiosqlite:///{data / 'rme.db'}", **settings) as server:
            cert, key = (
                str(server.data_dir / "tls" / "server.pem"),
                str(server.data_dir / "tls" / "server.key"),
            )
            port, forward_port = free_port(), free_port()
            anchors = [
                subprocess.Popen(
                    [sys.executable, "-m", "bench._echo_server", str(p), cert, key, mode],
                    stdout=subprocess.PIPE,
                    cwd=ROOT,
                )
                for p, mode in ((port, "echo"), (forward_port, "forward"))
            ]
            try:
                for anchor in anchors:
                    assert anchor.stdout is not None and anchor.stdout.readline().strip() == b"ready"
                relay, frame = asyncio.run(relay_round_trips(server))
                direct = asyncio.run(echo_round_trips(server, port, frame))
                bare = asyncio.run(forward_round_trips(server, forward_port, frame))
                notify = asyncio.run(notify_latencies(server))
            finally:
                for anchor in anchors:
                    anchor.terminate()
                    anchor.wait()
    ms = 1000.0
    d_med, r_med = statistics.median(direct), statistics.median(relay)
    print(f"round trip, {ROUNDS} chat frames of {len(frame)} bytes over TLS WebSockets:")
    print(f"  direct echo (anchor): median {d_med * ms:.3f} ms  p99 {pct(direct, 0.99) * ms:.3f} ms")
    b_med = statistics.median(bare)
    print(f"  bare 2-hop forwarder: median {b_med * ms:.3f} ms  p99 {pct(bare, 0.99) * ms:.3f} ms")
    print(f"  through the relay   : median {r_med * ms:.3f} ms  p99 {pct(relay, 0.99) * ms:.3f} ms")
    print(f"  relay / direct      : {r_med / d_med:.2f}x median (target <= 1.5x)")
    print(f"  relay / bare 2-hop  : {r_med / b_med:.2f}x median (what the relay's own work costs)")
    print(f"help request -> engineer notified, {NOTIFY_ROUNDS} requests (audited, stored, pushed):")
    print(
        f"  median {statistics.median(notify) * ms:.2f} ms  p99 {pct(notify, 0.99) * ms:.2f} ms"
        f"  max {max(notify) * ms:.2f} ms (target p99 < 100 ms)"
    )


def network_path() -> None:
    reason = netpath.available()
    if NETPATH_SCALE <= 0 or reason is not None:
        print(f"network path: skipped ({reason or 'RME_BENCH_NETPATH_SCALE=0'})")
        return
    schedule = [(delay, max(20, int(rounds * NETPATH_SCALE))) for delay, rounds in NETPATH_SCHEDULE]
    with tempfile.TemporaryDirectory() as tmp:
        runs = netpath.measure(Path(tmp), schedule)
    ms = 1000.0
    print(
        f"round trip on a network path, {runs[0].frame_bytes}-byte chat frames: client in netns office,"
        " rme-server in dc (routes), agent and plain echo server in home;"
    )
    print("  direct = the same client to the echo server across the same two links (interleaved rounds)")
    print(
        f"  {'one-way/link':>12} {'link':>5} {'ping':>6} {'rounds':>6} {'direct med':>10} {'p99':>7}"
        f" {'relay med':>9} {'p99':>7} {'ratio':>6} {'added ms':>8}"
    )
    for run in runs:
        d_med, r_med = statistics.median(run.direct), statistics.median(run.relay)
        print(
            f"  {run.delay_ms:>9.1f} ms {run.link_mode:>5} {run.ping_ms or 0:>6.3f} {len(run.direct):>6}"
            f" {d_med * ms:>10.3f} {pct(run.direct, 0.99) * ms:>7.3f}"
            f" {r_med * ms:>9.3f} {pct(run.relay, 0.99) * ms:>7.3f}"
            f" {r_med / d_med:>5.2f}x {(r_med - d_med) * ms:>8.3f}"
        )
    print("  (target: relay <= 1.5x direct; times in ms; ping = ping office -> home, average)")


if __name__ == "__main__":
    main()
    network_path()
