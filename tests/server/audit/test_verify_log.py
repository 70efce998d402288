"""The full-log verifier catches a tampered database even after the triggers were dropped."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditEntry, AuditLog, NoteSigner
from server.audit.triggers import drop_triggers_ddl


async def tamper(engine: AsyncEngine, *statements: str) -> None:
    """What an attacker with the database's credentials does: drop the guards, then edit."""
    async with engine.begin() as conn:
        for statement in drop_triggers_ddl(engine.dialect.name):
            await conn.exec_driver_sql(statement)
        for statement in statements:
            await conn.exec_driver_sql(statement)


async def filled(audit_log: AuditLog) -> AuditLog:
    await audit_log.append_many(
        [AuditEntry("session.request", "engineer:alice", "s-1", {"n": n}) for n in range(20)]
    )
    await audit_log.checkpoint()
    await audit_log.append_many(
        [AuditEntry("session.result", "agent:d-1", "s-1", {"n": n}) for n in range(5)]
    )
    await audit_log.checkpoint()
    return audit_log


async def test_an_untouched_log_verifies(audit_log: AuditLog) -> None:
    report = await (await filled(audit_log)).verify_log(deep=True)
    assert report.ok, report.problems
    assert (report.events, report.checkpoints, report.latest_checkpoint_size) == (25, 2, 25)


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (  # rewrite an event's content and recompute its leaf hash column as well
            ["UPDATE audit_events SET canonical = REPLACE(canonical, 'alice', 'bobby') WHERE leaf_index = 3"],
            "do not match the signed checkpoint",
        ),
        (  # change only the stored leaf hash
            [
                "UPDATE audit_events SET leaf_hash ="
                " (SELECT leaf_hash FROM audit_events WHERE leaf_index = 1)"
                " WHERE leaf_index = 2"
            ],
            "stored leaf hash does not match",
        ),
        (["DELETE FROM audit_events WHERE leaf_index = 7"], "leaf 7 is missing"),
        (["DELETE FROM audit_events WHERE leaf_index >= 22"], "only 22 remain"),
        (
            [
                "UPDATE audit_checkpoints SET root_hash ="
                " (SELECT leaf_hash FROM audit_events WHERE leaf_index = 0)"
            ],
            "stored columns differ",
        ),
        (
            [
                "UPDATE audit_nodes SET hash = (SELECT leaf_hash FROM audit_events WHERE leaf_index = 0)"
                " WHERE level = 4"
            ],
            "interior nodes",
        ),
        (["UPDATE audit_events SET kind = 'auth.login' WHERE leaf_index = 5"], "query columns differ"),
    ],
    ids=["content", "leaf-hash", "dropped-row", "truncated-tail", "checkpoint-row", "node", "column"],
)
async def test_tampering_is_detected(
    audit_log: AuditLog, audit_engine: AsyncEngine, statements: list[str], expected: str
) -> None:
    await filled(audit_log)
    if audit_engine.dialect.name == "postgresql":
        statements = [
            s.replace(
                "REPLACE(canonical, 'alice', 'bobby')",
                "convert_to(replace(convert_from(canonical, 'UTF8'), 'alice', 'bobby'), 'UTF8')",
            )
            for s in statements
        ]
    else:
        statements = [
            s.replace(
                "REPLACE(canonical, 'alice', 'bobby')",
                "CAST(REPLACE(CAST(canonical AS TEXT), 'alice', 'bobby') AS BLOB)",
            )
            for s in statements
        ]
    await tamper(audit_engine, *statements)
    report = await audit_log.verify_log(deep=True)
    assert not report.ok
    assert any(expected in problem for problem in report.problems), report.problems


async def test_a_checkpoint_from_another_key_is_reported(
    audit_log: AuditLog, audit_engine: AsyncEngine
) -> None:
    await filled(audit_log)
    impostor = AuditLog(audit_engine, NoteSigner.generate("rme.test/audit"))
    await impostor.append("auth.login", "mallory", None, {})
    await impostor.checkpoint()
    report = await audit_log.verify_log()
    assert any("not signed by the trusted key" in problem for problem in report.problems)
