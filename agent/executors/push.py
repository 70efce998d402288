"""The push executor: a file from the engineer into the user's inbox, never anywhere else.

Chunks arrive through the guard only while the session book says the push is allowed and running
(`SessionBook.running`); they are written in order to a temporary file that is renamed into place after
the SHA-256 matches (`agent.inbox`). A push that stalls (`push_idle_timeout`), that the relay rejects
(hash mismatch) or that the kill switch stops leaves no file behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.executors.base import ActionFailed, BaseExecutor, Done, Job, Stopped
from agent.executors.described import REFUSED_INBOX, REFUSED_VAULT, Described, human_size
from agent.i18n import Lang, Text
from agent.inbox import Inbox, InboxError, PendingFile, sanitize_name
from protocol.actions import PushFileOutcome, PushFileParams
from protocol.codec import FileChunk

PROGRESS_STEPS = 10  # progress messages per pushed file
T_PUSH = Text("接收文件", "Receive a file")
T_PUSH_WHAT = Text(
    "工程师想发送一个文件（{size}）到收件箱，保存为 “{name}”。文件不会被自动打开或运行。",
    "The engineer wants to send you a file ({size}) into your inbox, saved as “{name}”. "
    "It will not be opened or run automatically.",
)
T_PUSH_RISK = Text("只有在您信任它时才打开这个文件。", "Only open the file if you trust it.")
T_PUSH_UNDO = Text("删除收件箱里的这个文件即可", "Delete the file from the inbox")
FILE_SAVED = Text(
    "文件已保存到收件箱：“{name}”（{size}，SHA-256 已核对）。它不会被自动打开。",
    "File saved in the inbox: “{name}” ({size}, SHA-256 checked). It will not be opened automatically.",
)


@dataclass
class Receiving:
    """A push in flight: the file being written and the future its last chunk (or a failure) settles."""

    pending: PendingFile
    done: asyncio.Future[str]
    last_chunk: float = field(default_factory=time.monotonic)
    progress_sent: int = 0


class PushExecutor(BaseExecutor):
    kind = "push_file"

    def __init__(self, inbox: Inbox, touches_vault: Callable[[str], bool], idle_timeout: float) -> None:
        self.inbox = inbox
        self.touches_vault = touches_vault
        self.idle_timeout = idle_timeout

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, PushFileParams)
        name = sanitize_name(params.name)
        return Described(
            "push_file",
            T_PUSH.render(lang),
            T_PUSH_WHAT.render(lang, size=human_size(params.size), name=name),
            reason,
            T_PUSH_RISK.render(lang),
            "medium",
            T_PUSH_UNDO.render(lang),
        )

    def refusal(self, params: Any) -> Text | None:
        assert isinstance(params, PushFileParams)
        if self.touches_vault(str(self.inbox.directory / sanitize_name(params.name))):
            return REFUSED_VAULT
        try:
            self.inbox.check(params.size)
        except (InboxError, OSError) as exc:
            why = exc.code if isinstance(exc, InboxError) else str(exc)
            return Text(REFUSED_INBOX.zh.replace("{why}", why), REFUSED_INBOX.en.replace("{why}", why))
        return None

    async def run(self, job: Job) -> Done:
        params = job.params
        assert isinstance(params, PushFileParams)
        try:
            pending = self.inbox.begin(job.action_id, params.name, params.size, params.sha256)
        except InboxError as exc:
            raise ActionFailed(str(exc)) from exc
        work = Receiving(pending, asyncio.get_running_loop().create_future())
        job.work = work
        job.progress(done=0, total=params.size)
        while True:
            idle = time.monotonic() - work.last_chunk
            try:
                async with asyncio.timeout(max(0.1, self.idle_timeout - idle)):
                    name = await asyncio.shield(work.done)
                break
            except TimeoutError:
                if time.monotonic() - work.last_chunk >= self.idle_timeout:
                    raise ActionFailed(f"stalled: no data for {self.idle_timeout:.0f} s") from None
            except InboxError as exc:
                raise ActionFailed(str(exc)) from exc
        job.show("file", FILE_SAVED, name=name, size=human_size(params.size))
        return Done(PushFileOutcome(saved_as=name, size=params.size, sha256=params.sha256))

    def receive(self, job: Job, chunk: FileChunk) -> None:
        work = job.work
        if not isinstance(work, Receiving) or work.done.done():
            return
        work.last_chunk = time.monotonic()
        try:
            name = work.pending.write(chunk)
        except InboxError as exc:
            work.done.set_exception(exc)
            return
        if name is not None:
            work.done.set_result(name)
            return
        size = work.pending.size
        step = size // PROGRESS_STEPS or 1
        if work.pending.received // step > work.progress_sent:
            work.progress_sent = work.pending.received // step
            job.progress(done=work.pending.received, total=size)

    def reject(self, job: Job, why: str) -> None:
        """The relay refused the last chunk (hash mismatch): give up now, not at the idle timeout."""
        work = job.work
        if isinstance(work, Receiving) and not work.done.done():
            work.done.set_exception(InboxError("rejected", why))

    def stop(self, job: Job) -> Stopped:
        work = job.work
        if not isinstance(work, Receiving):
            return Stopped()
        files = 0
        if not work.pending.done:
            work.pending.abort()
            files = 1
        if not work.done.done():
            work.done.cancel()
        return Stopped(files=files)

    def cleanup(self, job: Job) -> None:
        work = job.work
        if isinstance(work, Receiving) and not work.pending.done:
            work.pending.abort()
