"""Results imports in chunks (staged lines) and HTTP dispatch in committed parts

Revision ID: 0032
Revises: 0030
Create Date: 2026-12-06 20:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "payment_result_lines",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("failure", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(["import_id"], ["payment_result_imports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("import_id", "line"),
    )
    with op.batch_alter_table("payment_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_parts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("sent_through", sa.String(length=60), nullable=True))


def downgrade():
    with op.batch_alter_table("payment_batches", schema=None) as batch_op:
        batch_op.drop_column("sent_through")
        batch_op.drop_column("sent_parts")
    op.drop_table("payment_result_lines")
