"""The push executor on its own: chunks in order into the inbox, progress, a stall, the kill switch."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from agent.executors.base import ActionFailed, Job
from agent.executors.push import PushExecutor, Receiving
from agent.inbox import Inbox
from protocol.actions import PushFileOutcome, PushFileParams
from protocol.codec import FileChunk
from tests.agent.executors.conftest import Recorder


def params(data: bytes, name: str = "fix.bin") -> PushFileParams:
    return PushFileParams(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())


async def started(job: Job, ex: PushExecutor) -> asyncio.Task[object]:
    task: asyncio.Task[object] = asyncio.ensure_future(ex.run(job))
    for _ in range(200):
        if isinstance(job.work, Receiving):
            return task
        await asyncio.sleep(0.005)
    raise TimeoutError("the push never started")


async def test_chunks_land_in_the_inbox_with_progress(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    recorder = Recorder({"p1"})
    ex = PushExecutor(Inbox(tmp_path / "inbox", 1 << 20), lambda _t: False, 30.0)
    job = Job("p1", "s1", params(data), recorder)
    task = await started(job, ex)
    for offset in range(0, len(data), 10_000):
        ex.receive(job, FileChunk("p1", offset, data[offset : offset + 10_000], offset + 10_000 >= len(data)))
    done = await task
    assert isinstance(done.outcome, PushFileOutcome) and done.outcome.saved_as == "fix.bin"  # type: ignore[attr-defined]
    assert (tmp_path / "inbox" / "fix.bin").read_bytes() == data
    assert [p["done"] for p in recorder.progress_seen] == [
        0,
        10_000,
        20_000,
        30_000,
        40_000,
        50_000,
        60_000,
        70_000,
        80_000,
        90_000,
    ]


async def test_stop_deletes_the_partial_file_and_a_stall_fails(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    inbox = tmp_path / "inbox"
    ex = PushExecutor(Inbox(inbox, 1 << 20), lambda _t: False, 0.3)
    job = Job("p1", "s1", params(data), Recorder({"p1"}))
    task = await started(job, ex)
    ex.receive(job, FileChunk("p1", 0, data[:1000], False))
    assert ex.stop(job).files == 1
    await asyncio.gather(task, return_exceptions=True)
    assert list(inbox.iterdir()) == []
    stalled = Job("p2", "s1", params(data), Recorder({"p2"}))
    with pytest.raises(ActionFailed, match="stalled"):
        await ex.run(stalled)
    ex.cleanup(stalled)
    assert list(inbox.iterdir()) == []


async def test_a_rejected_push_fails_at_once_and_big_or_vault_pushes_are_refused(tmp_path: Path) -> None:
    data = b"abc"
    vault = str(tmp_path / "Private")
    ex = PushExecutor(Inbox(tmp_path / "inbox", 10), lambda t: t.startswith(vault), 30.0)
    job = Job("p1", "s1", params(data), Recorder({"p1"}))
    task = await started(job, ex)
    ex.reject(job, "hash mismatch")
    with pytest.raises(ActionFailed, match="rejected"):
        await task
    assert ex.refusal(params(b"x" * 11)) is not None  # over this PC's limit
    assert ex.refusal(params(data, name="Private")) is None  # the inbox is not the vault ...
    vaulted = PushExecutor(Inbox(tmp_path / "Private", 10), lambda t: t.startswith(vault), 30.0)
    assert vaulted.refusal(params(data)) is not None  # ... unless it lies inside it
