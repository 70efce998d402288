"""Is the database's schema at the newest revision? Answered without importing Alembic.

Every admin command (`rme-server user list`, `customer add` …) makes sure the schema is current before it
works, and Alembic's import alone costs about a second on a loaded machine. The heads are read from the
revision scripts' `revision` / `down_revision` assignments (parsed, not imported: the scripts import
Alembic), the database's revisions from Alembic's own `alembic_version` table; only when they differ does
the caller import `server.db.migrate` and upgrade. A test keeps these heads equal to Alembic's.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"


def _assigned(tree: ast.Module, name: str) -> object:
    """The literal value of the module-level `name = …` or `name: T = …`, if any."""
    target: ast.expr
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name:
            return ast.literal_eval(value)
    return None


@functools.cache
def script_heads() -> frozenset[str]:
    """The revisions no other script builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in VERSIONS.glob("*.py"):
        tree = ast.parse(script.read_text(encoding="utf-8"))
        revision = _assigned(tree, "revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = _assigned(tree, "down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


async def database_revisions(engine: AsyncEngine) -> frozenset[str]:
    """What `alembic_version` holds; empty for a database never migrated."""
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            return frozenset(str(row[0]) for row in rows)
    except DBAPIError:  # no such table yet
        return frozenset()


async def is_current(engine: AsyncEngine) -> bool:
    return await database_revisions(engine) == script_heads()
