"""outbox: an index for the sweep's purge of settled rows

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

The sweep deletes settled rows past their week every run. With only (state, due_at) indexed,
that read every settled row (one per removed ack, a week of them) while holding the write lock.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_state_done_at", ["state", "done_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_done_at")
