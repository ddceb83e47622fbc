"""Applications through the API: idempotency keys

Revision ID: 0038
Revises: 0029
Create Date: 2026-12-06 20:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer", sa.String(length=100), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("case_number", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_submissions")),
        sa.UniqueConstraint("officer", "idempotency_key", name="uq_api_submissions_key"),
    )


def downgrade():
    op.drop_table("api_submissions")
