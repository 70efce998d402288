"""The full-log verifier catches a tampered database even after the triggers were dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditEntry, AuditLog, NoteSigner
from server.audit.cosign import CosignerKey
from server.audit.merkle import CompactRange, leaf_hash
from server.audit.note import Checkpoint
from server.audit.schema import audit_checkpoints, audit_events, audit_nodes
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


# -- what is proven, and what is not ------------------------------------------------------------


async def test_a_log_without_any_checkpoint_is_not_ok(audit_log: AuditLog) -> None:
    await audit_log.append("auth.login", "engineer:alice", None, {})
    report = await audit_log.verify_log()
    assert not report.problems and not report.ok
    assert report.proven_size == 0
    assert report.unproven == ["no signed checkpoint: none of the 1 events is proven"]
    assert report.summary().startswith("UNPROVEN")


async def test_events_after_the_newest_checkpoint_are_reported_unproven(audit_log: AuditLog) -> None:
    await filled(audit_log)
    await audit_log.append_many([AuditEntry("session.end", "agent:d-1", "s-1", {}) for _ in range(3)])
    report = await audit_log.verify_log()
    assert not report.ok and not report.problems
    assert (report.events, report.proven_size) == (28, 25)
    assert report.unproven == ["events 25–27 (3) come after the newest checkpoint: not proven yet"]
    assert "events 0–24 proven" in report.summary()


async def test_an_edit_after_the_newest_checkpoint_is_not_passed_as_ok(
    audit_log: AuditLog, audit_engine: AsyncEngine
) -> None:
    await filled(audit_log)
    await audit_log.append("session.request", "engineer:alice", "s-1", {"argv": ["ipconfig"]})
    await tamper(audit_engine, "UPDATE audit_events SET kind = 'session.note' WHERE leaf_index = 25")
    report = await audit_log.verify_log()
    assert not report.ok  # main said OK: nothing signed covers leaf 25
    assert report.unproven and "25–25" in report.unproven[0]


async def test_a_log_re_signed_with_another_key_fails_against_the_published_key(
    audit_log: AuditLog, audit_engine: AsyncEngine, signer: NoteSigner
) -> None:
    await filled(audit_log)
    published = signer.verifier
    # Someone with the database rewrites an event and re-signs with a key of their own — the one now
    # sitting in the data directory. Checked against that key, it looks fine…
    await tamper(
        audit_engine,
        "DELETE FROM audit_checkpoints",
    )
    forger = AuditLog(audit_engine, NoteSigner.generate(signer.name))
    await forger.checkpoint()
    assert (await forger.verify_log()).ok
    # …checked against the key the operator published, it is not.
    report = await forger.verify_log(trusted=published)
    assert not report.ok
    assert any("not signed by the trusted key" in problem for problem in report.problems)


async def test_stored_cosignatures_are_reported_and_catch_a_re_signed_checkpoint(
    audit_log: AuditLog, audit_engine: AsyncEngine, signer: NoteSigner
) -> None:
    witness = CosignerKey.generate("w1")
    await filled(audit_log)
    signed = await audit_log.checkpoint()
    body = signed.note.partition("\n\n")[0] + "\n"
    await audit_log.add_cosignature(25, "w1", witness.cosign(body))
    report = await audit_log.verify_log(witnesses=[witness.verifier])
    assert report.ok and report.witnessed == {"w1": 25}
    assert "witness w1 cosigned events 0–24" in report.summary()
    # Without the witness's word on the newest events, they are unproven when a witness is trusted.
    await audit_log.append("auth.login", "engineer:alice", None, {})
    await audit_log.checkpoint()
    report = await audit_log.verify_log(witnesses=[witness.verifier])
    assert not report.ok and "events 25–25 (1) are not cosigned" in report.unproven[0]
    # The key holder rewrites event 3 and re-signs every checkpoint: the cosignature gives it away.
    await tamper(audit_engine, "DELETE FROM audit_checkpoints", "DELETE FROM audit_nodes")
    await rebuild_and_resign(audit_engine, signer, [20, 25, 26], edit=3)
    plain = await audit_log.verify_log()
    assert plain.ok, plain.problems  # against the key alone, the rewrite passes
    caught = await audit_log.verify_log(witnesses=[witness.verifier])
    assert any("not the one the witness saw" in problem for problem in caught.problems), caught.problems


async def rebuild_and_resign(engine: AsyncEngine, signer: NoteSigner, sizes: list[int], edit: int) -> None:
    """What a key holder does: rewrite event `edit`, recompute hashes and nodes, sign new checkpoints."""
    async with engine.begin() as conn:
        rows = (await conn.execute(sa.select(audit_events.c.leaf_index, audit_events.c.canonical))).all()
        tree = CompactRange(record_nodes=True)
        for index, stored in sorted(rows):
            canonical = bytes(stored).replace(b"alice", b"mallo") if index == edit else bytes(stored)
            digest = leaf_hash(canonical)
            await conn.execute(
                audit_events.update()
                .where(audit_events.c.leaf_index == index)
                .values(canonical=canonical, leaf_hash=digest)
            )
            tree.append(digest)
            if tree.size in sizes:
                signed = Checkpoint(signer.name, tree.size, tree.root()).sign(signer)
                await conn.execute(
                    audit_checkpoints.insert().values(
                        tree_size=tree.size,
                        root_hash=tree.root(),
                        note=signed.note,
                        created_at=datetime.now(UTC),
                    )
                )
        await conn.execute(
            audit_nodes.insert(), [{"level": lv, "node_index": i, "hash": h} for lv, i, h in tree.completed]
        )
