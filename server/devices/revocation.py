"""Cutting a revoked device that is already connected, whichever way it was revoked, on every node.

The admin API publishes a `revoke` note on the bus, and the agent's link closes (4403) on whichever
node holds it. `rme-server customer revoke` is another process: without a bus it could only mark the
row, and the device stayed connected until it next reconnected. Two paths now close that gap:

- **The sweep** (every node, every `SWEEP_EVERY` = 2 s): the ids of devices revoked recently are read
  from the database, and each one connected to this node is sent the same `revoke` note. It covers
  every way a row gets `revoked_at` (the CLI, the API, SQL by hand), with SQLite or PostgreSQL, with
  or without Redis, and a note lost on the way: a revoked device is cut within ~2 s.
- **The CLI's note** (`publish_revocation`): when `redis_url` is configured, the command also
  publishes the note through Redis, so the nodes cut the device at once.

"Recently" is a window (`WINDOW`, 10 min, by the sweeping node's clock, against `revoked_at` written
by the revoking process's clock): it bounds the query, and it tolerates clocks up to 10 minutes apart.
A device revoked earlier than that is refused at its next handshake (`relay/device_link.py`) and
cannot be connected anyway. Without an index on `devices.revoked_at` the query is a scan of
`devices` (a few ms per 100,000 devices); it is skipped while no agent is connected to the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import devices, utcnow
from server.relay.bus import Bus
from server.relay.notes import Note, NoteKind, agent_topic
from server.relay.services import Services

log = logging.getLogger("rme.devices.revocation")

SWEEP_EVERY = 2.0
WINDOW = dt.timedelta(minutes=10)
SWEEP_ACTOR = "system:revocation-sweep"


async def revoked_since(engine: AsyncEngine, since: dt.datetime) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(devices.c.id).where(devices.c.revoked_at >= since))
        return {str(row[0]) for row in rows}


async def publish_revocation(bus: Bus, device_id: str, actor: str) -> int:
    """Tell whichever node holds `device_id` to cut it; returns how many connections heard it."""
    return await bus.publish(agent_topic(device_id), Note(NoteKind.REVOKE, actor))


class RevocationSweeper:
    """One per process, started with the app: cuts connected devices revoked by any process."""

    def __init__(self, services: Services, every: float = SWEEP_EVERY) -> None:
        self.services = services
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except Exception:  # a database hiccup must not stop the sweep
                log.exception("revocation sweep failed")

    async def sweep(self) -> int:
        """Cut the connected devices revoked within `WINDOW`; returns how many were told."""
        connected = self.services.agents
        if not connected:
            return 0
        revoked = await revoked_since(self.services.engine, utcnow() - WINDOW)
        cut = 0
        for device_id in revoked & connected.keys():
            log.info("cutting a revoked device still connected", extra={"device": device_id})
            await publish_revocation(self.services.bus, device_id, SWEEP_ACTOR)
            cut += 1
        return cut
