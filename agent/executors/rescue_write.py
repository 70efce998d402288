"""Rescue mode: write an operating-system image the engineer pushed onto a whole disk.

    rescue_write_image → `WriteImageExecutor`

The image is a file the engineer already pushed into the inbox (the one-way push: consented, SHA-256
checked); the engineer names it and the disk. Refused before the user is asked: outside the rescue
system, a name that is not a plain file in the inbox, an unknown disk or a partition, the disk the
rescue system runs from, a disk with anything mounted, an image larger than the disk, a compression we
cannot read. After the user's Allow the file's SHA-256 is checked again and the image measured; then
the rescue screen names the disk — path, model, size, partitions, file systems, installed system — and
waits for the user to type its name (`agent.rescue.confirm`). Only then: write (`agent.rescue.imaging`),
fsync, drop caches, read back, compare. The engineer gets the verdict and sizes, never the disk's
contents. The kill switch stops the write between two 4 MiB blocks: the disk is left part image, part
old contents (neither boots reliably; write again)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.executors.base import ActionFailed, BaseExecutor, Done, Job, Stopped
from agent.executors.described import Described
from agent.executors.readable import escape
from agent.i18n import Lang, Text
from agent.rescue import confirm, disks, imaging, targets
from protocol.actions import RescueWriteImageOutcome, RescueWriteImageParams

CONFIRM_TIMEOUT_S = 300.0

T_TITLE = Text("把系统镜像写入硬盘 {disk}", "Write a system image onto disk {disk}")
T_WHAT = Text(
    "把工程师发来的镜像 {image}（在收件箱里）写入整块硬盘 {disk}（{about}）。"
    "这块硬盘上现有的一切都会被抹掉。允许后，还要在救援屏幕上输入硬盘的名字才会开始写。",
    "Write the image {image} the engineer sent (in the inbox) over the whole disk {disk} ({about}). "
    "Everything on that disk now is erased. After you allow it, you must also type the disk's name on "
    "the rescue screen before anything is written.",
)
T_RISK = Text(
    "高：整块硬盘被覆盖，原有的系统和文件都没了。请先把重要文件救到U盘。",
    "High: the whole disk is overwritten; its system and files are gone. Rescue important files first.",
)
T_UNDO = Text("无法撤销", "Cannot be undone")
T_ASK = Text(
    "请在屏幕上输入硬盘的名字 {name} 确认写入（输入别的就取消）。",
    "Type the disk's name {name} on the screen to confirm the write (anything else cancels).",
)
T_CANCELLED = Text(
    "没有输入硬盘的名字：已取消，硬盘 {disk} 没有改动。",
    "The disk's name was not typed: cancelled, disk {disk} unchanged.",
)
T_WRITING = Text("正在写入 {disk}：{percent}%", "Writing {disk}: {percent}%")
T_VERIFYING = Text("正在读回校验 {disk}……", "Reading {disk} back to verify …")
T_DONE = Text(
    "镜像已写入 {disk} 并读回校验无误（{size}）。可以取出救援盘，从这块硬盘启动。",
    "The image is on {disk} and the read-back matches ({size}). You can remove the rescue disk and boot "
    "from this disk.",
)
T_MISMATCH = Text(
    "校验失败：从 {disk} 读回的数据和镜像不一致。这块硬盘可能有坏块，不要用它启动。",
    "Verification failed: what was read back from {disk} differs from the image. The disk may be failing; "
    "do not boot from it.",
)
T_STOPPED = Text(
    "写入已停止：{disk} 只写了一部分，既不是原来的内容，也不能启动。",
    "The write was stopped: {disk} is only partly written; it holds neither its old contents nor a "
    "bootable system.",
)
NOT_RESCUE = Text("只有在救援系统里才能做", "Only possible on the rescue system")
REFUSALS: dict[str, Text] = {
    "image.name": Text("镜像必须是收件箱里的一个文件", "The image must be a file in the inbox"),
    "image.missing": Text("收件箱里没有这个镜像文件", "No such image file in the inbox"),
    "image.not_file": Text("收件箱里的这个名字不是普通文件", "That name in the inbox is not a plain file"),
    "image.format": Text(
        "不支持这种压缩格式（支持：未压缩、.gz、.xz）",
        "This compression is not supported (supported: uncompressed, .gz, .xz)",
    ),
    "disk.unknown": Text("找不到这块硬盘", "No such disk"),
    "disk.partition": Text("这是一个分区，不是整块硬盘", "That is a partition, not a whole disk"),
    "disk.system": Text("救援系统正在从这块盘运行，不能写", "The rescue system runs from this disk"),
    "disk.mounted": Text(
        "这块硬盘上有分区正在使用中（已挂载）", "A partition of this disk is in use (mounted)"
    ),
    "disk.too_small": Text("镜像比这块硬盘大", "The image is larger than the disk"),
}


def _about(disk: disks.Disk) -> str:
    return f"{disk.model or '?'}, {confirm.human_size(disk.size)}"


class WriteImageExecutor(BaseExecutor):
    kind = "rescue_write_image"

    def __init__(
        self,
        enabled: bool,
        *,
        inbox: Path,
        lister: Callable[[], list[disks.Disk]] = disks.disks,
        mounts: Path = Path("/proc/mounts"),
        sys_block: Path = Path("/sys/class/block"),
        confirm_timeout: float = CONFIRM_TIMEOUT_S,
    ) -> None:
        self.enabled = enabled
        self.inbox = inbox
        self.lister = lister  # the seam tests use to offer a loop device as a disk
        self.mounts = mounts
        self.sys_block = sys_block
        self.confirm_timeout = confirm_timeout
        self.questions = confirm.DiskQuestions()
        self._cancel: dict[str, threading.Event] = {}

    # -- the checks, before the user is asked and again before writing ---------------------------------

    def check(self, params: RescueWriteImageParams) -> tuple[Path, disks.Disk]:
        """The image file and the disk, or TargetError naming the rule that refuses them."""
        image = targets.inbox_file(self.inbox, params.image)
        try:
            imaging.compression(params.image)
        except imaging.ImageError as exc:
            raise targets.TargetError("image.format", str(exc)) from None
        found = self.lister()
        disk = next((d for d in found if d.device == params.disk), None)
        if disk is None:
            if any(params.disk in {p.device for p in d.partitions} - {d.device} for d in found):
                raise targets.TargetError("disk.partition", params.disk)
            raise targets.TargetError("disk.unknown", params.disk)
        mounts_text = self.mounts.read_text()
        if disk.device in targets.running_from(mounts_text, self.sys_block):
            raise targets.TargetError("disk.system", disk.device)
        busy = targets.mounted_on(disk, mounts_text)
        if busy:
            raise targets.TargetError("disk.mounted", ", ".join(busy))
        if imaging.compression(params.image) is None and image.stat().st_size > disk.size:
            raise targets.TargetError("disk.too_small", f"{image.stat().st_size} > {disk.size}")
        return image, disk

    def refusal(self, params: Any) -> Text | None:
        if not self.enabled:
            return NOT_RESCUE
        assert isinstance(params, RescueWriteImageParams)
        try:
            self.check(params)
        except targets.TargetError as exc:
            return REFUSALS.get(exc.code, REFUSALS["disk.unknown"])
        except (OSError, ValueError):
            return None  # lsblk failed: run() reports it
        return None

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, RescueWriteImageParams)
        about = "?"
        try:
            disk = next((d for d in self.lister() if d.device == params.disk), None)
            if disk is not None:
                about = _about(disk)
        except (OSError, ValueError):
            pass
        return Described(
            self.kind,
            T_TITLE.render(lang, disk=escape(params.disk)),
            T_WHAT.render(lang, image=escape(params.image), disk=escape(params.disk), about=escape(about)),
            reason,
            T_RISK.render(lang),
            "high",
            T_UNDO.render(lang),
        )

    # -- running ---------------------------------------------------------------------------------------

    async def run(self, job: Job) -> Done:
        params = job.params
        assert isinstance(params, RescueWriteImageParams)
        cancel = self._cancel.setdefault(job.action_id, threading.Event())
        loop = asyncio.get_running_loop()
        try:
            try:
                image, disk, size, question = await asyncio.to_thread(self._prepare, job, params, cancel)
            except targets.TargetError as exc:
                raise ActionFailed(f"refused: {exc}"[:250]) from None
            job.show("request", T_ASK, name=question.name)
            typed = await self.questions.ask(question, self.confirm_timeout)
            if not confirm.confirmed(question, typed) or cancel.is_set():
                job.show("result", T_CANCELLED, disk=disk.device)
                outcome = RescueWriteImageOutcome(
                    disk=disk.device, confirmed=False, image_bytes=size, disk_bytes=disk.size
                )
                return Done(outcome, error="the user did not type the disk's name: nothing was written")
            return await asyncio.to_thread(self._write, job, image, disk, size, cancel, loop)
        except imaging.Cancelled:
            raise ActionFailed("stopped") from None
        except (imaging.ImageError, disks.DiskError) as exc:
            raise ActionFailed(str(exc)[:250]) from None
        finally:
            self._cancel.pop(job.action_id, None)

    def _prepare(
        self, job: Job, params: RescueWriteImageParams, cancel: threading.Event
    ) -> tuple[Path, disks.Disk, int, confirm.DiskQuestion]:
        image, disk = self.check(params)
        if imaging.file_sha256(image, cancel) != params.sha256:
            raise ActionFailed("the inbox file is not the one pushed (SHA-256 differs)")
        size = image.stat().st_size
        if imaging.compression(image.name) is not None:
            size, _digest = imaging.measure(image, cancel)
        room = imaging.device_size(disk.device)
        if size > room:
            raise targets.TargetError("disk.too_small", f"{size} > {room}")
        for part in disk.partitions:  # name what is on it now (read-only mounts, as the inventory does)
            if part.os is None and part.fstype in disks.MOUNTABLE:
                try:
                    with disks.mounted(part.device, part.fstype) as root:
                        part.os = disks.installed_os(root)
                except (disks.DiskError, OSError):
                    pass
        question = confirm.DiskQuestion(
            action_id=job.action_id,
            disk=disk.device,
            model=disk.model,
            size=room,
            partitions=tuple(
                confirm.PartitionNow(p.device, p.fstype, p.label, p.os) for p in disk.partitions
            ),
            image=image.name,
            image_size=size,
        )
        return image, disk, size, question

    def _write(  # noqa: PLR0917 (runs in a worker thread: everything it needs, handed over at once)
        self,
        job: Job,
        image: Path,
        disk: disks.Disk,
        size: int,
        cancel: threading.Event,
        loop: asyncio.AbstractEventLoop,
    ) -> Done:
        last = [0.0, -1.0]  # time of the last progress message, last tenth shown in the feed
        verifying = [False]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            note = "verifying" if verifying[0] else "writing"
            if now - last[0] > 0.5 or done == total:
                last[0] = now
                loop.call_soon_threadsafe(lambda: job.progress(done=done, total=total, note=note))
            tenth = done * 10 // max(total, 1)
            if not verifying[0] and tenth > last[1]:
                last[1] = tenth
                loop.call_soon_threadsafe(
                    lambda: job.show("info", T_WRITING, disk=disk.device, percent=tenth * 10)
                )

        def on_verify() -> None:
            verifying[0] = True
            loop.call_soon_threadsafe(lambda: job.show("info", T_VERIFYING, disk=disk.device))

        def outcome(verified: bool) -> RescueWriteImageOutcome:
            return RescueWriteImageOutcome(
                disk=disk.device,
                confirmed=True,
                image_bytes=size,
                disk_bytes=disk.size,
                written=size,
                verified=verified,
            )

        try:
            imaging.write_and_verify(
                image, disk.device, size, progress=progress, cancel=cancel, on_verify=on_verify
            )
        except imaging.Mismatch:
            loop.call_soon_threadsafe(lambda: job.show("result", T_MISMATCH, disk=disk.device))
            return Done(outcome(False), error="the read-back differs from the image")
        except imaging.Cancelled:
            loop.call_soon_threadsafe(lambda: job.show("result", T_STOPPED, disk=disk.device))
            raise
        loop.call_soon_threadsafe(
            lambda: job.show("result", T_DONE, disk=disk.device, size=confirm.human_size(size))
        )
        return Done(outcome(True))

    def stop(self, job: Job) -> Stopped:
        self.questions.cancel(job.action_id)
        cancel = self._cancel.get(job.action_id)
        if cancel is not None:
            cancel.set()
        return Stopped()
