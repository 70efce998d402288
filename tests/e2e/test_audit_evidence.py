"""At a session's end the real agent receives and keeps the server's audit proof, and checks it offline
against the key the operator publishes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from protocol.messages import SessionEnd
from tests.e2e.harness import RealServer, engineer, eventually, real_agent
from tests.e2e.test_session import open_session


async def test_the_user_keeps_a_proof_of_each_session(tmp_path: Path, server: RealServer) -> None:
    with real_agent(tmp_path, server) as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "evidence test")
            await asyncio.to_thread(agent.post, "/api/end")  # the user ends it
            await eng.expect(SessionEnd, session=session)
            folder = agent.data / "evidence"
            assert await eventually(lambda: any(folder.glob(f"{session}-*.json")), within=30)
        (kept,) = folder.glob(f"{session}-*.json")
        assert kept.stat().st_mode & 0o777 == 0o600
        document = json.loads(kept.read_text())
        assert document["checked_on_arrival"]["ok"], document["checked_on_arrival"]
        assert document["checked_on_arrival"]["kind"] == "session.end"
        published = (await asyncio.to_thread(server.admin, "audit", "key")).strip().splitlines()[-1]
        listed = await asyncio.to_thread(agent.cli, "evidence", "--key", published, "--json")
        (item,) = [i for i in json.loads(listed)["evidence"] if i["session"] == session]
        assert item["ok"] and item["index"] < item["size"]
