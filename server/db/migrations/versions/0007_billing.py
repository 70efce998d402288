"""Billing: plans, service items, subscriptions from the BSS, its integrations and requests, billing
endpoints and the transactional outbox; tickets name the service item chosen.

Revision ID: 0007_billing
Revises: 0006_canned_replies
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_billing"
down_revision: str | None = "0006_canned_replies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(128), nullable=False),
        sa.Column("name_en", sa.String(128), nullable=False),
        sa.Column("sessions_per_month", sa.Integer, nullable=True),
        sa.Column("extras_allowed", sa.Boolean, nullable=False),
        sa.Column("monthly_fee_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_plans")),
    )
    op.create_table(
        "service_items",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(128), nullable=False),
        sa.Column("name_en", sa.String(128), nullable=False),
        sa.Column("description_zh", sa.String(1000), nullable=False),
        sa.Column("description_en", sa.String(1000), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("expected_minutes", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_service_items")),
    )
    op.create_table(
        "plan_items",
        sa.Column("plan_code", sa.String(64), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["plan_code"], ["plans.code"], name=op.f("fk_plan_items_plan_code_plans")),
        sa.ForeignKeyConstraint(
            ["item_code"], ["service_items.code"], name=op.f("fk_plan_items_item_code_service_items")
        ),
        sa.PrimaryKeyConstraint("plan_code", "item_code", name=op.f("pk_plan_items")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("customer_id", sa.String(32), nullable=False),
        sa.Column("plan_code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("state_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.CheckConstraint("kind IN ('bundled', 'standalone')", name=op.f("ck_subscriptions_kind")),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'cancelled')", name=op.f("ck_subscriptions_status")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_subscriptions_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["plan_code"], ["plans.code"], name=op.f("fk_subscriptions_plan_code_plans")),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_subscriptions")),
    )
    op.create_table(
        "bss_integrations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("previous_secret", sa.String(128), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bss_integrations")),
        sa.UniqueConstraint("name", name=op.f("uq_bss_integrations_name")),
    )
    op.create_table(
        "bss_requests",
        sa.Column("webhook_id", sa.String(128), nullable=False),
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.Column("received_at", Time, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("answer", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("webhook_id", name=op.f("pk_bss_requests")),
    )
    op.create_table(
        "billing_endpoints",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_endpoints")),
    )
    op.create_table(
        "billing_outbox",
        sa.Column("id", sa.String(48), nullable=False),
        sa.Column("endpoint_id", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Time, nullable=False),
        sa.Column("delivered_at", Time, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'dead')", name=op.f("ck_billing_outbox_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_outbox")),
    )
    op.create_index("ix_billing_outbox_due", "billing_outbox", ["state", "next_attempt_at"])
    op.add_column("tickets", sa.Column("service_item", sa.String(64), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE tickets DROP COLUMN service_item")
    op.drop_index("ix_billing_outbox_due", table_name="billing_outbox")
    for table in (
        "billing_outbox", "billing_endpoints", "bss_requests", "bss_integrations", "subscriptions",
        "plan_items", "service_items", "plans",
    ):  # fmt: skip
        op.drop_table(table)
