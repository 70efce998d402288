"""Billing: one row per customer and month whose `usage.summary` was written (idempotency); tickets
indexed by customer and start (entitlement counts a customer's sessions this month at every help
request).

Revision ID: 0009_billing_usage
Revises: 0008_audit_witness
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_billing_usage"
down_revision: str | None = "0008_audit_witness"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_usage",
        sa.Column("customer_id", sa.String(32), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "month", name=op.f("pk_billing_usage")),
    )
    op.create_index("ix_tickets_customer_started", "tickets", ["customer_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_customer_started", table_name="tickets")
    op.drop_table("billing_usage")
