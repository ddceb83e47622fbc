"""payment callbacks: find a signed callback taken before (replay check) by its digest

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 17:50:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_payment_result_imports_sha256", "payment_result_imports", ["file_sha256"])


def downgrade():
    op.drop_index("ix_payment_result_imports_sha256", table_name="payment_result_imports")
