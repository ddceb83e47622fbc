"""Run chunks remember which item a worker began (a death is charged to it; a lost connection is not)

Revision ID: 0041
Revises: 0032
Create Date: 2026-12-06 23:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("run_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("taken_item", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("taken_by", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("taken_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("run_chunks", schema=None) as batch_op:
        batch_op.drop_column("taken_at")
        batch_op.drop_column("taken_by")
        batch_op.drop_column("taken_item")
