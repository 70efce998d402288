"""Command outputs kept beside the audit log (which records only their hashes), with an expiry.

Revision ID: 0004_command_outputs
Revises: 0003_nodes
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_command_outputs"
down_revision: str | None = "0003_nodes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "command_outputs",
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("session_id", "message_id", name=op.f("pk_command_outputs")),
    )
    op.create_index(op.f("ix_command_outputs_expires_at"), "command_outputs", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_command_outputs_expires_at"), table_name="command_outputs")
    op.drop_table("command_outputs")
