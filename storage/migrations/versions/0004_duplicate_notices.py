"""duplicate notices

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("band_0", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("band_1", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("band_2", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("band_3", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of", sa.Integer(), nullable=True))
        batch_op.create_index("ix_notices_band_0", ["band_0"], unique=False)
        batch_op.create_index("ix_notices_band_1", ["band_1"], unique=False)
        batch_op.create_index("ix_notices_band_2", ["band_2"], unique=False)
        batch_op.create_index("ix_notices_band_3", ["band_3"], unique=False)
        batch_op.create_index("ix_notices_fingerprint_posted_at", ["fingerprint", "posted_at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_notices_duplicate_of_notices"), "notices", ["duplicate_of"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_notices_duplicate_of_notices"), type_="foreignkey")
        batch_op.drop_index("ix_notices_fingerprint_posted_at")
        batch_op.drop_index("ix_notices_band_3")
        batch_op.drop_index("ix_notices_band_2")
        batch_op.drop_index("ix_notices_band_1")
        batch_op.drop_index("ix_notices_band_0")
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("band_3")
        batch_op.drop_column("band_2")
        batch_op.drop_column("band_1")
        batch_op.drop_column("band_0")
        batch_op.drop_column("fingerprint")
