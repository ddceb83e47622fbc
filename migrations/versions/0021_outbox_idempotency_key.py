"""outbox idempotency key: a notice sent again with the same key is not sent twice

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 14:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sandbox_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint("uq_sandbox_outbox_idempotency_key", ["idempotency_key"])


def downgrade():
    with op.batch_alter_table("sandbox_outbox", schema=None) as batch_op:
        batch_op.drop_constraint("uq_sandbox_outbox_idempotency_key", type_="unique")
        batch_op.drop_column("idempotency_key")
