"""The repair catalogue: every action a user (or an engineer) may run, with its description, risk and
undo information in both languages. The data is the protocol's (`protocol.repairs`, shared with the
server's console); this module looks repairs up for the agent. The ids are stable: findings name them."""

from __future__ import annotations

from agent.diagnosis.facts import Platform
from agent.repairs.models import RepairError
from protocol.repairs import BY_ID, CATALOGUE, RepairSpec


def catalogue(platform: Platform | None = None) -> list[RepairSpec]:
    """Every repair, or those that run on `platform`."""
    return [s for s in CATALOGUE if platform is None or platform in s.platforms]


def get_spec(repair_id: str) -> RepairSpec:
    try:
        return BY_ID[repair_id]
    except KeyError:
        raise RepairError(f"unknown repair {repair_id!r}") from None


__all__ = ["CATALOGUE", "RepairSpec", "catalogue", "get_spec"]
