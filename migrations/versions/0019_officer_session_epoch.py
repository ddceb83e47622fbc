"""officer session epoch: sessions that logout, password changes and deactivation end

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 13:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
