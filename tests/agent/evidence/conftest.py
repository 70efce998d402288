"""A real audit log (SQLite) to make the evidence the agent checks — the server's own code, so the
agent's independent verifier is held to what the server really sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditLog, NoteSigner
from server.audit.schema import create_audit_schema
from server.db.engine import open_engine


@pytest.fixture
async def audit_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(create_audit_schema)
    yield engine
    await engine.dispose()


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate("rme.test/audit")


@pytest.fixture
def audit_log(audit_engine: AsyncEngine, signer: NoteSigner) -> AuditLog:
    return AuditLog(audit_engine, signer)
