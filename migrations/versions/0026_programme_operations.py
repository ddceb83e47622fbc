"""programme operations: registry change sets, ended member components

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 17:15:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "registry_snapshot",
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("source", "field", "key"),
    )
    op.create_table(
        "registry_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=True),
        sa.Column("kk_number", sa.String(length=16), nullable=True),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("old_value", sa.String(length=120), nullable=True),
        sa.Column("new_value", sa.String(length=120), nullable=True),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("registry_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registry_changes_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_registry_changes_nik"), ["nik"], unique=False)
        batch_op.create_index(batch_op.f("ix_registry_changes_kk_number"), ["kk_number"], unique=False)
    op.create_table(
        "member_benefit_ends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_nik", sa.String(length=16), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrolment_id", "member_nik", name="uq_member_benefit_end"),
    )
    with op.batch_alter_table("member_benefit_ends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_benefit_ends_enrolment_id"), ["enrolment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_benefit_ends_application_id"), ["application_id"], unique=False)


def downgrade():
    op.drop_table("member_benefit_ends")
    with op.batch_alter_table("registry_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_changes_kk_number"))
        batch_op.drop_index(batch_op.f("ix_registry_changes_nik"))
        batch_op.drop_index(batch_op.f("ix_registry_changes_run_id"))
    op.drop_table("registry_changes")
    op.drop_table("registry_snapshot")
