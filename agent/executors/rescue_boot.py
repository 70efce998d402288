"""Rescue mode: Linux boot repair.

    rescue_boot_repair → `BootRepairExecutor`   GRUB reinstalled on a disk, the boot menu regenerated

The work is `agent.rescue.bootrepair` (the installed Linux's own grub-install and update-grub, chrooted).
Refused before the user is asked: outside the rescue system, a disk that does not exist, a disk with a
partition in use (mounted), a root partition that is not on the disk. What grub-install prints stays on
the rescue screen; the engineer learns what ran and what was installed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agent.executors.base import ActionFailed, BaseExecutor, Done, Job, Stopped
from agent.executors.described import Described
from agent.executors.readable import escape
from agent.i18n import Lang, Text
from agent.rescue import bootrepair
from protocol.actions import RescueBootRepairOutcome, RescueBootRepairParams

NOT_RESCUE = Text("只有在救援系统里才能做", "Only possible on the rescue system")
T_UNKNOWN_DISK = Text("没有这块硬盘", "There is no such disk")
T_IN_USE = Text("这块硬盘上有分区正在使用中（已挂载）", "A partition of this disk is in use (mounted)")
T_NOT_ON_DISK = Text("指定的系统分区不在这块硬盘上", "The named system partition is not on this disk")
T_TITLE = Text("修复 Linux 启动（重装 GRUB）：{disk}", "Repair Linux start-up (reinstall GRUB): {disk}")
T_WHAT = Text(
    "在 {disk} 上找到已安装的 Linux{root}，用它自己的工具重新安装 GRUB 启动程序"
    "（BIOS；硬盘有 EFI 系统分区时也装 UEFI 通用启动文件 EFI/BOOT/BOOTX64.EFI），再重新生成启动菜单。"
    "不会读取或改动您的文件。",
    "Find the installed Linux on {disk}{root} and reinstall the GRUB boot loader with that system's own "
    "tools (BIOS; and UEFI's fallback file EFI/BOOT/BOOTX64.EFI when the disk has an EFI system "
    "partition), then regenerate its boot menu. Your files are neither read nor changed.",
)
T_ROOT = Text("（系统分区 {root}）", " (system partition {root})")
T_RISK = Text(
    "中：改写硬盘的启动代码和启动菜单。同一硬盘上的 Windows 仍由它自己的启动项启动。",
    "Medium: rewrites the disk's boot code and boot menu. A Windows on the same disk keeps its own boot "
    "entry.",
)
T_UNDO = Text(
    "旧的启动代码和启动菜单先保存在该系统的 /boot/rme-rescue-backup/ 中，可以手动恢复",
    "The old boot code and menu are first kept in that system's /boot/rme-rescue-backup/, "
    "from where they can be put back by hand",
)
T_BACKUP = Text("旧的启动代码已保存：{path}", "Old boot code kept: {path}")
T_DONE = Text("启动修复完成：{system}（{root}）", "Boot repair done: {system} ({root})")
T_BIOS = Text("已为 BIOS 重装 GRUB（{disk}）", "GRUB reinstalled for BIOS ({disk})")
T_EFI = Text("已为 UEFI 安装 GRUB（EFI/BOOT/BOOTX64.EFI）", "GRUB installed for UEFI (EFI/BOOT/BOOTX64.EFI)")
T_MENU = Text("启动菜单已重新生成", "Boot menu regenerated")
T_RESTART = Text("请取出救援盘并重新启动电脑。", "Remove the rescue disk and restart the PC.")
T_FAILED = Text("启动修复失败：{why}", "Boot repair failed: {why}")
REFUSED: dict[str, Text] = {
    "unknown-disk": Text("没有这块硬盘：{what}", "There is no such disk: {what}"),
    "mounted": Text("分区正在使用中（已挂载）：{what}", "Partitions in use (mounted): {what}"),
    "not-on-disk": Text("分区不在这块硬盘上：{what}", "The partition is not on this disk: {what}"),
    "no-linux": Text("在 {what} 上没有找到已安装的 Linux", "No installed Linux found on {what}"),
    "several-linux": Text(
        "找到多个 Linux（{what}），请指定系统分区", "Several Linux systems ({what}): name the root partition"
    ),
    "no-grub": Text("该 Linux 没有安装 GRUB 工具：{what}", "That Linux has no GRUB tools: {what}"),
    "boot-not-found": Text("找不到 /boot 分区：{what}", "The /boot partition was not found: {what}"),
    "no-boot-method": Text(
        "这块硬盘无法安装 GRUB（{what}）", "GRUB cannot be installed on this disk ({what})"
    ),
}


class BootRepairExecutor(BaseExecutor):
    kind = "rescue_boot_repair"

    def __init__(self, enabled: bool, sys_block: Path = Path("/sys/class/block")) -> None:
        self.enabled = enabled
        self.sys_block = sys_block
        self._runners: dict[str, bootrepair.Runner] = {}

    def refusal(self, params: Any) -> Text | None:
        if not self.enabled:
            return NOT_RESCUE
        assert isinstance(params, RescueBootRepairParams)
        parts = bootrepair.partitions_of(params.disk, self.sys_block)
        if parts is None:
            return T_UNKNOWN_DISK
        if params.root is not None and params.root not in parts:
            return T_NOT_ON_DISK
        if {*parts, params.disk} & bootrepair.mounted_sources():
            return T_IN_USE
        return None

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, RescueBootRepairParams)
        disk = escape(params.disk)
        root = T_ROOT.render(lang, root=escape(params.root)) if params.root else ""
        return Described(
            self.kind,
            T_TITLE.render(lang, disk=disk),
            T_WHAT.render(lang, disk=disk, root=root),
            reason,
            T_RISK.render(lang),
            "medium",
            T_UNDO.render(lang),
        )

    async def run(self, job: Job) -> Done:
        params = job.params
        assert isinstance(params, RescueBootRepairParams)
        runner = bootrepair.Runner()
        self._runners[job.action_id] = runner
        lines: list[str] = []
        try:
            result = await asyncio.to_thread(
                bootrepair.repair, params.disk, params.root, runner, lines.append
            )
        except bootrepair.Refused as exc:
            job.show("result", REFUSED.get(exc.code, T_FAILED), what=escape(exc.detail)[:200], why=exc.code)
            raise ActionFailed(f"refused: {exc}"[:250]) from None
        except bootrepair.RepairFailed as exc:
            job.show("result", T_FAILED, detail=escape("\n".join(lines))[-1500:], why=escape(str(exc)))
            raise ActionFailed(str(exc)[:250]) from None
        finally:
            self._runners.pop(job.action_id, None)
        plan = result.plan
        system, root = escape(result.found.system), result.found.root.device
        job.show("result", T_DONE, detail=escape("\n".join(lines))[-1500:], system=system, root=root)
        if result.backup:
            job.show("result", T_BACKUP, path=escape(result.backup))
        for template, done in ((T_BIOS, plan.bios), (T_EFI, plan.efi), (T_MENU, True), (T_RESTART, True)):
            if done:
                job.show("result", template, disk=params.disk)
        return Done(
            RescueBootRepairOutcome(
                disk=params.disk,
                root=result.found.root.device,
                system=result.found.system[:100],
                bios=plan.bios,
                efi=plan.efi,
                menu=True,
                commands=list(result.ran),
                backup=result.backup,
            )
        )

    def stop(self, job: Job) -> Stopped:
        runner = self._runners.get(job.action_id)
        if runner is None:
            return Stopped()
        return Stopped(killed=1 if runner.stop() else 0)
