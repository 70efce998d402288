"""The log's side of the witness protocol: submit a checkpoint, keep the cosignature.

`WitnessClient.cosign(signed)` sends the checkpoint with a consistency proof from the size the
witness last cosigned (as we stored it). If the witness remembers another size (409 with
`text/x.tlog.size` — another node submitted meanwhile, or our table lost rows) it retries once
from the size the witness names. A witness that remembers *more* than the checkpoint holds is
reported: the log has lost history the witness saw. The returned line is checked with the
witness's key before it is stored: a witness cannot make us store a forgery.

Never raises for witness trouble (network down, refusal): the audit log keeps working and the
checkpoint stays unwitnessed, which `verify-log` reports. Failures are logged.
"""

from __future__ import annotations

import base64
import logging
from typing import Protocol

from server.audit.cosign import Cosignature, WitnessVerifier, find_cosignatures
from server.audit.note import NoteError, SignedCheckpoint

__all__ = ["WitnessClient", "WitnessRefused", "fetch_latest"]


class AuditLog(Protocol):
    """What the client needs of `server.audit.log.AuditLog` (which holds a client: no import back)."""

    async def cosigned_size(self, witness: str) -> int: ...

    async def consistency_proof(self, old: int, new: int) -> list[bytes]: ...

    async def add_cosignature(self, size: int, witness: str, line: str) -> None: ...


log = logging.getLogger("rme.audit.witness")
TIMEOUT_S = 5.0


class WitnessRefused(Exception):
    """The witness refused the checkpoint (the message says why)."""


class WitnessClient:
    def __init__(self, url: str, key: WitnessVerifier, *, timeout: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    async def cosign(self, audit: AuditLog, signed: SignedCheckpoint) -> Cosignature | None:
        """Get and store the witness's cosignature of `signed`; None (logged) if it cannot be had."""
        import httpx  # noqa: PLC0415  (kept off the CLI's start-up path)

        try:
            return await self.submit(audit, signed)
        except (WitnessRefused, httpx.HTTPError, NoteError, OSError, ValueError) as exc:
            log.warning(
                "witness did not cosign",
                extra={"witness": self.key.name, "size": signed.checkpoint.size, "error": str(exc)[:300]},
            )
            return None

    async def submit(self, audit: AuditLog, signed: SignedCheckpoint) -> Cosignature:
        """As `cosign`, but raises `WitnessRefused` / `httpx.HTTPError` instead of returning None."""
        import httpx  # noqa: PLC0415

        size = signed.checkpoint.size
        old = min(await audit.cosigned_size(self.key.name), size)
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            for _ in range(2):
                proof = await audit.consistency_proof(old, size) if 0 < old < size else []
                body = f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof)
                response = await client.post(f"{self.url}/add-checkpoint", content=body + "\n" + signed.note)
                if response.status_code == 200:
                    return await self._keep(audit, signed, response.text)
                if response.status_code == 409 and response.headers.get("content-type", "").startswith(
                    "text/x.tlog.size"
                ):
                    remembered = int(response.text.strip())
                    if remembered > size:
                        raise WitnessRefused(
                            f"the witness has cosigned {remembered} events, more than this checkpoint's "
                            f"{size}: history it saw is missing, or a newer checkpoint exists"
                        )
                    old = remembered
                    continue
                raise WitnessRefused(f"HTTP {response.status_code}: {response.text.strip()[:300]}")
        raise WitnessRefused("the witness keeps changing its remembered size")

    async def _keep(self, audit: AuditLog, signed: SignedCheckpoint, lines: str) -> Cosignature:
        found = find_cosignatures(signed.note + lines, [self.key])
        if not found:
            raise WitnessRefused("the witness answered without a cosignature by its key")
        cosignature = found[0]
        await audit.add_cosignature(signed.checkpoint.size, self.key.name, cosignature.line)
        return cosignature


async def fetch_latest(url: str, origin: str) -> str | None:
    """The newest checkpoint the witness cosigned for `origin` (note text), or None if it has none."""
    import httpx  # noqa: PLC0415

    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        response = await client.get(f"{url.rstrip('/')}/latest", params={"origin": origin})
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.text
