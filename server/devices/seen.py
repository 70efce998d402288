"""Devices' `last_seen`, written in batches: a connecting agent is noted in `Services.seen`, and one
task writes the set every `period` seconds in a few UPDATEs (and once more at shutdown).

One UPDATE a connection was the heaviest database write of a connect; in a reconnect storm of
20,000 agents it was 20,000 write transactions queued behind each other on SQLite. `last_seen` is
for operators' lists (when was this PC last online), so a few seconds late is fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from server.devices.store import touch_devices

log = logging.getLogger("rme.devices")


class SeenFlusher:
    def __init__(self, engine: AsyncEngine, seen: set[str], period: float = 5.0) -> None:
        self.engine = engine
        self.seen = seen  # shared with `Services.seen`: the links add, this empties
        self.period = period
        self._task: asyncio.Task[None] | None = None

    async def flush(self) -> int:
        if not self.seen:
            return 0
        batch = list(self.seen)
        self.seen.difference_update(batch)
        await touch_devices(self.engine, batch)
        return len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.flush()
            except Exception:  # the database is down: the next round writes them (a later time)
                log.warning("could not write devices' last_seen", exc_info=True)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="last-seen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()


__all__ = ["SeenFlusher"]
