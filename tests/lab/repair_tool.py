"""Runs one catalogue repair (or its undo) through the public API, inside whatever namespace it is
started in, and prints the outcome as JSON. The lab uses it to test `apply`/`undo` in the client.

    python -m tests.lab.repair_tool apply REPAIR_ID CONFIG.toml INTERFACE [FIELD=VALUE]...
    python -m tests.lab.repair_tool undo UNDO_RECORD.json CONFIG.toml INTERFACE

FIELD=VALUE pairs set more of the repair's context (`mtu=1400`, `dialer=rme-dsl`), as the CLI takes them
from a report's evidence.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from agent.repairs import UndoRecord, apply, undo
from agent.repairs.config import load_context


def main(argv: list[str]) -> None:
    action, target, config, interface, *extra = argv
    fields: dict[str, Any] = dict(item.split("=", 1) for item in extra)
    context = load_context(Path(config), None, interface=interface, **fields)
    if action == "apply":
        outcome = asyncio.run(apply(target, context))
    else:
        outcome = asyncio.run(undo(UndoRecord.model_validate_json(Path(target).read_text()), context))
    print(outcome.model_dump_json())


if __name__ == "__main__":
    main(sys.argv[1:])
