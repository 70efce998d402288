"""The protocol's one exception.

    ProtocolError            any frame or transition the protocol does not allow
    ├── RemoteProtocolError  the peer sent it (drop it, count it, maybe close)
    └── LocalProtocolError   our own code tried to send it (a bug on this side)

`decode()` raises RemoteProtocolError for every bad input — never another exception type.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A frame or transition the protocol does not allow; `reason` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""


class LocalProtocolError(ProtocolError):
    """This side tried to break the protocol."""
