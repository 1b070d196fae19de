"""inbox indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notices_inbox",
            ["chat_id", "message_id", "deadline_at", "posted_at", "duplicate_of", "department_id"],
            unique=False,
        )
        # Partial, so duplicate detection's "duplicate_of IS NULL" is never answered from it.
        batch_op.create_index(
            "ix_notices_duplicate_of",
            ["duplicate_of"],
            unique=False,
            sqlite_where=sa.text("duplicate_of IS NOT NULL"),
            postgresql_where=sa.text("duplicate_of IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_duplicate_of")
        batch_op.drop_index("ix_notices_inbox")
