"""Canned chat replies for engineers, in zh-CN and English, with a starting set.

Revision ID: 0006_canned_replies
Revises: 0005_presence_alerts
Create Date: 2026-12-01
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_canned_replies"
down_revision: str | None = "0005_presence_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)

STARTING_SET = (
    (
        "您好，我是远程支持工程师，正在查看您的网络问题。",
        "Hello, I am your remote support engineer; I am looking at your network problem.",
    ),
    ("请在弹出的提示中点击“允许”，我才能继续。", "Please press Allow on the prompt so that I can go on."),
    ("问题已经解决，请打开一个网页试试看。", "The problem is fixed; please try opening a web page."),
    ("请稍等，我需要一两分钟检查一下。", "Please wait a minute or two while I check."),
)


def upgrade() -> None:
    table = op.create_table(
        "canned_replies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text_zh", sa.String(1000), nullable=False),
        sa.Column("text_en", sa.String(1000), nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
    )
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(
        table,
        [
            {
                "id": f"c_{secrets.token_hex(10)}",
                "position": i,
                "text_zh": zh,
                "text_en": en,
                "updated_at": now,
                "updated_by": "system",
            }
            for i, (zh, en) in enumerate(STARTING_SET)
        ],
    )


def downgrade() -> None:
    op.drop_table("canned_replies")
