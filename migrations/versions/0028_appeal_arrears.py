"""appeal arrears: enrolments.arrears_from, payment_cycles.arrears_max_stages

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 17:50:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("enrolments") as batch:
        batch.add_column(sa.Column("arrears_from", sa.DateTime(), nullable=True))
    with op.batch_alter_table("payment_cycles") as batch:
        batch.add_column(sa.Column("arrears_max_stages", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("payment_cycles") as batch:
        batch.drop_column("arrears_max_stages")
    with op.batch_alter_table("enrolments") as batch:
        batch.drop_column("arrears_from")
