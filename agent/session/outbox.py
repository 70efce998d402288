"""The connection as the session's parts see it (the guard sends through it, the rating desk too)."""

from __future__ import annotations

from typing import Protocol

from protocol.messages import Envelope

__all__ = ["Outbox"]


class Outbox(Protocol):
    """The connection as the guard sees it."""

    async def send(self, message: Envelope) -> bool:
        """Send if connected; False when offline (the guard then carries on locally)."""

    async def deliver(self, message: Envelope) -> bool:
        """Send and confirm the server has it (ping answered after the frame); False if not confirmed."""
