"""Anonymous failures are counted and sampled, so a flood of them cannot fill the append-only log."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditLog
from server.audit.failures import SAMPLE_BURST, note_failure
from server.audit.schema import audit_events


async def last_data(engine: AsyncEngine, kind: str) -> Any:
    async with engine.connect() as conn:
        canonical = (
            await conn.execute(
                sa.select(audit_events.c.canonical)
                .where(audit_events.c.kind == kind)
                .order_by(audit_events.c.leaf_index.desc())
                .limit(1)
            )
        ).scalar_one()
    return json.loads(canonical)["data"]


async def test_a_flood_of_failures_writes_a_bounded_sample_and_one_summary(
    audit_log: AuditLog, audit_engine: AsyncEngine
) -> None:
    for n in range(1000):
        await note_failure(
            audit_log,
            "auth.login_failed",
            f"engineer:guess{n}",
            "bad_credentials",
            address=f"10.0.{n % 300}.1",
        )
    assert await audit_log.size() == SAMPLE_BURST  # the first ones are kept whole, at once
    assert await audit_log.failures.flush()
    assert await audit_log.size() == SAMPLE_BURST + 1
    summary = await last_data(audit_engine, "audit.failures")
    assert summary["total"] == 1000
    assert summary["not_sampled"] == 1000 - SAMPLE_BURST
    assert summary["by_kind"] == {"auth.login_failed bad_credentials": 1000}
    assert len(summary["addresses"]) <= 51 and "(other)" in summary["addresses"]  # bounded
    assert not await audit_log.failures.flush()  # nothing new: no row


async def test_one_mistyped_password_is_recorded_at_once_with_its_details(
    audit_log: AuditLog, audit_engine: AsyncEngine
) -> None:
    await note_failure(audit_log, "auth.login_failed", "engineer:alice", "bad_totp", address="192.0.2.7")
    event = await last_data(audit_engine, "auth.login_failed")
    assert event == {"reason": "bad_totp", "ip": "192.0.2.7", "sampled": True}
