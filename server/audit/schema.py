"""Audit tables, declared on the server's shared `metadata` (Alembic revision 0002_audit creates them).

- `audit_events`: one row per leaf. `leaf_index` is the leaf's position in the Merkle tree, gapless
  from 0 (a trigger refuses any other value); `canonical` is the RFC 8785 JSON that was hashed;
  `time`, `kind`, `actor` and `session_id` are copies of its fields, kept as columns for queries.
- `audit_nodes`: interior nodes of complete (perfect) subtrees, so proofs need O(log² n) lookups
  instead of rehashing the log. They are derived data: the full verifier recomputes them.
- `audit_checkpoints`: every signed tree head ever issued, as the exact signed-note text.
- `audit_cosignatures` (Alembic `0008_audit_witness`): each witness's cosignature line on a checkpoint.
All four are append-only: triggers (see `triggers.py`) refuse UPDATE and DELETE.
"""

from __future__ import annotations

import sqlalchemy as sa

from server.audit.triggers import LATER_TABLES, create_triggers_ddl, table_triggers_ddl
from server.db.base import metadata

__all__ = [
    "AUDIT_TABLES",
    "audit_checkpoints",
    "audit_cosignatures",
    "audit_events",
    "audit_nodes",
    "create_audit_schema",
]

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("canonical", sa.LargeBinary, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Index("ix_audit_events_session", "session_id", "leaf_index"),
)

audit_nodes = sa.Table(
    "audit_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("node_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

audit_cosignatures = sa.Table(
    "audit_cosignatures",
    metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("witness", sa.String(255), primary_key=True),
    sa.Column("line", sa.Text, nullable=False),  # the signed-note line, "— <witness> <base64>\n"
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

AUDIT_TABLES = (audit_events, audit_nodes, audit_checkpoints, audit_cosignatures)


def create_audit_schema(conn: sa.Connection) -> None:
    """Create the audit tables and their triggers directly (tests, benchmarks; production uses Alembic)."""
    metadata.create_all(conn, tables=list(AUDIT_TABLES))
    statements = create_triggers_ddl(conn.dialect.name)
    for table in LATER_TABLES:
        statements += table_triggers_ddl(conn.dialect.name, table)
    for statement in statements:
        conn.exec_driver_sql(statement)
