"""The SQLAlchemy handle shared by the engine and the domain packages."""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

# Stable constraint names so Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))


from contextlib import contextmanager  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from sqlalchemy.types import DateTime, TypeDecorator  # noqa: E402


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


@contextmanager
def unit_of_work(session):
    """One transaction around a request, command, job or worker task: commit once when the block ends,
    roll back (and re-raise) when it raises. The engine and the domain flush; only this commits."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def utcnow():
    """Return the current time, tz-aware UTC."""
    return datetime.now(UTC)


def open_transaction(session, model):
    """Make sure a real transaction is open before a savepoint (call it right before begin_nested).

    Python's sqlite3 driver (in its default mode) starts a transaction only before a write statement,
    not before SAVEPOINT; a savepoint opened first would then be the transaction, and releasing it
    would commit everything so far. A write that touches no row of `model`'s table opens one.
    """
    from sqlalchemy import false, update

    if session.get_bind().dialect.name == "sqlite":
        key = model.__table__.primary_key.columns[0]
        session.execute(update(model).where(false()).values({key.name: key}))


def hold_write_lock(session, model, key):
    """Serialise this transaction with every other that holds the same lock, until it ends.

    PostgreSQL: ``pg_advisory_xact_lock(key)`` (across processes and machines). SQLite: a write that
    touches no row of `model`'s table takes the database's write lock (one writer at a time).
    """
    from sqlalchemy import false, func, select, update

    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(key)))
    else:
        column = model.__table__.primary_key.columns[0]
        session.execute(update(model).where(false()).values({column.name: column}))
