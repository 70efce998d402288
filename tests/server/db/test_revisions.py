"""`server.db.revisions`: the cheap "is the schema current?" agrees with Alembic's own answer."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import revisions
from server.db.migrate import head_revisions, upgrade


def test_the_parsed_heads_are_alembics() -> None:
    assert revisions.script_heads() == head_revisions()


def test_a_branch_has_two_heads(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision: str = "a"\ndown_revision: str | None = None\n')
    (tmp_path / "b.py").write_text('revision = "b"\ndown_revision = "a"\n')
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = ("a",)\n')
    (tmp_path / "__init__.py").write_text("")
    original = revisions.VERSIONS
    revisions.VERSIONS = tmp_path
    revisions.script_heads.cache_clear()
    try:
        assert revisions.script_heads() == {"b", "c"}
    finally:
        revisions.VERSIONS = original
        revisions.script_heads.cache_clear()


async def test_current_only_after_the_upgrade(engine: AsyncEngine) -> None:
    assert await revisions.database_revisions(engine) == frozenset()
    assert not await revisions.is_current(engine)
    await upgrade(engine)
    assert await revisions.is_current(engine)
