"""The agent's side of the wire: WSS to the server, enrollment, device-key authentication, reconnects."""

from agent.connection.client import AgentClient, ConnectError, agent_url, backoff, pinned_context
from agent.connection.identity import Identity, IdentityStore

__all__ = [
    "AgentClient",
    "ConnectError",
    "Identity",
    "IdentityStore",
    "agent_url",
    "backoff",
    "pinned_context",
]
