"""Moved: the running agent's wiring is `agent.app` (it is the app, not a part of the session).

Kept only so `agent.commands.run` and `agent.commands.help` (owned elsewhere) keep importing while
they move to `from agent.app import AgentRuntime`; delete this file then.
"""

from agent.app import AgentRuntime, Offline

__all__ = ["AgentRuntime", "Offline"]
