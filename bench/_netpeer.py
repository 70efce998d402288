"""The two ends of `bench._netpath`'s measurement, each run in its own network namespace.

python -m bench._netpeer agent URL CA CODE
    the user's PC (namespace `home`): enroll with CODE, ask for help (prints `queued TICKET`), accept
    the session offer (prints `session`), then send every chat straight back, as fast as it can.

python -m bench._netpeer client BASE CA ECHO_URL ECHO_CA USER PASSWORD
    the engineer's client (namespace `office`): log in at BASE, open the console socket and a socket to
    the plain echo server at ECHO_URL (prints `ready`), then obey stdin: `accept TICKET` accepts the
    ticket (prints `session`); `measure ROUNDS WARMUP` times ROUNDS round trips of the same chat frame
    on each path, interleaved (direct, relay, direct, …), and prints one JSON line
    {"frame": bytes, "direct": [s, …], "relay": [s, …]}. The client decodes and checks every reply the
    same way on both paths, so its own work is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
import time

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol.connection import Connection
from protocol.directions import Peer
from protocol.messages import (
    AuthChallenge,
    AuthOk,
    Chat,
    ChatBody,
    EnrollOk,
    EnrollRequest,
    EnrollRequestBody,
    Error,
    Hello,
    HelloBody,
    HelpQueued,
    HelpRequest,
    HelpRequestBody,
    QueueUpdate,
    SessionAccept,
    SessionOffer,
    TicketAccept,
    TicketAcceptBody,
    Welcome,
)
from tests.server.helpers import AgentIdentity, ProtocolClient, sign


def say(line: str) -> None:
    print(line, flush=True)


async def agent(url: str, ca: str, code: str) -> None:
    identity = AgentIdentity()
    # The WebSocket options of rme-agent (agent/connection/client.py): no compression.
    ws = await connect(url, ssl=ssl.create_default_context(cafile=ca), compression=None, max_size=4 << 20)
    client = ProtocolClient(ws, Connection(local=Peer.AGENT, remote=Peer.SERVER))
    await client.send(Hello(body=HelloBody(role="agent", versions=[1], software="rme-bench-agent")))
    await client.expect(Welcome)
    await client.expect(AuthChallenge)
    request = EnrollRequestBody(code=code, public_key=identity.public_key, device_name="Bench PC", os="Linux")
    await client.send(EnrollRequest(body=request))
    ok = await client.expect(EnrollOk)
    identity.device_id, identity.customer_id = ok.body.device_id, ok.body.customer_id
    challenge = await client.expect(AuthChallenge)
    await client.send(sign(client, identity, challenge.body.nonce))
    await client.expect(AuthOk)
    await client.send(HelpRequest(body=HelpRequestBody(words="bench", lang="en")))
    queued = await client.expect(HelpQueued)
    say(f"queued {queued.body.ticket_id}")
    offer = await client.expect(SessionOffer, wait=60)
    await client.send(SessionAccept(session=offer.session))
    say("session")
    with contextlib.suppress(ConnectionClosed):  # the server goes first when the bench ends
        while True:
            frame = await ws.recv()
            if isinstance(client.conn.receive(frame), Chat):
                await ws.send(frame)  # the same bytes back: as little work as the echo server's


async def _reply(engineer: ProtocolClient, ws: ClientConnection) -> None:
    """Read from `ws` until a chat arrives, checking each frame with the engineer's protocol state."""
    while True:
        reply = engineer.conn.receive(await ws.recv())
        if isinstance(reply, Chat):
            return
        if isinstance(reply, Error):
            raise RuntimeError(f"refused: {reply.body}")


async def client(base: str, ca: str, echo_url: str, echo_ca: str, user: str, password: str) -> None:
    context = ssl.create_default_context(cafile=ca)
    async with httpx.AsyncClient(base_url=base, verify=context, headers={"Origin": base}, timeout=10) as http:
        reply = await http.post("/api/auth/login", json={"username": user, "password": password})
        if reply.status_code != 200:
            raise RuntimeError(f"login failed: {reply.status_code} {reply.text}")
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    ws_url = base.replace("https://", "wss://") + "/ws/engineer"
    ws = await connect(ws_url, ssl=context, additional_headers={"Cookie": cookie}, origin=base)  # type: ignore[arg-type]
    engineer = ProtocolClient(ws, Connection(local=Peer.ENGINEER, remote=Peer.SERVER))
    await engineer.send(Hello(body=HelloBody(role="engineer", versions=[1], software="rme-bench-client")))
    await engineer.expect(Welcome)
    await engineer.expect(QueueUpdate)
    echo = await connect(echo_url, ssl=ssl.create_default_context(cafile=echo_ca), max_size=4 << 20)
    say("ready")
    loop = asyncio.get_running_loop()
    session: str | None = None
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        words = line.split()
        if words[:1] == ["accept"]:
            await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=words[1])))
            accepted = await engineer.expect(SessionAccept, wait=30)
            session = accepted.session
            say("session")
        elif words[:1] == ["measure"] and session is not None:
            rounds, warmup = int(words[1]), int(words[2])
            frame = engineer.conn.send(Chat(session=session, body=ChatBody(text="ping " * 10))).decode()
            direct: list[float] = []
            relay: list[float] = []
            for i in range(warmup + rounds):
                start = time.perf_counter()
                await echo.send(frame)
                await _reply(engineer, echo)
                middle = time.perf_counter()
                await ws.send(frame)
                await _reply(engineer, ws)
                end = time.perf_counter()
                if i >= warmup:
                    direct.append(middle - start)
                    relay.append(end - middle)
            say(json.dumps({"frame": len(frame), "direct": direct, "relay": relay}))
        else:
            raise SystemExit(f"unknown command {line!r}")
    await echo.close()
    await ws.close()


def main(argv: list[str]) -> None:
    if argv[:1] == ["agent"] and len(argv) == 4:
        asyncio.run(agent(*argv[1:]))
    elif argv[:1] == ["client"] and len(argv) == 7:
        asyncio.run(client(*argv[1:]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
