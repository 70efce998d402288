"""File pushes through a real agent over a real WSS connection: every hostile case ends with either one
safe file inside the inbox or nothing at all — never a partial file, never anything outside the inbox."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.actions import PushFileOutcome
from protocol.messages import ActionResult, ConsentReply, ConsentRequest
from tests.agent.session.harness import (
    push_params,
    request,
    running_agent,
    send_file,
    start_session,
    tree,
    wait_prompt,
)


async def _push(server, runtime, session, name: str, data: bytes, **kw: object) -> tuple[str, ActionResult]:  # type: ignore[no-untyped-def]
    action_id = await request(server, session, push_params(name, data, **kw))  # type: ignore[arg-type]
    await server.expect(ConsentRequest, body__action_id=action_id)
    runtime.answer((await wait_prompt(runtime, "action")).id, True)
    await server.expect(ConsentReply, body__action_id=action_id)
    await send_file(server, action_id, data)
    return action_id, await server.expect(ActionResult, body__action_id=action_id)


@pytest.mark.parametrize(
    ("hostile", "saved"),
    [
        ("../../etc/x", "_._etc_x"),
        ("/etc/passwd", "_etc_passwd"),
        ("CON", "_CON"),
        ("a\x00b.txt", "ab.txt"),
        ("y" * 250 + ".txt", None),
    ],
)
async def test_hostile_names_land_inside_the_inbox(tmp_path: Path, hostile: str, saved: str | None) -> None:
    outside_before = tree(tmp_path.parent)
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        data = os.urandom(70_000)
        _id, result = await _push(server, runtime, session, hostile, data)
        assert result.body.status == "ok", result.body.error
        outcome = result.body.outcome
        assert isinstance(outcome, PushFileOutcome)
        if saved is not None:
            assert outcome.saved_as == saved
        inbox = runtime.config.inbox_dir
        assert [p.name for p in inbox.iterdir()] == [outcome.saved_as]
        assert (inbox / outcome.saved_as).read_bytes() == data
        assert len(outcome.saved_as.encode()) <= 180
    # Nothing appeared anywhere but our own test directory.
    assert {p for p in tree(tmp_path.parent) - outside_before if not p.startswith(tmp_path.name)} == set()


async def test_hash_mismatch_leaves_nothing(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        data = os.urandom(600_000)
        _id, result = await _push(
            server, runtime, session, "f.bin", data, sha256=hashlib.sha256(b"x").hexdigest()
        )
        assert result.body.status == "failed"
        assert "hash_mismatch" in (result.body.error or "")
        assert tree(runtime.config.inbox_dir) == set()


async def test_oversized_push_refused_before_asking(tmp_path: Path) -> None:
    async with running_agent(tmp_path, max_push_size=1000) as (server, runtime, _link):
        session = await start_session(server, runtime)
        action_id = await request(server, session, push_params("big.bin", b"", size=1001, sha256="0" * 64))
        reply = await server.expect(ConsentReply, body__action_id=action_id)
        assert reply.body.decision == "refused"
        assert runtime.guard.book.prompt is None
        assert tree(runtime.config.inbox_dir) == set()


async def test_chunks_before_consent_are_never_written(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        data = b"sneaky"
        action_id = await request(server, session, push_params("s.txt", data))
        await server.expect(ConsentRequest, body__action_id=action_id)
        await send_file(server, action_id, data)  # before Allow
        await asyncio.sleep(0.1)
        runtime.answer((await wait_prompt(runtime, "action")).id, False)
        await server.expect(ConsentReply, body__action_id=action_id)
        await send_file(server, action_id, data)  # after Deny
        await asyncio.sleep(0.1)
        assert tree(runtime.config.inbox_dir) == set()


async def test_dropped_connection_midway_deletes_the_partial_file(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, link):
        session = await start_session(server, runtime)
        data = os.urandom(3 * 1024 * 1024)
        action_id = await request(server, session, push_params("half.bin", data))
        await server.expect(ConsentRequest, body__action_id=action_id)
        runtime.answer((await wait_prompt(runtime, "action")).id, True)
        await server.expect(ConsentReply, body__action_id=action_id)
        await send_file(server, action_id, data, stop_at=1024 * 1024)
        for _ in range(100):
            job = runtime.guard.jobs.get(action_id)
            if job is not None and job.work is not None and job.work.pending.received:
                break
            await asyncio.sleep(0.01)
        link.ws.transport.abort()  # the network goes away
        for _ in range(200):
            if runtime.guard.session is None:
                break
            await asyncio.sleep(0.01)
        assert runtime.guard.session is None
        assert tree(runtime.config.inbox_dir) == set()
        await server.link()  # and the agent comes back by itself


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs, mounted for the test and removed after it (needs root, as CI has)."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


async def test_full_disk_refused_first_and_failing_midway_cleans_up(tmp_path: Path, small_disk: Path) -> None:
    inbox = small_disk / "RME Inbox"
    async with running_agent(tmp_path, inbox=inbox, inbox_reserve=0) as (server, runtime, _link):
        session = await start_session(server, runtime)
        # Bigger than the disk: refused before the user is even asked.
        big = await request(server, session, push_params("big.bin", b"", size=8 << 20, sha256="0" * 64))
        assert (await server.expect(ConsentReply, body__action_id=big)).body.decision == "refused"
        # Fits when asked, but the disk fills up before the bytes come: fails, leaves nothing behind.
        data = os.urandom(3 << 20)
        action_id = await request(server, session, push_params("late.bin", data))
        await server.expect(ConsentRequest, body__action_id=action_id)
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * (2 << 20))
        runtime.answer((await wait_prompt(runtime, "action")).id, True)
        result = await server.expect(ActionResult, body__action_id=action_id)
        assert result.body.status == "failed" and "disk_full" in (result.body.error or "")
        assert tree(inbox) == set()
