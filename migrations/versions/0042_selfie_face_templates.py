"""Selfies encoded once: the upload check's face template kept for the steps on the workers

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07 02:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "selfie_face_templates",
        sa.Column("photo_sha256", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("encoding", sa.LargeBinary(length=512), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=True),
        sa.Column("encoded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("photo_sha256", "model"),
    )
    op.create_index(op.f("ix_selfie_face_templates_encoded_at"), "selfie_face_templates", ["encoded_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_selfie_face_templates_encoded_at"), table_name="selfie_face_templates")
    op.drop_table("selfie_face_templates")
