"""Writing a pushed OS image to a disk, end to end: a real `rme-server`, a test engineer over WSS, and
the rescue agent's runtime (rescue mode) with its real rescue screen drawn on a pseudo-terminal — the
test reads the screen and types on it as the user would on tty1 or the serial console.

The engineer pushes an image (the one-way push, Allow with `Y`), asks to write it to a disk, the user
allows (`Y`) and types the disk's name: the loop disk holds the image byte for byte. A wrong name and a
Deny leave it unchanged. The engineer gets the verdict and sizes, never what the screen showed of the
disk. The disk is a loop device the test makes; `lsblk` does not call a loop device a disk, so the
executor's lister (its seam) is handed it — the only thing not real here."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.app import AgentRuntime
from agent.config import AgentConfig
from agent.executors.rescue_write import WriteImageExecutor
from agent.rescue import disks, imaging
from agent.rescue.boot import RescueBoot
from agent.rescue.screen import Terminals
from bench._loopfs import missing
from protocol.actions import PushFileOutcome, PushFileParams, RescueWriteImageOutcome, RescueWriteImageParams
from protocol.messages import (
    ActionResult,
    ConsentReply,
    HelpRequest,
    HelpRequestBody,
    SessionAccept,
    Welcome,
)
from tests.e2e.harness import RealServer, cli, engineer
from tests.lab.managed import require
from tests.localnet import write_local_diagnosis
from tests.rescue.disks import loop_system_disk


@pytest.fixture
def loop_disk(tmp_path: Path) -> Iterator[str]:
    require(missing())
    with loop_system_disk(tmp_path / "disk.img", 32 << 20, "Old Linux 1.0") as device:
        yield device


class Screen:
    """The user's side of a pseudo-terminal the rescue screen draws on."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.path = Path(os.ttyname(slave))
        self.slave = slave
        self.seen = ""
        self.updated = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.master, self._read)

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
        self.seen = self.seen[-200_000:]
        self.updated.set()

    def frame(self) -> str:
        return self.seen.rsplit("\x1b[2J\x1b[H", 1)[-1]

    async def wait_for(self, text: str, timeout: float = 20.0) -> str:  # noqa: ASYNC109 (one deadline)
        async with asyncio.timeout(timeout):
            while text not in self.frame():
                self.updated.clear()
                await self.updated.wait()
        return self.frame()

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)


@contextlib.asynccontextmanager
async def rescue_agent(
    tmp: Path, server: RealServer, disk: str
) -> AsyncIterator[tuple[AgentRuntime, Screen]]:
    data = tmp / "rescue-agent"
    await asyncio.to_thread(
        cli, "rme-agent", "enroll", server.enroll_code(), "--server", server.url, "--ca", str(server.ca),
        "--data-dir", str(data),
    )  # fmt: skip
    config = AgentConfig(
        server=server.url,
        data_dir=data,
        ca=server.ca,
        inbox=tmp / "inbox",
        lang="en",
        open_browser=False,
        rescue=True,
        consent_timeout=30,
        reconnect_min=0.1,
        reconnect_max=0.5,
        config_file=write_local_diagnosis(tmp / "agent.toml"),
    )
    runtime = AgentRuntime(config)
    writer = runtime.guard.executors["rescue_write_image"]
    assert isinstance(writer, WriteImageExecutor)
    size = imaging.device_size(disk)
    writer.lister = lambda: [
        disks.Disk(disk, size, "Test Disk", False, partitions=[disks.Partition(disk, size, "ext4", "OLDSYS")])
    ]
    screen = Screen()
    terms = Terminals([screen.path])
    boot = RescueBoot(terms, tmp / "no.slot", tmp / "no.pub", data)
    boot.runtime = runtime
    terms.start()
    task = asyncio.ensure_future(runtime.run())
    await runtime.ready.wait()
    drawing = asyncio.ensure_future(boot.screen(task))
    try:
        await screen.wait_for("RME-STATE: online")
        yield runtime, screen
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, 10)
        await asyncio.wait_for(drawing, 5)
        terms.close()
        screen.close()


def disk_bytes(device: str, size: int) -> bytes:
    with open(device, "rb") as dev:
        return dev.read(size)


async def test_push_then_write_with_the_typed_name(
    tmp_path: Path, server: RealServer, loop_disk: str
) -> None:
    name = loop_disk.rsplit("/", 1)[-1]
    image = os.urandom(7 << 20) + b"a new system"
    async with rescue_agent(tmp_path, server, loop_disk) as (runtime, screen), engineer(server) as eng:
        await eng.expect(Welcome)
        words = "the PC does not start; reinstall please"
        assert runtime.client is not None
        await runtime.client.request_help(
            HelpRequest(body=HelpRequestBody(words=words, report=None, lang="en"))
        )
        await eng.accept_ticket_of(words)
        await screen.wait_for("RME-PROMPT: session")
        screen.type("y")
        session = (await eng.expect(SessionAccept)).session or ""

        # The one-way push: the image lands in the inbox.
        sha = hashlib.sha256(image).hexdigest()
        pushed = await eng.request(
            session, PushFileParams(name="new-system.img", size=len(image), sha256=sha)
        )
        await screen.wait_for("RME-PROMPT: action")
        screen.type("y")
        assert (await eng.expect(ConsentReply, body__action_id=pushed)).body.decision == "allowed"
        await eng.push(pushed, image)
        stored = (await eng.expect(ActionResult, body__action_id=pushed, timeout=30)).body.outcome
        assert isinstance(stored, PushFileOutcome)

        # Allow, then the second confirmation names the disk and what is on it: type its name.
        request = RescueWriteImageParams(image=stored.saved_as, sha256=sha, disk=loop_disk)
        write = await eng.request(session, request, reason="reinstall")
        shown = await screen.wait_for("RME-PROMPT: action")
        assert f"Write a system image onto disk {loop_disk}" in shown and "Everything on that disk" in shown
        screen.type("y")
        assert (await eng.expect(ConsentReply, body__action_id=write)).body.decision == "allowed"
        shown = await screen.wait_for(f"RME-PROMPT: disk {name}")
        for word in (
            "Test Disk",
            "33.6 MB",
            "OLDSYS",
            "Old Linux 1.0",
            "new-system.img",
            f"type the disk's name {name}",
        ):
            assert word in shown, word
        assert "请输入这块硬盘的名字" in shown  # both languages on the screen
        screen.type(name[:-1])
        assert f"You typed: {name[:-1]}" in await screen.wait_for(f"You typed: {name[:-1]}")
        screen.type(name[-1] + "\r")
        result = await eng.expect(ActionResult, body__action_id=write, timeout=60)
        assert result.body.status == "ok", result.body.error
        outcome = result.body.outcome
        assert isinstance(outcome, RescueWriteImageOutcome)
        assert (outcome.confirmed, outcome.verified, outcome.written, outcome.image_bytes) == (
            True, True, len(image), len(image),
        )  # fmt: skip
        assert disk_bytes(loop_disk, len(image)) == image
        await screen.wait_for("the read-back matches")
        # What the user was shown of the disk never reached the engineer.
        text = [f for f in eng.frames if isinstance(f, str)]
        assert not any("OLDSYS" in f or "Old Linux" in f for f in text)

        after = disk_bytes(loop_disk, 32 << 20)
        # A wrong name: cancelled, the disk unchanged.
        wrong = await eng.request(session, request, reason="again")
        await screen.wait_for("RME-PROMPT: action")
        screen.type("y")
        await screen.wait_for(f"RME-PROMPT: disk {name}")
        screen.type("yes\r")
        result = await eng.expect(ActionResult, body__action_id=wrong, timeout=30)
        assert result.body.status == "failed" and "nothing was written" in (result.body.error or "")
        assert isinstance(result.body.outcome, RescueWriteImageOutcome) and not result.body.outcome.confirmed
        await screen.wait_for("cancelled, disk")
        # A Deny: nothing happens at all.
        denied = await eng.request(session, request, reason="once more")
        await screen.wait_for("RME-PROMPT: action")
        screen.type("n")
        assert (await eng.expect(ConsentReply, body__action_id=denied)).body.decision == "denied"
        assert disk_bytes(loop_disk, 32 << 20) == after
