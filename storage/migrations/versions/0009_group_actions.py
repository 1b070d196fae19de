"""group_actions: the audit trail of what the bot did in each group

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "group_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_actions")),
    )
    with op.batch_alter_table("group_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_actions_at"), ["at"], unique=False)
        batch_op.create_index("ix_group_actions_chat_id_at", ["chat_id", "at"], unique=False)
        batch_op.create_index("ix_group_actions_person_id_at", ["person_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("group_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_group_actions_person_id_at")
        batch_op.drop_index("ix_group_actions_chat_id_at")
        batch_op.drop_index(batch_op.f("ix_group_actions_at"))
    op.drop_table("group_actions")
