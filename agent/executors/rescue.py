"""Rescue-mode executors: disk inventory and data rescue (copy to the user's USB disk).

    rescue_inventory → `InventoryExecutor`  disk metadata (no file names) to the engineer
    rescue_copy      → `CopyExecutor`       folders from the internal disk to the user's USB disk,
                                            each file verified by hash; the engineer gets counts only

Both exist only in rescue mode (`rme-agent rescue boot`), where the agent owns the whole PC; on a
normal PC they are refused (`refusal`)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.executors.base import ActionFailed, BaseExecutor, Done, Job, Stopped
from agent.executors.described import T_NOTHING_TO_UNDO, Described
from agent.executors.readable import escape
from agent.i18n import Lang, Text
from agent.rescue import copying, disks
from protocol.actions import (
    RescueCopyOutcome,
    RescueCopyParams,
    RescueDisk,
    RescueInventoryOutcome,
    RescuePartition,
)

T_INVENTORY = Text("查看硬盘", "Look at the disks")
T_INVENTORY_WHAT = Text(
    "列出硬盘、分区、文件系统、硬盘健康（SMART）和装了哪个系统。只读，不看文件内容，不发送文件名。",
    "List the disks, partitions, file systems, disk health (SMART) and which system is installed. "
    "Read-only; no file contents and no file names are sent.",
)
T_READ_ONLY = Text("无风险：只读", "No risk: read-only")
T_COPY = Text("把文件救到你的U盘", "Rescue your files to your USB disk")
T_COPY_WHAT = Text(
    "从 {source} 复制这些文件夹：{folders}\n到你的U盘 {target}（{size}）上的新文件夹。"
    "每个文件复制后都会读回核对。文件只留在这台电脑和你的U盘上，不会发给工程师。",
    "Copy these folders from {source}: {folders}\nto a new folder on your USB disk {target} ({size}). "
    "Every file is read back and checked. The files stay on this PC and your USB disk; "
    "nothing of them goes to the engineer.",
)
T_COPY_RISK = Text(
    "低：内部硬盘只读打开；U盘上只新建一个文件夹",
    "Low: the internal disk is opened read-only; only a new folder is made on the USB disk",
)
T_COPY_UNDO = Text("删除U盘上的新文件夹即可", "Delete the new folder on the USB disk")
T_COPY_DONE = Text(
    "已复制 {files} 个文件（{mb} MB），{verified} 个核对无误，{failed} 个失败。文件夹：{folder}",
    "Copied {files} files ({mb} MB): {verified} checked OK, {failed} failed. Folder: {folder}",
)
NOT_RESCUE = Text("只有在救援系统里才能做", "Only possible on the rescue system")
T_NOT_REMOVABLE = Text("目标不是可移动磁盘（U盘）", "The target is not a removable (USB) disk")
T_SAME_DISK = Text("目标和来源是同一块硬盘", "The target is on the same disk as the source")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


class InventoryExecutor(BaseExecutor):
    kind = "rescue_inventory"

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def refusal(self, params: Any) -> Text | None:
        return None if self.enabled else NOT_RESCUE

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        return Described(
            self.kind,
            T_INVENTORY.render(lang),
            T_INVENTORY_WHAT.render(lang),
            reason,
            T_READ_ONLY.render(lang),
            "none",
            T_NOTHING_TO_UNDO.render(lang),
        )

    async def run(self, job: Job) -> Done:
        found = await asyncio.to_thread(disks.inventory)
        outcome = RescueInventoryOutcome(
            disks=[
                RescueDisk(
                    device=d.device,
                    size=d.size,
                    model=d.model,
                    removable=d.removable,
                    smart=d.smart,
                    partitions=[
                        RescuePartition(device=p.device, size=p.size, fstype=p.fstype, label=p.label, os=p.os)
                        for p in d.partitions
                    ],
                )
                for d in found
            ]
        )
        return Done(outcome)


class CopyExecutor(BaseExecutor):
    kind = "rescue_copy"

    def __init__(self, enabled: bool, lister: Callable[[], list[disks.Disk]] = disks.disks) -> None:
        self.enabled = enabled
        self.lister = lister
        self._cancel: dict[str, threading.Event] = {}

    def _target_disk(self, params: RescueCopyParams) -> tuple[disks.Disk | None, disks.Disk | None]:
        src = dst = None
        for disk in self.lister():
            names = {p.device for p in disk.partitions} | {disk.device}
            if params.source in names:
                src = disk
            if params.target in names:
                dst = disk
        return src, dst

    def refusal(self, params: Any) -> Text | None:
        if not self.enabled:
            return NOT_RESCUE
        assert isinstance(params, RescueCopyParams)
        try:
            src, dst = self._target_disk(params)
        except (OSError, ValueError):
            return None  # run() reports the disk problem
        if dst is not None and not dst.removable:
            return T_NOT_REMOVABLE
        if src is not None and dst is not None and src.device == dst.device:
            return T_SAME_DISK
        return None

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, RescueCopyParams)
        size = "?"
        try:
            _src, dst = self._target_disk(params)
            if dst is not None:
                size = f"{dst.size / 1e9:.1f} GB" + (f" {dst.model}" if dst.model else "")
        except (OSError, ValueError):
            pass
        what = T_COPY_WHAT.render(
            lang,
            source=escape(params.source),
            folders=", ".join(escape(f) for f in params.folders),
            target=escape(params.target),
            size=escape(size),
        )
        return Described(
            self.kind,
            T_COPY.render(lang),
            what,
            reason,
            T_COPY_RISK.render(lang),
            "low",
            T_COPY_UNDO.render(lang),
        )

    async def run(self, job: Job) -> Done:
        params = job.params
        assert isinstance(params, RescueCopyParams)
        cancel = self._cancel.setdefault(job.action_id, threading.Event())
        try:
            return await asyncio.to_thread(self._copy, job, params, cancel)
        except copying.Cancelled:
            raise ActionFailed("stopped") from None
        except (disks.DiskError, copying.CopyError, OSError) as exc:
            raise ActionFailed(str(exc)[:250]) from None
        finally:
            self._cancel.pop(job.action_id, None)

    def _copy(self, job: Job, params: RescueCopyParams, cancel: threading.Event) -> Done:
        _sd, source = disks.find_partition(params.source)
        _td, target = disks.find_partition(params.target)
        folder = time.strftime("RME-Rescue-%Y%m%d-%H%M%S")
        with disks.mounted(source.device, source.fstype) as src_root:
            pairs, total = copying.plan(src_root, params.folders)
            with disks.mounted(target.device, target.fstype, writable=True) as dst_root:
                stat = os.statvfs(dst_root)
                if stat.f_bavail * stat.f_frsize < total:
                    raise disks.DiskError(f"the USB disk has too little free space for {_mb(total)} MB")
                done = 0
                last = 0.0

                def on_bytes(n: int) -> None:
                    nonlocal done, last
                    done += n
                    now = time.monotonic()
                    if now - last > 0.5 or done == total:
                        last = now
                        job.progress(done=done, total=total)

                job.progress(done=0, total=total)
                tally = copying.copy_tree(pairs, dst_root / folder, cancel, on_bytes)
        job.show(
            "result",
            T_COPY_DONE,
            files=tally.files,
            mb=_mb(tally.bytes),
            verified=tally.verified,
            failed=tally.failed,
            folder=folder,
        )
        outcome = RescueCopyOutcome(
            files=tally.files, bytes=tally.bytes, verified=tally.verified, failed=tally.failed, folder=folder
        )
        return Done(outcome, error=f"{tally.failed} files failed the check" if tally.failed else None)

    def stop(self, job: Job) -> Stopped:
        cancel = self._cancel.get(job.action_id)
        if cancel is None:
            return Stopped()
        cancel.set()
        return Stopped(files=1)
