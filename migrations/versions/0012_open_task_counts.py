"""open task counts

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 03:10:00

Open human tasks per queue and district, kept by engine.queuecounts; filled here from human_tasks.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "open_task_counts",
        sa.Column("queue", sa.String(length=50), nullable=False),
        sa.Column("region", sa.String(length=10), nullable=False),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "region", name=op.f("pk_open_task_counts")),
    )
    op.execute(
        "INSERT INTO open_task_counts (queue, region, open_count) "
        "SELECT queue, COALESCE(region, ''), count(*) FROM human_tasks WHERE status = 'open' "
        "GROUP BY queue, COALESCE(region, '')"
    )


def downgrade():
    op.drop_table("open_task_counts")
