"""Audit log: events (Merkle leaves), interior nodes, signed checkpoints, and append-only triggers.

Revision ID: 0002_audit
Revises: 0001_core
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.audit.triggers import create_triggers_ddl, drop_triggers_ddl

revision: str = "0002_audit"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("leaf_index", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("time", Time, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("canonical", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_session", "audit_events", ["session_id", "leaf_index"])
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger, autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_audit_nodes")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_checkpoints")),
    )
    for statement in create_triggers_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_triggers_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_nodes")
    op.drop_index("ix_audit_events_session", table_name="audit_events")
    op.drop_table("audit_events")
