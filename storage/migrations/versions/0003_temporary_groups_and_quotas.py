"""temporary groups and quotas

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("until_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("done_at", storage.models.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("close_at", storage.models.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("close_step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("closed_at", storage.models.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("idle_asked_at", storage.models.UtcDateTime(timezone=True), nullable=True))

    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_quota", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_column("group_quota")

    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_column("idle_asked_at")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("close_step")
        batch_op.drop_column("close_at")
        batch_op.drop_column("done_at")
        batch_op.drop_column("until_date")
        batch_op.drop_column("purpose")
