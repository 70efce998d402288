"""Rescue mode: file-system check (read-only) and repair.

    rescue_fsck → `FsckExecutor`   e2fsck / fsck.vfat / ntfsfix on an unmounted partition

The checker's own output can name the user's files (a damaged inode's path): it is shown on the rescue
screen only; the engineer learns the exit code and whether the file system is clean."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from agent.executors.base import ActionFailed, BaseExecutor, Done, Job, Stopped
from agent.executors.described import T_NOTHING_TO_UNDO, Described
from agent.executors.readable import escape
from agent.i18n import Lang, Text
from agent.rescue import disks
from protocol.actions import RescueFsckOutcome, RescueFsckParams

T_CHECK = Text("检查文件系统 {device}", "Check the file system on {device}")
T_REPAIR = Text("修复文件系统 {device}", "Repair the file system on {device}")
T_CHECK_WHAT = Text(
    "只读检查 {device} 上的文件系统，不做任何改动。",
    "A read-only check of the file system on {device}; nothing changes.",
)
T_REPAIR_WHAT = Text(
    "检查并修复 {device} 上的文件系统。修复会改动硬盘上的文件系统结构。",
    "Check and repair the file system on {device}. "
    "A repair changes the file system's structures on the disk.",
)
T_NO_RISK = Text("无风险：只读", "No risk: read-only")
T_REPAIR_RISK = Text(
    "中：修复可能把损坏的文件移到 lost+found 或删除无法挽救的部分。请先救出重要文件。",
    "Medium: a repair may move damaged files to lost+found or drop what cannot be saved. Rescue important "
    "files first.",
)
T_REPAIR_UNDO = Text("无法撤销", "Cannot be undone")
T_RESULT = Text("{device}：检查结束，退出码 {code}", "{device}: check finished, exit code {code}")
NOT_RESCUE = Text("只有在救援系统里才能做", "Only possible on the rescue system")
T_MOUNTED = Text("这个分区正在使用中（已挂载）", "This partition is in use (mounted)")

# tool per file system: (check, repair) command lines, the device appended
TOOLS: dict[str, tuple[list[str], list[str]]] = {
    "ext2": (["e2fsck", "-f", "-n"], ["e2fsck", "-f", "-p"]),
    "ext3": (["e2fsck", "-f", "-n"], ["e2fsck", "-f", "-p"]),
    "ext4": (["e2fsck", "-f", "-n"], ["e2fsck", "-f", "-p"]),
    "vfat": (["fsck.vfat", "-n"], ["fsck.vfat", "-a"]),
    "ntfs": (["ntfsfix", "-n"], ["ntfsfix"]),
}


def is_mounted(device: str, mounts: Path = Path("/proc/mounts")) -> bool:
    with contextlib.suppress(OSError):
        return any(line.split(" ", 1)[0] == device for line in mounts.read_text().splitlines())
    return False


def verdict(fstype: str, exit_code: int, repair: bool) -> tuple[bool, bool]:
    """(clean, repaired) from the tool's exit code (e2fsck: 0 clean, 1 errors corrected, ≥ 4 left;
    fsck.vfat and ntfsfix: 0 clean or fixed)."""
    if fstype.startswith("ext"):
        return exit_code in (0, 1), repair and exit_code == 1
    return exit_code == 0, repair and exit_code == 0


class FsckExecutor(BaseExecutor):
    kind = "rescue_fsck"

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    def refusal(self, params: Any) -> Text | None:
        if not self.enabled:
            return NOT_RESCUE
        assert isinstance(params, RescueFsckParams)
        return T_MOUNTED if is_mounted(params.device) else None

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, RescueFsckParams)
        device = escape(params.device)
        if params.repair:
            return Described(
                self.kind,
                T_REPAIR.render(lang, device=device),
                T_REPAIR_WHAT.render(lang, device=device),
                reason,
                T_REPAIR_RISK.render(lang),
                "medium",
                T_REPAIR_UNDO.render(lang),
            )
        return Described(
            self.kind,
            T_CHECK.render(lang, device=device),
            T_CHECK_WHAT.render(lang, device=device),
            reason,
            T_NO_RISK.render(lang),
            "none",
            T_NOTHING_TO_UNDO.render(lang),
        )

    async def run(self, job: Job) -> Done:
        params = job.params
        assert isinstance(params, RescueFsckParams)
        try:
            _disk, part = await asyncio.to_thread(disks.find_partition, params.device)
        except (disks.DiskError, OSError) as exc:
            raise ActionFailed(str(exc)[:250]) from None
        fstype = part.fstype or ""
        if fstype not in TOOLS:
            raise ActionFailed(f"no checker for the file system {fstype or 'unknown'!r}")
        if is_mounted(params.device):
            raise ActionFailed("the partition is mounted")
        cmd = [*TOOLS[fstype][1 if params.repair else 0], params.device]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True
        )
        self._procs[job.action_id] = proc
        try:
            out, _ = await proc.communicate()
        finally:
            self._procs.pop(job.action_id, None)
        code = proc.returncode if proc.returncode is not None else -1
        tail = " | ".join(out.decode("utf-8", "replace").strip().splitlines()[-3:])
        job.show("result", T_RESULT, detail=escape(tail)[:500], device=params.device, code=code)
        clean, repaired = verdict(fstype, code, params.repair)
        return Done(
            RescueFsckOutcome(
                device=params.device, fstype=fstype, exit_code=code, clean=clean, repaired=repaired
            )
        )

    def stop(self, job: Job) -> Stopped:
        proc = self._procs.get(job.action_id)
        if proc is None or proc.returncode is not None:
            return Stopped()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return Stopped(killed=1)
