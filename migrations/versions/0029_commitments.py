"""PKH commitments and members' conditions in cycle entitlements

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 18:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("payment_cycles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("commitment_warn_after", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("commitment_suspend_after", sa.Integer(), nullable=True))
    op.create_table(
        "entitlement_conditions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("programme", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("member_nik", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["cycle_id"], ["payment_cycles.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["cycle_members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "cycle_id", "member_id", "programme", "category", "member_nik", name="uq_entitlement_conditions_cycle_id"
        ),
    )
    op.create_index("ix_entitlement_conditions_cycle", "entitlement_conditions", ["cycle_id", "status"])
    op.create_index("ix_entitlement_conditions_member_id", "entitlement_conditions", ["member_id"])
    op.create_table(
        "commitment_checks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("application_id", _ID, nullable=False),
        sa.Column("district_code", sa.String(length=10), nullable=True),
        sa.Column("member_nik", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("attendance", sa.Integer(), nullable=True),
        sa.Column("checked", sa.Boolean(), nullable=True),
        sa.Column("compliant", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"]),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "enrolment_id", "member_nik", "category", "period", name="uq_commitment_checks_enrolment_id"
        ),
    )
    op.create_index(
        "ix_commitment_checks_member", "commitment_checks", ["enrolment_id", "category", "member_nik", "period"]
    )
    op.create_index("ix_commitment_checks_application_id", "commitment_checks", ["application_id"])
    op.create_index("ix_commitment_checks_district_code", "commitment_checks", ["district_code"])
    op.create_table(
        "commitment_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("refusals", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_commitment_imports_imported_by", "commitment_imports", ["imported_by"])


def downgrade():
    op.drop_table("commitment_imports")
    op.drop_table("commitment_checks")
    op.drop_table("entitlement_conditions")
    with op.batch_alter_table("payment_cycles", schema=None) as batch_op:
        batch_op.drop_column("commitment_suspend_after")
        batch_op.drop_column("commitment_warn_after")
