"""The relay: WebSocket endpoints for agents and engineers around `protocol.Connection`, and the bus
that routes messages between connections (in-process, or Redis pub/sub across nodes)."""
