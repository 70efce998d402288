"""The output store (`server.tickets.outputs`) on SQLite and PostgreSQL: outputs are kept for the
retention period, attached to a session's export while kept, and purged after."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditLog, JsonValue, NoteSigner, verify_export
from server.db.migrate import upgrade
from server.db.tables import utcnow
from server.relay.records import output_digest
from server.tickets import outputs

SIGNER = NoteSigner.generate("rme.test/outputs")
TEXT = "Windows IP Configuration\n   主机名 . . . : PC-ZHANG\n"


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    await upgrade(engine)
    yield engine


async def keep(db: AsyncEngine, session: str, message: str, text: str, retention_s: float) -> None:
    digest, size = output_digest(text)
    await outputs.keep(
        db,
        session,
        message_id=message,
        action_id="a_1",
        sha256=digest,
        size=size,
        text=text,
        retention_s=retention_s,
    )


async def test_kept_for_the_retention_then_purged(db: AsyncEngine) -> None:
    await keep(db, "s_1", "m_1", TEXT, retention_s=3600)
    await keep(db, "s_1", "m_1", TEXT, retention_s=3600)  # the same message twice: kept once
    await keep(db, "s_1", "m_2", "short-lived", retention_s=0.001)
    await keep(db, "s_2", "m_3", "another session", retention_s=3600)
    kept = await outputs.of_session(db, "s_1")
    assert [(o.message_id, o.text) for o in kept] == [("m_1", TEXT)]  # m_2 is past its retention
    assert kept[0].sha256 == hashlib.sha256(TEXT.encode()).hexdigest() and kept[0].size == len(TEXT.encode())
    assert await outputs.purge(db) == 1  # m_2 only
    assert await outputs.purge(db, utcnow() + dt.timedelta(hours=2)) == 2
    assert await outputs.of_session(db, "s_1") == [] and await outputs.of_session(db, "s_2") == []


async def test_an_export_carries_the_kept_text_and_verifies_it(db: AsyncEngine) -> None:
    log = AuditLog(db, SIGNER)
    digest, size = output_digest(TEXT)
    outcome: dict[str, JsonValue] = {
        "kind": "command",
        "exit_code": 0,
        "output_sha256": digest,
        "output_size": size,
    }
    await log.append(
        "action.result", "device:d_1", "s_1", {"message": "m_1", "action_id": "a_1", "outcome": outcome}
    )
    await keep(db, "s_1", "m_1", TEXT, retention_s=3600)
    export = await outputs.attach(db, await log.export_session("s_1"))
    assert [o.text for o in export.outputs] == [TEXT]
    report = verify_export(export, SIGNER.verifier)
    assert report.ok and report.outputs_checked == 1, report.problems
    assert "1 command outputs match" in report.summary()
    # After the retention the export still verifies: the events prove the hash, the text is gone.
    await outputs.purge(db, utcnow() + dt.timedelta(hours=2))
    later = await outputs.attach(db, await log.export_session("s_1"))
    assert later.outputs == [] and verify_export(later, SIGNER.verifier).ok
