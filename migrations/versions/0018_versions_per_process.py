"""version numbers per process, and where each version came from

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 13:40:00

Existing versions are numbered 1, 2, 3... per process in the order they were deployed. Versions deployed
by `tepat setup` or without a name came from the process folder; the others from an administrator.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.String(length=20), server_default="folder", nullable=False))
    versions = sa.table(
        "process_versions",
        sa.column("id", sa.Integer),
        sa.column("process_id", sa.String),
        sa.column("number", sa.Integer),
        sa.column("origin", sa.String),
        sa.column("deployed_by", sa.String),
    )
    bind = op.get_bind()
    counters = {}
    rows = bind.execute(
        sa.select(versions.c.id, versions.c.process_id, versions.c.deployed_by).order_by(versions.c.id)
    ).all()
    for version_id, process_id, deployed_by in rows:
        counters[process_id] = counters.get(process_id, 0) + 1
        origin = "folder" if deployed_by in (None, "setup", "tests") else "editor"
        bind.execute(
            versions.update().where(versions.c.id == version_id).values(number=counters[process_id], origin=origin)
        )
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_process_versions_number", ["process_id", "number"])


def downgrade():
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_process_versions_number", type_="unique")
        batch_op.drop_column("origin")
        batch_op.drop_column("number")
