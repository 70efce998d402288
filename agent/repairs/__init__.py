"""The repair catalogue and its engine: `catalogue()`, `apply()`, `undo()`, and the detect → resolve →
verify loop in `agent.repairs.flow`."""

from agent.repairs.catalogue import catalogue, get_spec
from agent.repairs.engine import apply, current_platform, undo
from agent.repairs.models import RepairContext, RepairError, RepairOutcome, RepairSpec, UndoRecord

__all__ = [
    "RepairContext",
    "RepairError",
    "RepairOutcome",
    "RepairSpec",
    "UndoRecord",
    "apply",
    "catalogue",
    "current_platform",
    "get_spec",
    "undo",
]
