"""A key's newest instance in one index probe: (business_key, id) replaces the business_key index

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07 02:05:00.000000

"""

from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_process_instances_business_key_id", "process_instances", ["business_key", "id"], unique=False)
    op.drop_index("ix_process_instances_business_key", table_name="process_instances")


def downgrade():
    op.create_index("ix_process_instances_business_key", "process_instances", ["business_key"], unique=False)
    op.drop_index("ix_process_instances_business_key_id", table_name="process_instances")
