"""What every connection handler needs, in one object built at start-up: config, database, audit
log, bus, metrics, the TLS channel binding, and who is connected to this node."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from protocol.messages import QueueUpdate, QueueUpdateBody
from server.audit import AuditWriteError, JsonValue
from server.config import ServerConfig
from server.metrics import Metrics
from server.relay.bus import Bus, Note
from server.tickets import store as tickets

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from server.relay.agent_link import AgentLink
    from server.relay.engineer_link import EngineerLink

log = logging.getLogger("rme.relay")

ENGINEERS_TOPIC = "engineers"


def agent_topic(device_id: str) -> str:
    return f"agent.{device_id}"


def engineer_topic(engineer_id: str) -> str:
    return f"engineer.{engineer_id}"


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
    agents: dict[str, AgentLink] = field(default_factory=dict)
    engineers: dict[str, set[EngineerLink]] = field(default_factory=dict)
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

    async def publish_queue(self, changed: list[str], removed: list[str]) -> None:
        """Push a queue update (changed ticket summaries, removed ids) to every engineer."""
        summaries = await tickets.summaries(self.engine, changed) if changed else []
        update = QueueUpdate(body=QueueUpdateBody(changed=summaries, removed=removed))
        await self.bus.publish(ENGINEERS_TOPIC, Note("queue", "server", frame=update.model_dump_json()))


def note_data(note: Note) -> dict[str, str]:
    """The small JSON fields of a note (see `Note.data`)."""
    if not note.data:
        return {}
    value = json.loads(note.data)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
