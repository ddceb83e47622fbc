"""audit shards and counter slots: one hash chain per shard, anchored; open-task counts in slot rows

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 16:30:00.000000

The single audit chain becomes shard 0: its entries keep their hashes (format 1, seq = id) and its
head row becomes shard 0's head. New entries get their ids from a sequence on PostgreSQL.

open_task_counts gets a slot column (several rows per queue and district, summed on read); the
counts are rebuilt from human_tasks.

Downgrading is refused once entries exist outside shard 0 or in the new format: the single chain
could not hold them.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _counts_table(with_slot):
    columns = [
        sa.Column("queue", sa.String(length=50), nullable=False),
        sa.Column("region", sa.String(length=10), nullable=False),
    ]
    key = ["queue", "region"]
    if with_slot:
        columns.append(sa.Column("slot", sa.Integer(), nullable=False))
        key.append("slot")
    op.create_table(
        "open_task_counts",
        *columns,
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_open_task_counts")),
    )
    slot = "0, " if with_slot else ""
    op.execute(
        f"INSERT INTO open_task_counts (queue, region, {'slot, ' if with_slot else ''}open_count) "
        f"SELECT queue, COALESCE(region, ''), {slot}count(*) FROM human_tasks WHERE status = 'open' "
        "GROUP BY queue, COALESCE(region, '')"
    )


def upgrade():
    op.create_table(
        "audit_chain_heads",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", _ID, nullable=False),
        sa.Column("last_id", _ID, nullable=True),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_audit_chain_heads")),
    )
    op.execute(
        "INSERT INTO audit_chain_heads (shard, last_seq, last_id, last_hash) "
        "SELECT 0, COALESCE(last_id, 0), last_id, last_hash FROM audit_head WHERE id = 1"
    )
    op.drop_table("audit_head")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shard", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("seq", _ID, nullable=True))
        batch_op.add_column(sa.Column("format", sa.SmallInteger(), nullable=False, server_default="1"))
    op.execute("UPDATE audit_log SET seq = id")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=_ID, nullable=False)
        batch_op.alter_column("shard", existing_type=sa.Integer(), server_default=None)
        batch_op.alter_column("format", existing_type=sa.SmallInteger(), server_default=None)
        batch_op.drop_constraint("uq_audit_log_prev_hash", type_="unique")
        batch_op.create_unique_constraint("uq_audit_log_shard_seq", ["shard", "seq"])
        batch_op.create_unique_constraint("uq_audit_log_shard_prev_hash", ["shard", "prev_hash"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence("audit_log_id_seq")))
        op.execute(
            "SELECT setval('audit_log_id_seq', (SELECT max(id) FROM audit_log)) WHERE EXISTS (SELECT 1 FROM audit_log)"
        )

    op.drop_table("open_task_counts")
    _counts_table(with_slot=True)


def downgrade():
    bind = op.get_bind()
    newer = bind.execute(sa.text("SELECT count(*) FROM audit_log WHERE shard <> 0 OR format <> 1")).scalar()
    if newer:
        raise RuntimeError(
            f"{newer} audit entries are in shards or the sharded format: the single audit chain "
            "before migration 0024 cannot hold them (export the trail first; no downgrade)"
        )
    op.drop_table("open_task_counts")
    _counts_table(with_slot=False)

    if bind.dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence("audit_log_id_seq")))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_log_shard_prev_hash", type_="unique")
        batch_op.drop_constraint("uq_audit_log_shard_seq", type_="unique")
        batch_op.create_unique_constraint("uq_audit_log_prev_hash", ["prev_hash"])
        batch_op.drop_column("format")
        batch_op.drop_column("seq")
        batch_op.drop_column("shard")

    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", _ID, nullable=True),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    head = bind.execute(sa.text("SELECT last_id, last_hash FROM audit_chain_heads WHERE shard = 0")).first()
    op.bulk_insert(
        audit_head,
        [{"id": 1, "last_id": head.last_id if head else None, "last_hash": head.last_hash if head else "0" * 64}],
    )
    op.drop_table("audit_chain_heads")
