"""SSH gateway: engineers' OpenSSH public keys and the certificates the server signed, and each
account's language (the SSH prompt speaks it).

Revision ID: 0010_ssh_keys
Revises: 0008_audit_witness
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_ssh_keys"
down_revision: str | None = "0009_billing_usage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ssh_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("engineer_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("comment", sa.String(200), nullable=False),
        sa.Column("serial", sa.BigInteger, nullable=True),
        sa.Column("valid_before", Time, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", Time, nullable=True),
        sa.ForeignKeyConstraint(
            ["engineer_id"], ["engineers.id"], name=op.f("fk_ssh_keys_engineer_id_engineers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_keys")),
        sa.CheckConstraint("kind IN ('key', 'cert')", name=op.f("ck_ssh_keys_kind")),
    )
    op.create_index(op.f("ix_ssh_keys_engineer_id"), "ssh_keys", ["engineer_id"])
    op.create_index(op.f("ix_ssh_keys_fingerprint"), "ssh_keys", ["fingerprint"])
    with op.batch_alter_table("engineers") as batch:
        batch.add_column(sa.Column("lang", sa.String(8), nullable=False, server_default="zh-CN"))


def downgrade() -> None:
    with op.batch_alter_table("engineers") as batch:
        batch.drop_column("lang")
    op.drop_index(op.f("ix_ssh_keys_fingerprint"), table_name="ssh_keys")
    op.drop_index(op.f("ix_ssh_keys_engineer_id"), table_name="ssh_keys")
    op.drop_table("ssh_keys")
