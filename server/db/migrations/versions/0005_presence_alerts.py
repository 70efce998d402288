"""Engineer presence spans (the weekly report's staffing) and the supervisor's alerts.

Revision ID: 0005_presence_alerts
Revises: 0004_command_outputs
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_presence_alerts"
down_revision: str | None = "0004_command_outputs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "engineer_presence",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("engineer_id", sa.String(32), nullable=False),
        sa.Column("node_id", sa.String(32), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("seen_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engineer_presence")),
    )
    op.create_index(op.f("ix_engineer_presence_seen_at"), "engineer_presence", ["seen_at"])
    op.create_index("ix_engineer_presence_engineer_node", "engineer_presence", ["engineer_id", "node_id"])
    op.create_table(
        "alerts",
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("changed_at", Time, nullable=True),
        sa.Column("changed_by", sa.String(64), nullable=True),
        sa.CheckConstraint("kind IN ('response_time', 'queue_length')", name=op.f("ck_alerts_kind")),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_alerts")),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_index("ix_engineer_presence_engineer_node", table_name="engineer_presence")
    op.drop_index(op.f("ix_engineer_presence_seen_at"), table_name="engineer_presence")
    op.drop_table("engineer_presence")
