"""The command-line frame both programs share (`rme-agent`, `rme-server`): one sub-command per module.

Neutral ground on purpose: `server` must never import `agent`, and `protocol` is the wire protocol only,
so the one helper both programs use lives in this small package of its own.
"""

from cli.program import Program

__all__ = ["Program"]
