"""Idle connections, closed by one sweep for the whole node instead of a timer task per link.

A link that has sent nothing (no frame, not even a heartbeat) for `heartbeat_timeout` seconds is
closed (`CLOSE_IDLE`). With a watchdog task per link, 20,000 idle agents meant 4,000 wake-ups a
second and a task each; the sweep wakes every `timeout / 6` seconds (at most 5 s) and walks a set, so
an idle agent costs no timer at all and a dead one is cut between `timeout` and `timeout + period`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

log = logging.getLogger("rme.relay")


class Watched(Protocol):
    """What the sweep needs of a link (`server.relay.link.Link`)."""

    last_seen: float
    closed: bool
    actor: str

    async def close_idle(self) -> None: ...


class IdleSweep:
    def __init__(self) -> None:
        self.links: set[Watched] = set()
        self.timeout = 90.0
        self._task: asyncio.Task[None] | None = None

    def watch(self, link: Watched, timeout: float) -> None:
        """Start watching `link` (the sweep itself starts with the first link)."""
        self.timeout = timeout
        self.links.add(link)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="idle-sweep")

    def forget(self, link: Watched) -> None:
        self.links.discard(link)

    def idle(self, now: float) -> list[Watched]:
        """The links silent for longer than the timeout at `now` (monotonic seconds)."""
        limit = now - self.timeout
        return [link for link in self.links if not link.closed and link.last_seen < limit]

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.timeout / 6))
            for link in self.idle(time.monotonic()):
                self.links.discard(link)
                log.info("closing idle connection", extra={"actor": link.actor})
                try:
                    await link.close_idle()
                except Exception:  # one broken link must not stop the sweep of the others
                    log.exception("closing an idle connection failed", extra={"actor": link.actor})

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["IdleSweep", "Watched"]
