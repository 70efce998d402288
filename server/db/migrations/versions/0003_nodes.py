"""Node liveness: a row per running server node, and the node that holds each ticket.

Revision ID: 0003_nodes
Revises: 0002_audit
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_nodes"
down_revision: str | None = "0002_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("seen_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )
    # Existing tickets keep NULL: their node is unknown (see `server.relay.nodes`).
    op.add_column("tickets", sa.Column("node_id", sa.String(32), nullable=True))
    op.create_index(op.f("ix_tickets_node_id"), "tickets", ["node_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tickets_node_id"), table_name="tickets")
    # SQLite (≥ 3.35) drops a column in place; a batch copy of the table would lose its CHECK constraints.
    op.execute("ALTER TABLE tickets DROP COLUMN node_id")
    op.drop_table("nodes")
