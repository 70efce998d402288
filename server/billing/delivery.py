"""Delivering the outbox: each node claims due events and POSTs them as Standard Webhooks.

At-least-once: an event is marked delivered only after a 2xx; a crash between the POST and the mark
means one more delivery of the same `webhook-id`, which the receiver drops (the Standard Webhooks
contract). Sends run concurrently (`CONCURRENCY`) on keep-alive connections per endpoint
(`server.billing.poster`, h11 over asyncio streams); a claim takes a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing.outbox import Claimed, claim, delivered, failed
from server.billing.poster import Poster, PostError
from server.billing.signatures import sign_headers
from server.billing.usage import previous_month, summarize

log = logging.getLogger("rme.billing.delivery")

__all__ = ["Deliverer"]

CONCURRENCY = 32
TIMEOUT_S = 10.0
# Events claimed at once: sent CONCURRENCY at a time, a batch must be done (and marked) within its
# lease even if every POST takes the whole TIMEOUT_S, or another node claims the rest of it again and
# the receiver gets them twice (4 waves × 10 s = 40 s < the 60 s lease).
BATCH = CONCURRENCY * 4


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Deliverer:
    def __init__(
        self, engine: AsyncEngine, period: float = 1.0, retry_base: float = 2.0, node: str = ""
    ) -> None:
        self._engine = engine
        self._agent = f"rme-billing/1 (node {node})" if node else "rme-billing/1"  # which node sent it
        self._period = period
        self._retry_base = retry_base
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._posters: dict[str, Poster] = {}  # endpoint URL → its keep-alive connections
        self.sent = 0
        self.dead = 0
        self._summarized: str | None = None  # the month this node last summarised

    def wake(self) -> None:
        """Something was enqueued: look now rather than at the next period."""
        self._wake.set()

    def _poster(self, url: str) -> Poster:
        poster = self._posters.get(url)
        if poster is None:
            poster = self._posters[url] = Poster(url, CONCURRENCY, TIMEOUT_S)
        return poster

    async def _send(self, event: Claimed) -> str | None:
        """POST one event; None on a 2xx, else the reason."""
        body = {"type": event.event_type, "timestamp": event.created_at.isoformat(), "data": event.payload}
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        headers = {**sign_headers(event.secret, event.id, _now(), payload), "user-agent": self._agent}
        try:
            status = await self._poster(event.url).post(payload.encode(), headers)
        except (PostError, ValueError) as exc:
            return str(exc)[:500]
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"

    async def run_once(self) -> int:
        """Claim and deliver one batch; returns how many were claimed."""
        batch = await claim(self._engine, _now(), limit=BATCH)
        if not batch:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(event: Claimed) -> tuple[Claimed, str | None]:
            async with gate:
                return event, await self._send(event)

        results = await asyncio.gather(*(one(e) for e in batch))
        ok = [e.id for e, error in results if error is None]
        await delivered(self._engine, ok, _now())
        self.sent += len(ok)
        for event, error in results:
            if error is not None and await failed(self._engine, event, error, _now(), self._retry_base):
                self.dead += 1
                log.error("billing event parked as dead", extra={"event": event.id, "error": error})
        return len(batch)

    async def _summaries(self) -> None:
        """The previous month's `usage.summary` events, once per month per node (idempotent across
        nodes: `billing_usage`'s primary key)."""
        month = previous_month(_now())
        if month == self._summarized:
            return
        try:
            await summarize(self._engine, month, _now())
            self._summarized = month
        except Exception:
            log.warning("monthly usage summary failed; retried next period", exc_info=True)

    async def _run(self) -> None:
        while True:
            await self._summaries()
            try:
                claimed = await self.run_once()
            except Exception:  # a database blip: try again next period
                log.warning("billing delivery round failed", exc_info=True)
                claimed = 0
            if claimed:
                continue  # more may be due
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._period)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="billing-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for poster in self._posters.values():
            await poster.close()
        self._posters.clear()
