"""face scale: claims in face_templates (pending), registry photos encoded once (registry_face_templates)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 16:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("face_templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(
            "ix_face_templates_pending",
            ["id"],
            unique=False,
            postgresql_where=sa.text("pending"),
            sqlite_where=sa.text("pending"),
        )
    op.create_table(
        "registry_face_templates",
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("photo_sha256", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("encoding", sa.LargeBinary(length=512), nullable=True),
        sa.Column("problem", sa.String(length=40), nullable=True),
        sa.Column("quality", sa.JSON(), nullable=True),
        sa.Column("encoded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nik", "photo_sha256", "model"),
    )


def downgrade():
    op.drop_table("registry_face_templates")
    with op.batch_alter_table("face_templates", schema=None) as batch_op:
        batch_op.drop_index("ix_face_templates_pending")
        batch_op.drop_column("pending")
