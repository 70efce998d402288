"""Core tables: engineers and their login sessions, customers, enrollment codes, devices, tickets.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_core"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "engineers",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("totp_enabled", sa.Boolean, nullable=False),
        sa.Column("totp_last_step", sa.BigInteger, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", Time, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.CheckConstraint("role IN ('engineer', 'supervisor', 'admin')", name=op.f("ck_engineers_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engineers")),
        sa.UniqueConstraint("username", name=op.f("uq_engineers_username")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("engineer_id", sa.String(32), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["engineer_id"], ["engineers.id"], name=op.f("fk_web_sessions_engineer_id_engineers")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_engineer_id"), "web_sessions", ["engineer_id"])
    op.create_table(
        "customers",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("external_ref", sa.String(128), nullable=True),
        sa.Column("subscription", sa.String(16), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.CheckConstraint(
            "subscription IN ('active', 'suspended', 'cancelled')", name=op.f("ck_customers_subscription")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_customers_external_ref")),
    )
    op.create_table(
        "enrollment_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.Column("used_at", Time, nullable=True),
        sa.Column("device_id", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_enrollment_codes_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_enrollment_codes")),
    )
    op.create_index(op.f("ix_enrollment_codes_customer_id"), "enrollment_codes", ["customer_id"])
    op.create_table(
        "devices",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("enrolled_at", Time, nullable=False),
        sa.Column("revoked_at", Time, nullable=True),
        sa.Column("last_seen", Time, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_devices_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("public_key", name=op.f("uq_devices_public_key")),
    )
    op.create_index(op.f("ix_devices_customer_id"), "devices", ["customer_id"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("user_words", sa.Text, nullable=False),
        sa.Column("report", sa.JSON, nullable=True),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("engineer_id", sa.String(32), nullable=True),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("accepted_at", Time, nullable=True),
        sa.Column("started_at", Time, nullable=True),
        sa.Column("ended_at", Time, nullable=True),
        sa.Column("outcome", sa.String(24), nullable=True),
        sa.Column("resolution", sa.String(64), nullable=True),
        sa.Column("satisfaction", sa.Integer, nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'accepted', 'offered', 'active', 'ended')", name=op.f("ck_tickets_state")
        ),
        sa.CheckConstraint(
            "satisfaction IS NULL OR (satisfaction BETWEEN 1 AND 5)", name=op.f("ck_tickets_satisfaction")
        ),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_tickets_device_id_devices")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_tickets_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["engineer_id"], ["engineers.id"], name=op.f("fk_tickets_engineer_id_engineers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("session_id", name=op.f("uq_tickets_session_id")),
    )
    op.create_index(op.f("ix_tickets_device_id"), "tickets", ["device_id"])
    op.create_index(op.f("ix_tickets_state"), "tickets", ["state"])


def downgrade() -> None:
    op.drop_table("tickets")
    op.drop_table("devices")
    op.drop_table("enrollment_codes")
    op.drop_table("customers")
    op.drop_table("web_sessions")
    op.drop_table("engineers")
