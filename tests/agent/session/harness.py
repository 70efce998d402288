"""A real agent runtime (connection, guard, panel) against the in-process test server, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agent.app import AgentRuntime
from agent.config import AgentConfig
from agent.connection import AgentClient, IdentityStore
from agent.session.book import Prompt
from protocol.actions import CommandParams, PushFileParams
from protocol.codec import FileChunk
from protocol.limits import MAX_CHUNK_PAYLOAD
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    ConsentRequest,
    EngineerIdentity,
    SessionAccept,
    SessionOffer,
    SessionOfferBody,
    new_id,
)
from tests.agent.connection.peer import PeerConnection, PeerServer


def agent_config(tmp: Path, server: PeerServer | None, **overrides: Any) -> AgentConfig:
    values: dict[str, Any] = {
        "server": server.url if server else None,
        "data_dir": tmp / "agent",
        "ca": server.ca if server else None,
        "inbox": tmp / "inbox",
        "consent_timeout": 5,
        "open_browser": False,
        "reconnect_min": 0.05,
        "reconnect_max": 0.3,
        "lang": "en",
        **overrides,
    }
    return AgentConfig(**values)


@contextlib.asynccontextmanager
async def running_agent(
    tmp: Path, **overrides: Any
) -> AsyncIterator[tuple[PeerServer, AgentRuntime, PeerConnection]]:
    server = PeerServer(tmp / "server")
    await server.start()
    server.add_code("TEST-CODE-0001", "dev-1")
    config = agent_config(tmp, server, **overrides)
    await AgentClient(server.url, server.ca, IdentityStore(config.data_dir)).enroll("TEST-CODE-0001", "pc")
    runtime = AgentRuntime(config)
    task = asyncio.ensure_future(runtime.run())
    try:
        link = await server.link()
        yield server, runtime, link
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, 10)
        await server.stop()


async def wait_prompt(runtime: AgentRuntime, kind: str, timeout: float = 5.0) -> Prompt:  # noqa: ASYNC109 (one deadline over several awaits)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompt = runtime.guard.book.prompt
        if prompt is not None and prompt.kind == kind:
            return prompt
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no {kind} prompt")


async def start_session(server: PeerServer, runtime: AgentRuntime, session: str = "sess-1") -> str:
    engineer = EngineerIdentity(id="E1001", name="Wang Wei")
    await server.send(
        SessionOffer(session=session, body=SessionOfferBody(ticket_id="t-1", engineer=engineer))
    )
    prompt = await wait_prompt(runtime, "session")
    assert prompt.content["engineer"] == {"name": "Wang Wei", "id": "E1001"}
    assert runtime.answer(prompt.id, True)
    await server.expect(SessionAccept, session=session)
    return session


async def request(server: PeerServer, session: str, action: Any, reason: str = "test") -> str:
    action_id = new_id()
    await server.send(
        ActionRequest(
            session=session, body=ActionRequestBody(action_id=action_id, action=action, reason=reason)
        )
    )
    return action_id


async def consented_command(
    server: PeerServer,
    runtime: AgentRuntime,
    session: str,
    command: str,
    timeout_s: int = 30,
    send_output: bool = False,
) -> str:
    action_id = await request(server, session, CommandParams(command=command, timeout_s=timeout_s))
    await server.expect(ConsentRequest, body__action_id=action_id)
    prompt = await wait_prompt(runtime, "action")
    runtime.answer(prompt.id, True, send_output=send_output)
    return action_id


async def release_output(
    runtime: AgentRuntime,
    action_id: str,
    send: bool = True,
    timeout: float = 10.0,  # noqa: ASYNC109 (one deadline over several awaits)
) -> None:
    """Wait until the command's output is held for the user, then send it (or keep it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = runtime.guard.book.actions.get(action_id)
        if record is not None and record.held is not None:
            assert runtime.release(action_id, send)
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no output held for {action_id}")


def push_params(name: str, data: bytes, size: int | None = None, sha256: str | None = None) -> PushFileParams:
    return PushFileParams(
        name=name, size=len(data) if size is None else size, sha256=sha256 or hashlib.sha256(data).hexdigest()
    )


async def send_file(server: PeerServer, action_id: str, data: bytes, stop_at: int | None = None) -> None:
    end = len(data) if stop_at is None else stop_at
    offset = 0
    while True:
        piece = data[offset : min(offset + MAX_CHUNK_PAYLOAD, end)]
        last = offset + len(piece) >= len(data)
        await server.send_chunk(FileChunk(action_id, offset, piece, last))
        offset += len(piece)
        if last or offset >= end:
            return


def tree(path: Path) -> set[str]:
    """Every path under `path`, relative (to prove nothing outside the inbox was touched)."""
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()
