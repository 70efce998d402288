"""One authenticated SSH connection, as the gateway's session and SFTP handlers see it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from server.ssh import keys
from server.ssh.desk import Desk


@dataclass
class Login:
    """One authenticated SSH connection."""

    account: keys.LoginAccount
    fingerprint: str
    serial: int | None
    address: str
    spool_dir: Path
    totp: bool = False
    desk: Desk = field(init=False)
    refused: list[str] = field(default_factory=list)  # refusals to say at the first session
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # the login is recorded, the desk open

    @property
    def lang(self) -> str:
        return self.account.lang
