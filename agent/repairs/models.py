"""The repair engine's data: what a repair is (`RepairSpec`, shown to the user before consent: the
protocol's, shared with the server), what it needs (`RepairContext`), what it did (`RepairOutcome`)
and how to take it back (`UndoRecord`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from agent.diagnosis.facts import Platform
from protocol.repairs import RepairSpec, Risk

OutcomeStatus = Literal["done", "failed", "not_applicable"]
DhcpClient = Literal["auto", "dhclient", "networkctl", "nmcli"]


class RepairError(Exception):
    """A repair cannot be run here: unknown id, wrong platform, or no adapter given."""


class RepairContext(BaseModel):
    """Where and how to repair. `state_dir` keeps DHCP client state and undo records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interface: str | None = None
    reference_dns: tuple[str, ...] = ("223.5.5.5", "119.29.29.29")
    state_dir: Path = Path.home() / ".rme" / "repairs"
    dhcp_client: DhcpClient = "auto"
    dhclient_script: str | None = None  # None: the system's dhclient-script
    resolv_conf: Path = Path("/etc/resolv.conf")
    mtu: int | None = Field(default=None, ge=576, le=9000)  # mtu.set: from the finding's evidence
    dialer: str | None = None  # pppoe.*: the dialer's name (pppd peer, NetworkManager id, RAS entry)
    dialer_source: str | None = None  # where the dialer was found (`Dialer.source`)
    ppp_peers: Path = Path("/etc/ppp/peers")
    timeout_s: float = Field(default=20.0, gt=0, le=120)


class UndoRecord(BaseModel):
    """What `undo` needs to put things back; saved by the caller for as long as it may be needed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repair_id: str
    platform: Platform
    interface: str | None
    data: dict[str, JsonValue] = Field(default_factory=dict)


class CommandRun(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: tuple[str, ...]
    returncode: int | None
    output: str = ""


class RepairOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repair_id: str
    status: OutcomeStatus
    detail: str = ""
    commands: tuple[CommandRun, ...] = ()
    undo: UndoRecord | None = None

    @property
    def ok(self) -> bool:
        return self.status == "done"


__all__ = ["CommandRun", "RepairContext", "RepairError", "RepairOutcome", "RepairSpec", "Risk", "UndoRecord"]
