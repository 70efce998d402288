"""The repair catalogue's data: what a repair is (`RepairSpec`, shown to the user before consent), what
it needs (`RepairContext`), what it did (`RepairOutcome`) and how to take it back (`UndoRecord`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from agent.diagnosis.facts import Platform
from agent.i18n import Lang, Text

Risk = Literal["low", "medium", "high"]
OutcomeStatus = Literal["done", "failed", "not_applicable"]
DhcpClient = Literal["auto", "dhclient", "networkctl", "nmcli"]


class RepairError(Exception):
    """A repair cannot be run here: unknown id, wrong platform, or no adapter given."""


@dataclass(frozen=True)
class RepairSpec:
    """One catalogue entry: everything the user must see before saying yes (like Windows' troubleshooter)."""

    id: str
    title: Text
    description: Text
    risk: Risk
    risk_note: Text
    undo: Text
    reversible: bool
    needs_interface: bool
    needs_admin: bool
    platforms: frozenset[Platform]

    def describe(self, lang: Lang, interface: str = "", servers: str = "") -> dict[str, JsonValue]:
        """The spec in one language, as plain JSON (for the consent prompt, the panel and the console).
        `interface` and `servers` fill the description's blanks."""
        return {
            "id": self.id,
            "title": self.title.render(lang),
            "description": self.description.render(lang, interface=interface, servers=servers),
            "risk": self.risk,
            "risk_note": self.risk_note.render(lang),
            "undo": self.undo.render(lang),
            "reversible": self.reversible,
            "needs_admin": self.needs_admin,
        }


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
