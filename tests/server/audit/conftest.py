"""Audit test fixtures: the audit schema on each database, a signer, and an `AuditLog`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditLog, NoteSigner
from server.audit.schema import create_audit_schema


@pytest.fixture
async def audit_engine(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """`engine` with the audit tables and triggers created."""
    async with engine.begin() as conn:
        await conn.run_sync(create_audit_schema)
    yield engine


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate("rme.test/audit")


@pytest.fixture
def audit_log(audit_engine: AsyncEngine, signer: NoteSigner) -> AuditLog:
    return AuditLog(audit_engine, signer)
