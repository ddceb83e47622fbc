"""Open tasks per queue and district, kept in ``open_task_counts`` in the same transaction as the tasks.

Every flush notes how each human task's (status, queue, region) changed: a task entering "open" adds
one to its queue and district, a task leaving it (claimed, cancelled, deleted, moved) takes one away.
The notes are applied when the session commits, one key (queue, district) at a time in key order,
each into one of up to BANSOS_COUNTER_SLOTS slot rows of the key: on PostgreSQL the first slot row
no other transaction holds (an UPDATE of the row a FOR UPDATE SKIP LOCKED sub-select picks: one
statement per key), else (all held, none yet, or SQLite) an upsert into a slot picked at random. The
counter rows stay locked only while the transaction commits, concurrent transactions on a hot queue
lock different slots instead of queueing, and every transaction takes one row per key in key order
(no deadlocks). Reads sum the slots. A rollback forgets the notes with the changes, a savepoint's
rollback only the notes made inside it. ``fold_open_counts`` folds the slots back into slot 0 (a
repair, or to keep rows few).

Only ORM changes are seen. Code that changes human_tasks with Core statements must call
``rebuild_open_counts`` afterwards (the benchmark's bulk loader does).
"""

import random
from collections import Counter

from sqlalchemy import delete, event, func, insert, inspect, literal_column, select, update
from sqlalchemy.orm import Session

from .models import HumanTask, OpenTaskCount

_PENDING = "tepat_open_count_deltas"
_table = OpenTaskCount.__table__
DEFAULT_SLOTS = 8
_random = random.Random()


def slot_count():
    """BANSOS_COUNTER_SLOTS of the current app (DEFAULT_SLOTS outside an app), at least 1."""
    from flask import current_app, has_app_context

    if has_app_context():
        return max(1, int(current_app.config.get("BANSOS_COUNTER_SLOTS", DEFAULT_SLOTS)))
    return DEFAULT_SLOTS


def _key(queue, region):
    return queue, region or ""


def _before(obj, name):
    history = inspect(obj).attrs[name].history
    if history.deleted:
        return history.deleted[0]
    return getattr(obj, name)


def _note_changes(session, flush_context):
    deltas = Counter()
    for obj in session.new:
        if isinstance(obj, HumanTask) and obj.status == "open":
            deltas[_key(obj.queue, obj.region)] += 1
    for obj in session.dirty:
        if not isinstance(obj, HumanTask):
            continue
        state = inspect(obj)
        if not any(state.attrs[name].history.has_changes() for name in ("status", "queue", "region")):
            continue
        if _before(obj, "status") == "open":
            deltas[_key(_before(obj, "queue"), _before(obj, "region"))] -= 1
        if obj.status == "open":
            deltas[_key(obj.queue, obj.region)] += 1
    for obj in session.deleted:
        if isinstance(obj, HumanTask) and _before(obj, "status") == "open":
            deltas[_key(_before(obj, "queue"), _before(obj, "region"))] -= 1
    if any(deltas.values()):
        # Noted under the innermost transaction, so a savepoint's rollback can take back its own notes.
        transaction = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(_PENDING, []).append((transaction, deltas))


def _upsert(session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - the engine runs on PostgreSQL and SQLite only
        raise NotImplementedError(dialect)
    stmt = dialect_insert(_table)
    return stmt.on_conflict_do_update(
        index_elements=[_table.c.queue, _table.c.region, _table.c.slot],
        set_={"open_count": _table.c.open_count + stmt.excluded.open_count},
    )


def _add_to_free_slot(key, delta):
    """PostgreSQL: add `delta` to the first slot row of `key` that no other transaction holds; RETURNING
    its slot, or no row when there is none (every slot row held, or none yet)."""
    free = select(_table.c.slot).where(key).order_by(_table.c.slot).limit(1).with_for_update(skip_locked=True)
    free = free.cte("free_slot")
    return (
        update(_table)
        .where(key, _table.c.slot == free.c.slot)
        .values(open_count=_table.c.open_count + delta)
        .returning(_table.c.slot)
    )


def _apply(session):
    session.flush()  # notes of changes made since the last flush
    deltas = Counter()
    for _transaction, noted in session.info.pop(_PENDING, ()):
        deltas.update(noted)
    slots = slot_count()
    fallback = _random.randrange(slots)
    rows = [{"queue": q, "region": r, "slot": fallback, "open_count": n} for (q, r), n in sorted(deltas.items()) if n]
    if rows:
        stmt = _upsert(session)
        free_slots = slots > 1 and session.get_bind().dialect.name == "postgresql"
        for row in rows:  # one key at a time, in key order: locks are taken in a fixed order
            if free_slots:
                # The first slot row no other transaction holds, locked and added to in one statement (it
                # stays locked by us until commit); when every existing one is held, a new slot row (the
                # rows grow with the load, up to `slots`).
                key = (_table.c.queue == row["queue"]) & (_table.c.region == row["region"]) & (_table.c.slot < slots)
                if session.execute(_add_to_free_slot(key, row["open_count"])).first() is not None:
                    continue
                existing = set(session.scalars(select(_table.c.slot).where(key)))
                row["slot"] = _random.choice([n for n in range(slots) if n not in existing] or range(slots))
            session.execute(stmt.values(**row))


def _within(transaction, ended):
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _forget(session, previous_transaction):
    notes = session.info.get(_PENDING)
    if notes:
        session.info[_PENDING] = [(t, d) for t, d in notes if not _within(t, previous_transaction)]


def connect():
    """Keep the counts on every session (idempotent)."""
    for name, fn in (("after_flush", _note_changes), ("before_commit", _apply), ("after_soft_rollback", _forget)):
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


def open_counts(session, queues, regions=None):
    """Return {(queue, district or None): open tasks} for `queues`, limited to `regions` unless None."""
    total = func.sum(OpenTaskCount.open_count)
    query = (
        select(OpenTaskCount.queue, OpenTaskCount.region, total)
        .where(OpenTaskCount.queue.in_(sorted(queues)))
        .group_by(OpenTaskCount.queue, OpenTaskCount.region)
        .having(total > 0)
    )
    if regions is not None:
        query = query.where(OpenTaskCount.region.in_(sorted(regions)))
    return {(q, r or None): int(n) for q, r, n in session.execute(query)}


def rebuild_open_counts(session):
    """Recount open tasks from human_tasks into slot 0 (after bulk loads with Core; also a repair)."""
    session.execute(delete(_table))
    region = func.coalesce(HumanTask.region, "")
    counted = (
        select(HumanTask.queue, region, literal_column("0"), func.count())
        .where(HumanTask.status == "open")
        .group_by(HumanTask.queue, region)
    )
    session.execute(insert(_table).from_select(["queue", "region", "slot", "open_count"], counted))


def fold_open_counts(session):
    """Fold every key's slots into its slot 0 (the sums stay); return how many keys. Commit afterwards."""
    keys = session.execute(
        select(_table.c.queue, _table.c.region).distinct().order_by(_table.c.queue, _table.c.region)
    ).all()
    for queue, region in keys:
        # What is deleted is what is summed, even with concurrent upserts (they wait, or land after).
        taken = session.scalars(
            delete(_table).where(_table.c.queue == queue, _table.c.region == region).returning(_table.c.open_count)
        ).all()
        session.execute(_upsert(session).values(queue=queue, region=region, slot=0, open_count=sum(taken)))
    return len(keys)


connect()
