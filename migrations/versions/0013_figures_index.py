"""figures index: the applications-by-village index covers the public figures' GROUP BY

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 03:10:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OLD = ["district_code", "village", "status"]
NEW = ["district_code", "village", "status", "created_at", "decided_at", "district_name"]


def upgrade():
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_place")
        batch_op.create_index("ix_applications_place", NEW, unique=False)


def downgrade():
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_place")
        batch_op.create_index("ix_applications_place", OLD, unique=False)
