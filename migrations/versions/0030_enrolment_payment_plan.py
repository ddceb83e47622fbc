"""enrolment payment plan: enrolments.payment_plan, enrolment_components.valid_from

Enrolment no longer pays the first stage itself: it records the family's payment plan (channel, the cycle
expected to pay it first, the estimated amount) and the payment cycles pay. A component may start later than
the enrolment (a child added later): arrears price each missed month with the components valid in it.

Revision ID: 0030
Revises: 0036
Create Date: 2026-12-06 19:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0030"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("enrolments") as batch:
        batch.add_column(sa.Column("payment_plan", sa.JSON(), nullable=True))
    with op.batch_alter_table("enrolment_components") as batch:
        batch.add_column(sa.Column("valid_from", sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table("enrolment_components") as batch:
        batch.drop_column("valid_from")
    with op.batch_alter_table("enrolments") as batch:
        batch.drop_column("payment_plan")
