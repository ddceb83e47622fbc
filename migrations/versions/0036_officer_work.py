"""Officers' daily work: e-mail addresses, notifications, the sandbox mail outbox, audit browsing indexes

Revision ID: 0036
Revises: 0038
Create Date: 2026-12-06 19:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0038"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "officer_notifications",
        sa.Column("id", _ID, nullable=False),
        sa.Column("officer", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("task_id", _ID, nullable=True),
        sa.Column("business_key", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("mail_status", sa.String(length=20), nullable=False),
        sa.Column("mailed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_officer_notifications_dedupe_key"),
    )
    op.create_index("ix_officer_notifications_officer", "officer_notifications", ["officer", "read_at", "id"])
    op.create_index("ix_officer_notifications_mail", "officer_notifications", ["mail_status", "id"])
    op.create_table(
        "notify_marks",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", _ID, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "sandbox_mail_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", name="uq_sandbox_mail_outbox_idempotency_key"),
    )
    op.create_index("ix_sandbox_mail_outbox_to_address", "sandbox_mail_outbox", ["to_address"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])


def downgrade():
    op.drop_index("ix_audit_log_actor_at", table_name="audit_log")
    op.drop_index("ix_audit_log_action_at", table_name="audit_log")
    op.drop_index("ix_sandbox_mail_outbox_to_address", table_name="sandbox_mail_outbox")
    op.drop_table("sandbox_mail_outbox")
    op.drop_table("notify_marks")
    op.drop_index("ix_officer_notifications_mail", table_name="officer_notifications")
    op.drop_index("ix_officer_notifications_officer", table_name="officer_notifications")
    op.drop_table("officer_notifications")
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.drop_column("email")
