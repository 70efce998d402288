"""File pushes through the real relay to a real agent process: hostile names, oversized files, a full disk,
a hash mismatch, a connection dropped midway. Each ends with one safe file in the inbox or nothing at all,
and nothing outside the inbox is touched."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.actions import PushFileOutcome, PushFileParams
from protocol.messages import ActionResult, ConsentReply, Error, SessionEnd, SessionEndBody, new_id
from tests.e2e.harness import Engineer, RealAgent, RealServer, engineer, real_agent
from tests.e2e.test_session import answer_next, open_session


def params(name: str, data: bytes, size: int | None = None, sha: str | None = None) -> PushFileParams:
    return PushFileParams(
        name=name, size=len(data) if size is None else size, sha256=sha or hashlib.sha256(data).hexdigest()
    )


def snapshot(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


async def allowed_push(
    eng: Engineer, agent: RealAgent, session: str, push: PushFileParams, data: bytes
) -> ActionResult:
    action = await eng.request(session, push)
    await answer_next(agent, True)
    assert (await eng.expect(ConsentReply, body__action_id=action)).body.decision == "allowed"
    await eng.push(action, data)
    return await eng.expect(ActionResult, body__action_id=action, timeout=20)


async def test_hostile_names_oversize_and_hash_mismatch(tmp_path: Path, server: RealServer) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("keep")
    before = snapshot(tmp_path / "outside")
    # A long idle timeout: the hash mismatch below must fail at once, not by stalling.
    with real_agent(tmp_path, server, RME_PUSH_IDLE_TIMEOUT="60", RME_MAX_PUSH_SIZE=str(8 << 20)) as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "please send me the driver")
            hostile = {
                "../../outside/x": "_._outside_x",
                str(outside / "x"): None,
                "CON": "_CON",
                "evil\x00.txt": "evil.txt",
                "文" * 250 + ".zip": None,  # 250 characters, 754 bytes: cut to 180 bytes, extension kept
            }
            saved: list[str] = []
            for name, expected in hostile.items():
                data = os.urandom(300_000)
                result = await allowed_push(eng, agent, session, params(name, data), data)
                assert result.body.status == "ok", result.body.error
                outcome = result.body.outcome
                assert isinstance(outcome, PushFileOutcome)
                assert "/" not in outcome.saved_as and len(outcome.saved_as.encode()) <= 180
                if expected is not None:
                    assert outcome.saved_as == expected
                assert (agent.inbox / outcome.saved_as).read_bytes() == data
                saved.append(outcome.saved_as)
            assert sorted(p.name for p in agent.inbox.iterdir()) == sorted(saved)
            assert any(name.endswith(".zip") and name.startswith("文") for name in saved)

            # 300 characters is past the protocol's limit: the relay drops the frame, nobody is asked.
            raw = {
                "v": 1,
                "type": "action.request",
                "id": new_id(),
                "session": session,
                "ts": 0,
                "body": {
                    "action_id": new_id(),
                    "reason": "",
                    "action": {
                        "kind": "push_file",
                        "name": "n" * 300 + ".zip",
                        "size": 1,
                        "sha256": "0" * 64,
                    },
                },
            }
            await eng.ws.send(json.dumps(raw))
            error = await eng.expect(Error)
            assert error.body.code == "frame.dropped"
            assert agent.state()["guard"]["prompts"] == []

            # Bigger than this PC accepts: refused before the user is asked.
            big = await eng.request(session, params("big.iso", b"", size=64 << 20, sha="0" * 64))
            assert (await eng.expect(ConsentReply, body__action_id=big)).body.decision == "refused"

            # Bytes that do not match their hash: the relay holds back the last chunk and tells the
            # agent, which gives up at once and deletes what it had.
            data = os.urandom(700_000)
            started = time.monotonic()
            bad = await allowed_push(eng, agent, session, params("bad.bin", data, sha="ab" * 32), data)
            assert bad.body.status == "failed"
            assert "rejected" in (bad.body.error or "")
            assert time.monotonic() - started < 20
            assert sorted(p.name for p in agent.inbox.iterdir()) == sorted(saved)
    assert snapshot(tmp_path / "outside") == before


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs, mounted for the test and removed after it (root, as in CI)."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


async def test_full_disk_and_dropped_connection_leave_nothing(
    tmp_path: Path, server: RealServer, small_disk: Path
) -> None:
    inbox = small_disk / "RME Inbox"
    with real_agent(tmp_path, server, RME_INBOX=str(inbox), RME_INBOX_RESERVE="0") as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "need a file")
            too_big = await eng.request(session, params("big.bin", b"", size=8 << 20, sha="0" * 64))
            assert (await eng.expect(ConsentReply, body__action_id=too_big)).body.decision == "refused"
            data = os.urandom(3 << 20)
            action = await eng.request(session, params("half.bin", data))
            await answer_next(agent, True)
            await eng.expect(ConsentReply, body__action_id=action)
            await eng.push(action, data, stop_at=1 << 20)
            await asyncio.sleep(0.3)
            eng.ws.transport.abort()  # the engineer's connection drops midway
        # The session waits for the engineer to come back (the grace period), but the push cannot go on
        # without the connection that held the file: the agent deletes the partial file at once, long
        # before its own idle timeout.
        for _ in range(100):
            if not list(inbox.iterdir()):
                break
            await asyncio.sleep(0.05)
        assert list(inbox.iterdir()) == []
        assert agent.state()["guard"]["session"] is not None
        assert {p.name for p in small_disk.iterdir()} == {"RME Inbox"}  # noqa: ASYNC240


async def test_engineer_end_reaches_the_agent(tmp_path: Path, server: RealServer) -> None:
    with real_agent(tmp_path, server) as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "done quickly")
            await eng.send(SessionEnd(session=session, body=SessionEndBody(reason="resolved")))
            for _ in range(100):
                if agent.state()["guard"]["session"] is None:
                    break
                await asyncio.sleep(0.05)
            assert agent.state()["guard"]["session"] is None
