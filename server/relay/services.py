"""What every connection handler needs, in one object built at start-up: config, database, audit
log, bus, metrics, the TLS channel binding, and who is connected to this node.

It knows the connections only through the small protocols below, so nothing here imports a link
(the links import this). Queue updates are `server.relay.queue`'s; bus notes and topics are
`server.relay.notes`'s."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from server.audit import AuditWriteError, JsonValue
from server.config import ServerConfig
from server.metrics import Metrics
from server.relay.bus import Bus
from server.relay.notes import ENGINEERS_TOPIC, agent_topic, engineer_topic  # re-exported: their old home
from server.relay.sweep import IdleSweep

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("rme.relay")


class AgentConnection(Protocol):
    """What the node needs of an agent's connection (`server.relay.agent_link.AgentLink`)."""

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def engineer_node(self) -> str | None:
        """The server node holding the console connection of this device's session's engineer."""

    async def engineer_node_lost(self, node: str) -> None: ...


class EngineerConnection(Protocol):
    """An engineer console's connection (`server.relay.engineer_link.EngineerLink`)."""

    link_id: str


class AuditSink(Protocol):
    """The part of `server.audit.AuditLog` the relay uses."""

    async def append(
        self, kind: str, actor: str, session_id: str | None, data: Mapping[str, JsonValue]
    ) -> object: ...


@dataclass
class Services:
    config: ServerConfig
    engine: AsyncEngine
    audit: AuditSink
    bus: Bus
    metrics: Metrics
    channel_binding: bytes  # SHA-256 of our certificate's DER (tls-server-end-point)
    node_id: str  # this process's random node id (`server.relay.nodes`), named by the tickets it holds
    agents: dict[str, AgentConnection] = field(default_factory=dict)  # device id → its connection here
    engineers: dict[str, set[EngineerConnection]] = field(default_factory=dict)  # engineer id → consoles
    sweep: IdleSweep = field(default_factory=IdleSweep)  # closes links silent for `heartbeat_timeout`
    seen: set[str] = field(default_factory=set)  # devices connected since the last `last_seen` write
    handshaking: int = 0  # /ws/agent connections accepted and not yet authenticated (load shedding)
    # `metrics.relayed` per message type, looked up once: `labels()` validates and locks on every call.
    _relayed: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def count_relayed(self, msg_type: str) -> None:
        counter = self._relayed.get(msg_type)
        if counter is None:
            counter = self._relayed[msg_type] = self.metrics.relayed.labels(msg_type)
        counter.inc()

    async def record(
        self, kind: str, actor: str, session_id: str | None, data: Mapping[str, JsonValue]
    ) -> None:
        """Append an audit event; raises `AuditWriteError` (and counts it) if it is not durable.

        Callers record *before* acting and refuse the action when this raises.
        """
        try:
            await self.audit.append(kind, actor, session_id, data)
        except AuditWriteError:
            self.metrics.audit_failures.inc()
            log.exception("audit append failed", extra={"kind": kind, "actor": actor})
            raise
        except Exception as exc:  # anything else from the store is still "not recorded"
            self.metrics.audit_failures.inc()
            log.exception("audit append failed", extra={"kind": kind, "actor": actor})
            raise AuditWriteError(str(exc)) from exc


__all__ = [
    "ENGINEERS_TOPIC",
    "AgentConnection",
    "AuditSink",
    "EngineerConnection",
    "Services",
    "agent_topic",
    "engineer_topic",
]
