"""Executors: one module per action kind an engineer may ask for, all behind `base.Executor`.

    diagnose  → `diagnose.DiagnoseExecutor`   read-only network check, report to the engineer
    repair    → `repair.RepairExecutor`       a catalogue repair: detect → resolve → verify
    command   → `command.CommandExecutor`     one command line; its output is the user's to release
    push_file → `push.PushExecutor`           a file into the inbox, never anywhere else
    screen_view    → `screen.ScreenViewExecutor`     pixels of one monitor while the indicator shows
    screen_control → `screen.ScreenControlExecutor`  the engineer's mouse and keyboard, inside a view
    service_item → `service_item.ServiceItemExecutor`  change the session's service item (price shown)
    rescue_*       → `rescue*.…Executor`           rescue mode only: disk inventory, data rescue to USB, fsck,
                                                     writing a pushed OS image to a disk (typed confirmation)
                                                     Linux boot repair (`rescue_boot.BootRepairExecutor`)

There is no executor that reads, lists or sends the user's files. A new kind is a new module here plus
its line in `build` (see docs/agent.md, "Adding an action kind").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from agent.actions.command import CommandLedger, VaultPaths
from agent.billing.catalogue import CatalogueCache
from agent.executors.base import ActionFailed, BaseExecutor, Done, Executor, Job, LangSource, Stopped
from agent.executors.command import CommandExecutor
from agent.executors.described import Described
from agent.executors.diagnose import DiagnoseExecutor
from agent.executors.push import PushExecutor
from agent.executors.repair import RepairExecutor
from agent.executors.rescue import CopyExecutor, InventoryExecutor
from agent.executors.rescue_boot import BootRepairExecutor
from agent.executors.rescue_fsck import FsckExecutor
from agent.executors.rescue_write import WriteImageExecutor
from agent.executors.screen import ScreenControlExecutor, ScreenViewExecutor
from agent.executors.service_item import ServiceItemExecutor
from agent.inbox import Inbox


def build(
    *,
    lang: LangSource,
    data_dir: Path,
    config_file: Path | None = None,
    inbox: Inbox,
    ledger: CommandLedger,
    touches_vault: Callable[[str], bool],
    push_idle_timeout: float,
    vault: VaultPaths | None = None,
    catalogue: CatalogueCache | None = None,
    rescue: bool = False,
) -> Mapping[str, Executor]:
    """Every executor, by the action kind it serves (`protocol.actions.ACTION_KINDS`)."""
    views = ScreenViewExecutor(lang)
    executors: list[Executor] = [
        DiagnoseExecutor(lang, data_dir, config_file),
        RepairExecutor(lang, data_dir, config_file),
        CommandExecutor(ledger, touches_vault, vault=vault, data_dir=data_dir),
        PushExecutor(inbox, touches_vault, push_idle_timeout),
        views,
        ScreenControlExecutor(views),
        ServiceItemExecutor(catalogue or CatalogueCache()),
        InventoryExecutor(rescue),
        CopyExecutor(rescue),
        FsckExecutor(rescue),
        WriteImageExecutor(rescue, inbox=inbox.directory),
        BootRepairExecutor(rescue),
    ]
    return {executor.kind: executor for executor in executors}


__all__ = [
    "ActionFailed",
    "BaseExecutor",
    "Described",
    "Done",
    "Executor",
    "Job",
    "Stopped",
    "build",
]
