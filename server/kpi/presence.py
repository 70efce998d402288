"""Which engineers were online when: spans of console presence, sampled by every node.

Live presence is the set of engineer consoles a node holds (`Services.engineers`); nothing kept it.
The weekly report needs it per hour, so each node samples what it holds every `period` seconds and
stretches that engineer's span on this node (or starts a new one when the last sample is older than
two periods: the engineer was away). A span ends at its last sample, so a crashed node's spans end
when it stopped sampling — no clean-up needed. Granularity: one period (30 s by default), ample for
hourly staffing. An engineer with consoles on two nodes has two spans; `load_spans` merges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import aware, engineer_presence, new_id, utcnow
from server.kpi.week import PresenceSpan

log = logging.getLogger("rme.kpi.presence")

__all__ = ["PresenceSampler", "load_spans", "merge_spans", "record_sample"]


async def record_sample(
    engine: AsyncEngine, node_id: str, engineer_ids: Iterable[str], now: dt.datetime, period: float
) -> None:
    """Stretch or start the span of each engineer online on this node now."""
    fresh_after = now - dt.timedelta(seconds=2 * period)
    p = engineer_presence.c
    async with engine.begin() as conn:
        for engineer_id in sorted(set(engineer_ids)):
            stretched = await conn.execute(
                sa.update(engineer_presence)
                .where(p.engineer_id == engineer_id, p.node_id == node_id, p.seen_at >= fresh_after)
                .values(seen_at=now)
            )
            if stretched.rowcount == 0:
                await conn.execute(
                    sa.insert(engineer_presence).values(
                        id=new_id("p"), engineer_id=engineer_id, node_id=node_id, started_at=now, seen_at=now
                    )
                )


def merge_spans(spans: Iterable[PresenceSpan]) -> list[PresenceSpan]:
    """One engineer counts once at a time: overlapping spans of the same engineer become one."""
    merged: list[PresenceSpan] = []
    for span in sorted(spans, key=lambda s: (s.engineer_id, s.start)):
        last = merged[-1] if merged else None
        if last and last.engineer_id == span.engineer_id and span.start <= last.end:
            merged[-1] = PresenceSpan(span.engineer_id, last.start, max(last.end, span.end))
        else:
            merged.append(span)
    return merged


async def load_spans(engine: AsyncEngine, start: dt.datetime, end: dt.datetime) -> list[PresenceSpan]:
    """Every engineer's presence overlapping [start, end), merged per engineer."""
    p = engineer_presence.c
    query = sa.select(p.engineer_id, p.started_at, p.seen_at).where(p.started_at < end, p.seen_at >= start)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return merge_spans(PresenceSpan(r.engineer_id, aware(r.started_at), aware(r.seen_at)) for r in rows)


class PresenceSampler:
    """The per-node loop: sample the consoles this node holds every `period` seconds."""

    def __init__(
        self, engine: AsyncEngine, node_id: str, online: Callable[[], Iterable[str]], period: float
    ) -> None:
        self._engine = engine
        self._node_id = node_id
        self._online = online
        self._period = period
        self._task: asyncio.Task[None] | None = None

    async def sample(self) -> None:
        await record_sample(self._engine, self._node_id, list(self._online()), utcnow(), self._period)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="presence-sampler")

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:  # a database blip loses one sample, never the loop
                log.warning("presence sample failed", exc_info=True)
            await asyncio.sleep(self._period)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
