"""One load-generator process: holds many real agent connections (`agent.connection.client.AgentClient`:
TLS pinned to the operator's CA, device proof bound to the certificate, protocol heartbeats, WebSocket
pings, reconnect with full-jitter back-off), started at a bounded rate.

Run by `bench.agents` as `python -m bench._swarm SPEC.json`; the spec names the server, the CA, the
device ids (registered by `rme-server customer import` with keys derived from `seed`), the rate and a
deadline. It prints one JSON status line a second on stdout and reads commands on stdin:
`help N` (N online agents ask for help; the words carry the wall-clock send time, so the engineer's
side measures help → notified), `churn N` (N random online agents lose their connection and come
back by themselves), `stop`. Every agent accepts a session offered to it and ends it 2 s later.
It exits at the deadline whatever happens.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import agent.connection.client as client_module
from agent.connection.client import AgentClient
from agent.connection.identity import Identity, IdentityStore
from protocol.actions import CommandOutcome
from protocol.messages import (
    ActionRequest,
    ActionResult,
    ActionResultBody,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
    HelpRequest,
    HelpRequestBody,
    Message,
    SessionAccept,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
)
from server.commands.serve import raise_open_files

SESSION_S = 2.0
ending: set[asyncio.Future[None]] = set()


def device_key(seed: bytes, index: int) -> Ed25519PrivateKey:
    """The `index`-th bench device's key: the orchestrator and every swarm derive the same one."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed + index.to_bytes(8, "big")).digest())


def raise_nofile() -> int:
    """The open-file limit as high as `rme-server serve` sets its own (`raise_open_files`)."""
    raise_open_files()
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class MemoryIdentities(IdentityStore):
    """An enrolled identity held in memory (20,000 agents need not write 40,000 files)."""

    def __init__(self, data_dir: Path, identity: Identity) -> None:
        super().__init__(data_dir)
        self.identity = identity

    def load(self) -> Identity | None:
        return self.identity


async def allow_and_answer(client: AgentClient, request: ActionRequest) -> None:
    """The user allows the action; a command "runs" and its one-line output is released (`bench.soak`)."""
    session, action_id = request.session, request.body.action_id
    await client.send(
        ConsentRequest(session=session, body=ConsentRequestBody(action_id=action_id, timeout_s=60))
    )
    await client.send(
        ConsentReply(session=session, body=ConsentReplyBody(action_id=action_id, decision="allowed"))
    )
    if request.body.action.kind == "command":
        outcome = CommandOutcome(exit_code=0, output=f"bench output {action_id}", duration_ms=1)
        body = ActionResultBody(action_id=action_id, status="ok", outcome=outcome)
    else:
        body = ActionResultBody(action_id=action_id, status="failed", error="not run by the bench")
    await client.send(ActionResult(session=session, body=body))


def user_for(client: AgentClient) -> Any:
    """A user who accepts every session offered, allows every action, and ends the session
    `SESSION_S` seconds later."""

    async def on_message(message: Message) -> None:
        if isinstance(message, ActionRequest) and message.session is not None:
            await allow_and_answer(client, message)
            return
        if isinstance(message, SessionOffer) and message.session is not None:
            session = message.session
            await client.send(SessionAccept(session=session))

            async def end_later() -> None:
                await asyncio.sleep(SESSION_S)
                await client.send(SessionEnd(session=session, body=SessionEndBody(reason="ended_by_user")))

            ending.add(asyncio.ensure_future(end_later()))
            for done in [t for t in ending if t.done()]:
                ending.discard(done)

    return on_message


async def run(spec: dict[str, Any]) -> None:
    seed = bytes.fromhex(spec["seed"])
    deadline = time.monotonic() + float(spec["seconds"])
    # One TLS context for the process (the agent makes one per connection; it holds only one).
    client_module.pinned_context = functools.cache(client_module.pinned_context)
    stop = asyncio.Event()
    clients: list[AgentClient] = []
    tasks: list[asyncio.Task[None]] = []
    scratch = Path(spec["scratch"])  # made by `main`

    async def ramp() -> None:
        gap = 1.0 / float(spec["rate"])
        for index, (device_id, customer_id) in zip(spec["indexes"], spec["devices"], strict=True):
            if stop.is_set():
                return
            identity = Identity(device_id, customer_id, device_key(seed, index))
            client = AgentClient(
                spec["server"],
                Path(spec["ca"]),
                MemoryIdentities(scratch, identity),
                reconnect_min=float(spec.get("reconnect_min", 0.5)),
                reconnect_max=float(spec.get("reconnect_max", 30.0)),
                connect_timeout=30.0,
            )
            client.on_message = user_for(client)
            clients.append(client)
            tasks.append(asyncio.create_task(client.run(stop)))
            await asyncio.sleep(gap)

    async def commands() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        asked = 0
        while not stop.is_set():
            line = (await reader.readline()).decode().split()
            if not line or line[0] == "stop":
                stop.set()
                return
            if line[0] == "churn":  # drop N random online agents' connections (they come back)
                online = [c for c in clients if c.state == "online"]
                for client in random.sample(online, min(int(line[1]), len(online))):
                    await client.close()
                continue
            if line[0] == "help":
                # Round the swarm: after the last agent the first asks again (its earlier ticket is long
                # closed), so a long soak keeps asking for help to the end.
                wanted = int(line[1])
                for _ in range(len(clients)):
                    if wanted == 0:
                        break
                    client = clients[asked % len(clients)]
                    asked += 1
                    if client.state == "online":
                        words = f"bench {os.getpid()} {asked} {time.time():.6f}"
                        await client.request_help(HelpRequest(body=HelpRequestBody(words=words, lang="en")))
                        wanted -= 1

    ramping = asyncio.create_task(ramp())
    listening = asyncio.create_task(commands())
    while not stop.is_set() and time.monotonic() < deadline:
        states: dict[str, int] = {}
        for c in clients:
            states[c.state] = states.get(c.state, 0) + 1
        status = {
            "pid": os.getpid(),
            "started": len(clients),
            "online": states.get("online", 0),
            "states": states,
            "connections": sum(c.connections for c in clients),
            "queued": sum(1 for c in clients if c.help.state == "queued"),
        }
        print(json.dumps(status), flush=True)
        await asyncio.sleep(1.0)
    stop.set()
    ramping.cancel()
    listening.cancel()
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    raise_nofile()
    Path(spec["scratch"]).mkdir(parents=True, exist_ok=True)
    import uvloop  # the load generator wants the cheapest loop it can get

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run(spec))


if __name__ == "__main__":
    main()
