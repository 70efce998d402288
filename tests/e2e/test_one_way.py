"""An engineer tries to get a file off the PC every way the protocol allows (a consented command excepted,
which the user sees verbatim and here denies). A canary file's contents must never reach the engineer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Mapping
from pathlib import Path

from protocol.actions import CommandOutcome, CommandParams, DiagnoseParams, PushFileParams, RepairParams
from protocol.codec import FileChunk, encode_chunk
from protocol.messages import ActionResult, ConsentReply, Error, new_id
from tests.e2e.harness import RealServer, engineer, real_agent
from tests.e2e.test_session import answer_next, open_session


def raw_frame(kind: str, session: str | None, body: Mapping[str, object]) -> str:
    return json.dumps({"v": 1, "type": kind, "id": new_id(), "session": session, "ts": 0, "body": body})


async def test_no_way_to_obtain_a_file(tmp_path: Path, server: RealServer) -> None:
    token = secrets.token_hex(24)
    canary = tmp_path / "private" / "bank.txt"
    canary.parent.mkdir()
    canary.write_text(f"password={token}\n")
    with real_agent(tmp_path, server) as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "internet down")
            # 1. A command that would print it: shown verbatim; the user says no.
            cat = await eng.request(session, CommandParams(command=f"cat {canary}"))
            prompt = await asyncio.to_thread(agent.wait_prompt, "action")
            assert prompt["content"]["en"]["verbatim"] == f"cat {canary}"
            await asyncio.to_thread(agent.answer, prompt["id"], False)
            assert (await eng.expect(ConsentReply, body__action_id=cat)).body.decision == "denied"
            # 2. A push "onto" it: a new file in the inbox, the canary untouched, only a name returns.
            data = b"not your file"
            push = await eng.request(
                session,
                PushFileParams(name=str(canary), size=len(data), sha256=hashlib.sha256(data).hexdigest()),
            )
            await answer_next(agent, True)
            await eng.expect(ConsentReply, body__action_id=push)
            await eng.push(push, data)
            result = await eng.expect(ActionResult, body__action_id=push)
            assert result.body.outcome is not None and result.body.outcome.kind == "push_file"
            assert canary.read_text() == f"password={token}\n"
            # 3. A diagnosis: network facts only.
            diag = await eng.request(session, DiagnoseParams())
            await answer_next(agent, True)
            await eng.expect(ActionResult, body__action_id=diag, timeout=20)
            # 4. A repair that does not exist.
            rep = await eng.request(session, RepairParams(repair="read.file"))
            await answer_next(agent, True)
            assert (await eng.expect(ActionResult, body__action_id=rep)).body.status == "failed"
            # 5. Action kinds that do not exist, and agent-only messages sent by the engineer.
            for kind in ("read_file", "list_dir", "download", "upload"):
                await eng.ws.send(
                    raw_frame(
                        "action.request",
                        session,
                        {"action_id": new_id(), "reason": "", "action": {"kind": kind, "path": str(canary)}},
                    )
                )
                assert (await eng.expect(Error)).body.code == "frame.dropped"
            for kind, body in (
                ("action.result", {"action_id": cat, "status": "ok"}),
                ("consent.reply", {"action_id": cat, "decision": "allowed"}),
                ("help.request", {"words": str(canary)}),
            ):
                await eng.ws.send(raw_frame(kind, session, body))
                assert (await eng.expect(Error)).body.code == "frame.dropped"
            # 6. Chunks for the denied command's id, and binary frames of any other shape.
            await eng.ws.send(encode_chunk(FileChunk(cat, 0, b"x", last=True)))
            await eng.ws.send(b"GET " + str(canary).encode())
            await asyncio.sleep(0.5)
            assert agent.proc.poll() is None
    seen = b"".join(f.encode() if isinstance(f, str) else f for f in eng.frames)
    assert token.encode() not in seen
    assert b"password=" not in seen
    assert not any(isinstance(f, bytes) for f in eng.frames)  # nothing binary ever flows to an engineer


async def test_command_output_is_the_users_until_released(tmp_path: Path, server: RealServer) -> None:
    """A secret at the start of 60 KB of output: the user sees all of it (with its size) before anything
    is sent; nothing of it reaches the engineer until the user releases it, and nothing at all on Keep."""
    token = secrets.token_hex(24)
    secret = tmp_path / "private" / "notes.txt"
    secret.parent.mkdir()
    secret.write_text(f"secret={token}\n" + "filler line of no interest\n" * 2300)  # ~60 KB
    size = secret.stat().st_size
    with real_agent(tmp_path, server) as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "internet down")
            kept = await eng.request(session, CommandParams(command=f"cat {secret}"))
            await answer_next(agent, True)
            assert (await eng.expect(ConsentReply, body__action_id=kept)).body.decision == "allowed"
            shown = await asyncio.to_thread(agent.held_output, kept)
            assert shown["output"].startswith(f"secret={token}\n") and shown["size"] == size
            assert shown["output"].count("\n") == 2301 and not shown["truncated"]
            await asyncio.sleep(0.5)
            assert token.encode() not in b"".join(f.encode() if isinstance(f, str) else f for f in eng.frames)
            await asyncio.to_thread(agent.release, kept, False)  # Keep
            result = await eng.expect(ActionResult, body__action_id=kept)
            outcome = result.body.outcome
            assert isinstance(outcome, CommandOutcome) and outcome.withheld and outcome.output == ""
            assert outcome.exit_code == 0

            sent = await eng.request(session, CommandParams(command=f"head -n 1 {secret}"))
            await answer_next(agent, True)
            await asyncio.to_thread(agent.held_output, sent)
            await asyncio.to_thread(agent.release, sent, True)  # Send
            result = await eng.expect(ActionResult, body__action_id=sent)
            outcome = result.body.outcome
            assert isinstance(outcome, CommandOutcome) and outcome.output.startswith(f"secret={token}")
            assert not outcome.withheld
    seen = b"".join(f.encode() if isinstance(f, str) else f for f in eng.frames)
    assert seen.count(token.encode()) == 1  # only in the one output the user sent
