"""whistle drafts, rate limits and pending answers in the database (not one process's memory)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "whistle_drafts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_whistle_drafts")),
    )
    with op.batch_alter_table("whistle_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whistle_drafts_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "whistle_limits",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "period", "bucket", name=op.f("pk_whistle_limits")),
    )

    op.create_table(
        "whistle_pending_answers",
        sa.Column("supervisor_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("whistle_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("expires_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["whistle_id"],
            ["whistles.id"],
            name=op.f("fk_whistle_pending_answers_whistle_id_whistles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("supervisor_id", name=op.f("pk_whistle_pending_answers")),
    )
    with op.batch_alter_table("whistle_pending_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whistle_pending_answers_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_whistle_pending_answers_whistle_id"), ["whistle_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("whistle_pending_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whistle_pending_answers_whistle_id"))
        batch_op.drop_index(batch_op.f("ix_whistle_pending_answers_expires_at"))
    op.drop_table("whistle_pending_answers")
    op.drop_table("whistle_limits")
    with op.batch_alter_table("whistle_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whistle_drafts_expires_at"))
    op.drop_table("whistle_drafts")
