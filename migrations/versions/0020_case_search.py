"""case search: a searchable name key and indexes for name-prefix and family-card look-ups

Officers search cases by NIK (indexed already), case number (unique) or a name prefix. A prefix of
the lower-cased name is a range of `ix_applications_name_key`, read in index order: the column
compares bytes (collation "C" on PostgreSQL, SQLite's default), so a prefix's names are exactly one
range under any database collation. The family-card number gets an index for 16-digit searches.
Existing names are copied into the key here, in batches.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 13:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

BATCH = 5000


def _key(name):
    # The same as cases.models.name_key (a migration keeps its own copy of what it relies on).
    if not name:
        return None
    return " ".join(str(name).split()).lower()[:200] or None


def upgrade():
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "name_key",
                sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql"),
                nullable=True,
            )
        )
        batch_op.create_index("ix_applications_kk_number", ["kk_number"], unique=False)
        batch_op.create_index("ix_applications_name_key", ["name_key", "district_code", "id"], unique=False)
    conn = op.get_bind()
    table = sa.table(
        "applications",
        sa.column("id", sa.BigInteger),
        sa.column("applicant_name", sa.String),
        sa.column("name_key", sa.String),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.applicant_name)
            .where(table.c.id > last, table.c.applicant_name.is_not(None))
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")).values(name_key=sa.bindparam("key")),
            [{"row_id": r.id, "key": _key(r.applicant_name)} for r in rows],
        )
        last = rows[-1].id


def downgrade():
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_name_key")
        batch_op.drop_index("ix_applications_kk_number")
        batch_op.drop_column("name_key")
