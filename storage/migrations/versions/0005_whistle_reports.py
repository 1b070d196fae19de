"""whistle reports

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "whistles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("department_name", sa.String(length=100), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("code_bucket", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=160), nullable=False),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("flagged_on", sa.Date(), nullable=True),
        sa.Column("updated_at", storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_whistles_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whistles")),
    )
    with op.batch_alter_table("whistles", schema=None) as batch_op:
        batch_op.create_index("ix_whistles_code_bucket", ["code_bucket"], unique=False)
        batch_op.create_index("ix_whistles_status_created_on", ["status", "created_on"], unique=False)

    op.create_table(
        "whistle_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("whistle_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=255), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["whistle_id"], ["whistles.id"], name=op.f("fk_whistle_evidence_whistle_id_whistles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whistle_evidence")),
    )
    with op.batch_alter_table("whistle_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whistle_evidence_whistle_id"), ["whistle_id"], unique=False)

    op.create_table(
        "whistle_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("whistle_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["whistle_id"], ["whistles.id"], name=op.f("fk_whistle_responses_whistle_id_whistles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whistle_responses")),
    )
    with op.batch_alter_table("whistle_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whistle_responses_whistle_id"), ["whistle_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("whistle_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whistle_responses_whistle_id"))

    op.drop_table("whistle_responses")
    with op.batch_alter_table("whistle_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whistle_evidence_whistle_id"))

    op.drop_table("whistle_evidence")
    with op.batch_alter_table("whistles", schema=None) as batch_op:
        batch_op.drop_index("ix_whistles_status_created_on")
        batch_op.drop_index("ix_whistles_code_bucket")

    op.drop_table("whistles")
