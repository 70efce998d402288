"""The supervisor's alerts: rolling response time and queue length against thresholds they set.

* **Values** (`measure`): the *rolling response* is the mean wait, over the last `window` seconds, of
  requests accepted in that window together with the requests still waiting now (their wait so far) —
  so a queue nobody answers raises the figure instead of hiding it. The *queue length* is the number
  of requests waiting for an engineer now.
* **Decision** (`decide`, pure): an alert is raised while its value is above its threshold; a kind
  without a threshold is off.
* **Change** (`Alerts.evaluate`): every node evaluates every `period` seconds, and also when a
  supervisor's console asks (it asks on each queue change, so the page shows a crossing at once).
  A change of state is written by compare-and-set on the `alerts` row, so across nodes exactly one
  writer wins each change, and only that one audits it (`alert.raised` / `alert.cleared`) and sends
  the outbound event: a Standard Webhooks POST (`standardwebhooks` signs it) to `alert_webhook_url`,
  retried with back-off for a few minutes — an operator's pager hangs off that, or off the Prometheus
  gauges `rme_alert_active{kind}`, `rme_queue_length` and `rme_response_rolling_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import ALERT_KINDS, alerts, aware, new_id, tickets, utcnow

log = logging.getLogger("rme.kpi.alerts")

__all__ = ["ALERT_KINDS", "AlertState", "Alerts", "Measurements", "decide", "measure"]

WINDOW_S = 15 * 60
DELIVERY_ATTEMPTS = 6  # 1 + 2 + 4 + 8 + 16 s of back-off (with jitter): about half a minute


@dataclass(frozen=True)
class Measurements:
    response_s: float | None  # None: nothing accepted or waiting in the window
    queue_length: int

    def value(self, kind: str) -> float | None:
        return self.response_s if kind == "response_time" else float(self.queue_length)


@dataclass(frozen=True)
class AlertState:
    kind: str
    threshold: float | None
    active: bool
    value: float | None
    changed_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "threshold": self.threshold,
            "active": self.active,
            "value": self.value,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }


def decide(threshold: float | None, value: float | None) -> bool:
    """Raised while the value is above the threshold; no threshold or no value: not raised."""
    return threshold is not None and value is not None and value > threshold


async def measure(engine: AsyncEngine, now: dt.datetime, window_s: float = WINDOW_S) -> Measurements:
    since = now - dt.timedelta(seconds=window_s)
    c = tickets.c
    async with engine.connect() as conn:
        answered = (
            await conn.execute(sa.select(c.created_at, c.accepted_at).where(c.accepted_at >= since))
        ).all()
        waiting = (await conn.execute(sa.select(c.created_at).where(c.state == "queued"))).all()
    waits: list[float] = []
    for row in answered:
        created, accepted = aware(row.created_at), aware(row.accepted_at)
        if created is not None and accepted is not None:
            waits.append(max(0.0, (accepted - created).total_seconds()))
    for row in waiting:
        created = aware(row.created_at)
        if created is not None:
            waits.append(max(0.0, (now - created).total_seconds()))
    return Measurements(sum(waits) / len(waits) if waits else None, len(waiting))


Recorder = Callable[[str, dict[str, Any]], Awaitable[None]]


class Alerts:
    """One node's alert keeper: reads and sets thresholds, evaluates, announces the changes it wins."""

    def __init__(
        self,
        engine: AsyncEngine,
        record: Recorder,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        on_values: Callable[[Measurements, list[AlertState]], None] | None = None,
    ) -> None:
        self._engine = engine
        self._record = record
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._on_values = on_values
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    async def states(self) -> list[AlertState]:
        async with self._engine.connect() as conn:
            rows = {r.kind: r for r in (await conn.execute(sa.select(alerts))).all()}
        return [
            AlertState(k, rows[k].threshold, bool(rows[k].active), rows[k].value, aware(rows[k].changed_at))
            if k in rows
            else AlertState(k, None, False, None, None)
            for k in ALERT_KINDS
        ]

    async def set_threshold(self, kind: str, threshold: float | None, by: str) -> None:
        """Set (or clear, with None) a kind's threshold; audited by the caller's name."""
        if kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {kind!r}")
        if threshold is not None and not threshold >= 0:  # also refuses NaN
            raise ValueError("a threshold must be a number ≥ 0")
        await self._record("alert.threshold_set", {"kind": kind, "threshold": threshold, "by": by})
        async with self._engine.begin() as conn:
            updated = await conn.execute(
                sa.update(alerts).where(alerts.c.kind == kind).values(threshold=threshold, changed_by=by)
            )
            if updated.rowcount == 0:
                await conn.execute(
                    sa.insert(alerts).values(kind=kind, threshold=threshold, active=False, changed_by=by)
                )

    async def evaluate(self, now: dt.datetime | None = None) -> tuple[Measurements, list[AlertState]]:
        """Measure, move each alert whose state should change, announce the changes this node won."""
        now = now or utcnow()
        async with self._lock:
            values = await measure(self._engine, now)
            states = []
            lost = False
            for known in await self.states():
                value = values.value(known.kind)
                want = decide(known.threshold, value)
                if want == known.active:
                    states.append(known)
                elif await self._claim(known.kind, known.active, want, value, now):
                    await self._announce(known.kind, want, value, known.threshold, now)
                    states.append(AlertState(known.kind, known.threshold, want, value, now))
                else:
                    lost = True  # another node moved it first (and announced it)
            if lost:
                states = await self.states()
        if self._on_values is not None:
            self._on_values(values, states)
        return values, states

    async def _claim(
        self, kind: str, was: bool, now_active: bool, value: float | None, now: dt.datetime
    ) -> bool:
        async with self._engine.begin() as conn:
            moved = await conn.execute(
                sa.update(alerts)
                .where(alerts.c.kind == kind, alerts.c.active == was)
                .values(active=now_active, value=value, changed_at=now)
            )
        return moved.rowcount == 1

    async def _announce(
        self, kind: str, active: bool, value: float | None, threshold: float | None, now: dt.datetime
    ) -> None:
        event = "alert.raised" if active else "alert.cleared"
        data = {"kind": kind, "value": value, "threshold": threshold}
        try:
            await self._record(event, data)
        except Exception:  # the state moved; an audit outage must not stop the page or the pager
            log.warning("could not audit %s", event, exc_info=True)
        log.warning("%s", event, extra={"alert": kind, "value": value, "threshold": threshold})
        if self._webhook_url and self._webhook_secret:
            body = {"type": event, "timestamp": now.isoformat(), "data": data}
            task = asyncio.create_task(self._deliver(new_id("msg"), body, now))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, message_id: str, body: dict[str, Any], now: dt.datetime) -> None:
        from standardwebhooks import Webhook  # noqa: PLC0415  (only a node with a webhook needs it)

        assert self._webhook_url and self._webhook_secret
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        signature = Webhook(self._webhook_secret).sign(message_id, now, payload)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,  # the same on every retry: the receiver deduplicates by it
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        async with httpx.AsyncClient(timeout=5.0) as client:
            for attempt in range(DELIVERY_ATTEMPTS):
                try:
                    response = await client.post(self._webhook_url, content=payload, headers=headers)
                    if response.status_code < 300:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(2**attempt * (0.5 + random.random() / 2))  # noqa: S311 (jitter)
        log.error("alert event %s not delivered to the webhook", message_id)

    def start(self, period: float) -> None:
        self._task = asyncio.create_task(self._run(period), name="alerts")

    async def _run(self, period: float) -> None:
        while True:
            try:
                await self.evaluate()
            except Exception:
                log.warning("alert evaluation failed", exc_info=True)
            await asyncio.sleep(period)

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
