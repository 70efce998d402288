"""`apply` and `undo`: the one entry point for running a catalogue repair on this machine, whoever asked
(the CLI's `--fix` now, an engineer's consented request later). Consent is the caller's job; this module
only checks that the repair exists, fits the platform and has what it needs."""

from __future__ import annotations

import sys

from agent.diagnosis.facts import Platform
from agent.repairs import linux, macos, windows
from agent.repairs.catalogue import get_spec
from agent.repairs.models import RepairContext, RepairError, RepairOutcome, UndoRecord


def current_platform() -> Platform:
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


async def apply(repair_id: str, context: RepairContext) -> RepairOutcome:
    """Run one repair. Raises `RepairError` for an unknown id or a missing adapter name; a repair that does
    not exist on this platform is `not_applicable`; a failing command is a `failed` outcome."""
    spec = get_spec(repair_id)
    platform = current_platform()
    if platform not in spec.platforms:
        return RepairOutcome(
            repair_id=repair_id, status="not_applicable", detail=f"not available on {platform}"
        )
    if spec.needs_interface and not context.interface:
        raise RepairError(f"{repair_id} needs an adapter name")
    if platform == "windows":
        return await windows.apply(repair_id, context)
    if platform == "macos":
        return await macos.apply(repair_id, context)
    return await linux.REPAIRS[repair_id](context)


async def undo(record: UndoRecord, context: RepairContext) -> RepairOutcome:
    """Take back a repair from the record its outcome carried."""
    if record.platform != current_platform():
        raise RepairError(f"an undo record from {record.platform} cannot run on {current_platform()}")
    if record.platform == "windows":
        return await windows.undo(record, context)
    if record.platform == "macos":
        return await macos.undo(record, context)
    return await linux.undo(record, context)
