"""Audit log: witness cosignatures of checkpoints (append-only, like the other audit tables).

Revision ID: 0008_audit_witness
Revises: 0007_billing
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.audit.triggers import drop_table_triggers_ddl, table_triggers_ddl

revision: str = "0008_audit_witness"
down_revision: str | None = "0007_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_cosignatures",
        sa.Column("tree_size", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(255), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", "witness", name=op.f("pk_audit_cosignatures")),
    )
    for statement in table_triggers_ddl(op.get_bind().dialect.name, "audit_cosignatures"):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_table_triggers_ddl(op.get_bind().dialect.name, "audit_cosignatures"):
        op.execute(statement)
    op.drop_table("audit_cosignatures")
