"""SQL the audit log runs: the append lock, tree size, node lookups and row building.

Appends are serialised across every process writing to the database, so leaf indexes are assigned
in one order with no gaps: on PostgreSQL by a transaction-scoped advisory lock (several server
nodes share one database); on SQLite by BEGIN IMMEDIATE, which takes the database's write lock at
the start of the transaction instead of at the first write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.audit.events import AuditIntegrityError, AuditRecord
from server.audit.merkle import fold_perfect, perfect_subtrees
from server.audit.schema import audit_events, audit_nodes

__all__ = ["fetch_nodes", "locked_transaction", "range_hashes", "read_transaction", "tree_size"]

# pg_advisory_xact_lock key: the bytes "RMEAUDIT" as a signed 64-bit integer.
ADVISORY_LOCK_KEY = int.from_bytes(b"RMEAUDIT", "big", signed=True)
_IN_CHUNK = 500


@asynccontextmanager
async def locked_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction holding the audit append lock; committed on normal exit, rolled back on error."""
    async with engine.connect() as raw:
        if engine.dialect.name == "sqlite":
            # Drive the transaction by hand: pysqlite's implicit BEGIN is deferred, which would let two
            # writers read the same tree size. synchronous=FULL makes each commit durable (fsync).
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("PRAGMA synchronous=FULL")
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.exec_driver_sql("ROLLBACK")
                raise
            await conn.exec_driver_sql("COMMIT")
            return
        # READ COMMITTED: each statement after the lock sees rows committed by the previous holder.
        conn = await raw.execution_options(isolation_level="READ COMMITTED")
        async with conn.begin():
            if engine.dialect.name == "postgresql":
                await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
            yield conn


@asynccontextmanager
async def read_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only snapshot where the dialect gives one (PostgreSQL REPEATABLE READ; SQLite: one txn)."""
    async with engine.connect() as raw:
        conn = raw
        if engine.dialect.name == "postgresql":
            conn = await raw.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


async def tree_size(conn: AsyncConnection) -> int:
    highest = (await conn.execute(sa.select(sa.func.max(audit_events.c.leaf_index)))).scalar()
    return 0 if highest is None else int(highest) + 1


async def fetch_nodes(
    conn: AsyncConnection, nodes: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Hashes of perfect subtrees (level 0 = leaves, from `audit_events`), in as few queries as fit."""
    by_level: dict[int, set[int]] = defaultdict(set)
    for level, index in nodes:
        by_level[level].add(index)
    found: dict[tuple[int, int], bytes] = {}
    leaves = sorted(by_level.pop(0, set()))
    for start in range(0, len(leaves), _IN_CHUNK):
        query = sa.select(audit_events.c.leaf_index, audit_events.c.leaf_hash).where(
            audit_events.c.leaf_index.in_(leaves[start : start + _IN_CHUNK])
        )
        for row in (await conn.execute(query)).all():
            found[(0, int(row[0]))] = bytes(row[1])
    # Interior nodes: one query for every level at once (a tree's frontier has ≤ 64 of them).
    pairs = sorted((level, index) for level, indexes in by_level.items() for index in indexes)
    for start in range(0, len(pairs), _IN_CHUNK):
        chunk = pairs[start : start + _IN_CHUNK]
        levels: dict[int, list[int]] = defaultdict(list)
        for level, index in chunk:
            levels[level].append(index)
        condition = sa.or_(
            *(
                sa.and_(audit_nodes.c.level == level, audit_nodes.c.node_index.in_(indexes))
                for level, indexes in levels.items()
            )
        )
        nodes_query = sa.select(audit_nodes.c.level, audit_nodes.c.node_index, audit_nodes.c.hash).where(
            condition
        )
        for level, index, digest in (await conn.execute(nodes_query)).all():
            found[(int(level), int(index))] = bytes(digest)
    by_level[0] = set(leaves)
    missing = [node for level, indexes in by_level.items() for node in ((level, i) for i in indexes)]
    missing = [node for node in missing if node not in found]
    if missing:
        raise AuditIntegrityError(f"audit tree nodes missing from the database: {sorted(missing)[:5]}")
    return found


async def range_hashes(conn: AsyncConnection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """MTH(D[a:b]) for each range, from stored nodes, with one round of queries for all of them."""
    plans = [perfect_subtrees(start, end) for start, end in ranges]
    found = await fetch_nodes(conn, (node for plan in plans for node in plan))
    return [fold_perfect([found[node] for node in plan]) for plan in plans]


def event_row(record: AuditRecord) -> dict[str, Any]:
    return {
        "leaf_index": record.index,
        "time": record.time,
        "kind": record.kind,
        "actor": record.actor,
        "session_id": record.session_id,
        "canonical": record.canonical,
        "leaf_hash": record.leaf_hash,
    }


async def last_session_indexes(conn: AsyncConnection, session_ids: set[str]) -> dict[str, int]:
    """The newest leaf index of each session (for the per-session chain)."""
    if not session_ids:
        return {}
    query = (
        sa.select(audit_events.c.session_id, sa.func.max(audit_events.c.leaf_index))
        .where(audit_events.c.session_id.in_(sorted(session_ids)))
        .group_by(audit_events.c.session_id)
    )
    return {str(sid): int(index) for sid, index in (await conn.execute(query)).all()}
