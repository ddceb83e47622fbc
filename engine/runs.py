"""Tracked runs: programme-wide work (imports, re-checks, payment cycles) split into chunks.

A run is a row (kind, parameters, who started it, status, counts); its work is a list of items
(a case number, an extract folder, ...) numbered 1..total, grouped into chunks of bounded size.
The database is the truth: an item is `pending` until the transaction that did its work also marks
it `done` (or `failed`), so an item is never done twice, whoever runs its chunk and however often.
A chunk is the unit a worker takes ("run R chunk C" is only a hint, like engine.dispatch's); it is
`done` once none of its items is pending, and only then are its counts added to the run's, once,
under the chunk's row lock. The dispatcher re-sends hints for chunks still due (a lost message, a
worker that died); inline, the same functions run the chunks in process.

A failing item is tried again with exponential backoff and reported as failed after
BANSOS_RUN_ITEM_MAX_ATTEMPTS; an item refused for good (ItemRefused) fails at once. Issue 11's
payment cycles and issue 12's quarterly re-verification add a kind with `register_kind`.

Like the rest of the engine nothing here commits: the driver (web/runs_exec.py) commits once per
item and once per chunk end.
"""

import os
import socket
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from .db import UTCDateTime, db, utcnow
from .errors import EngineError

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
PENDING = "pending"


class Run(db.Model):
    """One programme-wide run: what, by whom, how far."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    started_by: Mapped[str] = mapped_column(String(100))
    # The districts the run covers (None: every district): who may see and cancel it (engine/scope).
    regions: Mapped[list | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=QUEUED, index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    outcomes: Mapped[dict] = mapped_column(JSON, default=dict)  # outcome -> items
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # a kind's summary (an import's tables)
    error_file: Mapped[str | None] = mapped_column(String(500), nullable=True)  # e.g. an import's refused rows
    chunk_size: Mapped[int] = mapped_column(Integer, default=50)
    cancelled_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def finished(self):
        return self.status not in ACTIVE

    @property
    def percent(self):
        return int(100 * (self.done + self.failed) / self.total) if self.total else (100 if self.finished else 0)


class RunChunk(db.Model):
    """Items first..last of a run: what one worker takes at a time."""

    __tablename__ = "run_chunks"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_item: Mapped[int] = mapped_column(Integer)
    last_item: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=PENDING, index=True)
    due_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)  # when it next has work
    hinted_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)  # last hint sent
    done_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)
    # The item a worker began and has not finished: committed before its work starts and cleared (or moved
    # to the next item) by the commit that ends that work. Found set by the next taker of the chunk (who
    # holds it, see hold_chunk), it says that worker died in that item's work: that item is charged a try.
    # A message redelivered for a lost connection finds it clear (or the chunk held): nothing is charged.
    taken_item: Mapped[int | None] = mapped_column(Integer, nullable=True)
    taken_by: Mapped[str | None] = mapped_column(String(120), nullable=True)  # host:pid, for the error text
    taken_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)


class RunItem(db.Model):
    """One item of a run and what became of it."""

    __tablename__ = "run_items"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)


class RunNotFound(EngineError):
    code = "RUN_NOT_FOUND"


class RunFinished(EngineError):
    code = "RUN_FINISHED"


class ItemRefused(Exception):
    """An item that cannot succeed however often it is tried (reported as failed at once)."""


@dataclass(frozen=True)
class RunKind:
    """What a kind of run does with one item: `handle(engine, run, key)` returns the outcome.

    `handle` works in the caller's transaction (the driver commits it with the item's `done`
    mark) and raises ItemRefused for a permanent failure, anything else to be tried again.
    `finish(engine, run)` (optional) runs once, when the last chunk is done.
    `prepare(engine, run, keys)` (optional) runs once per chunk, before its items, with the keys of
    the items about to run: it loads what they need set-based (one query per source for the chunk,
    not one per item) and returns `around(key)`, a context manager each item's `handle` runs inside.
    """

    name: str
    handle: Callable
    finish: Callable | None = None
    prepare: Callable | None = None


KINDS: dict = {}


def register_kind(name, handle, finish=None, prepare=None):
    """Declare a kind of run (cases/runkinds.py declares the import and the re-check)."""
    KINDS[name] = RunKind(name, handle, finish, prepare)
    return KINDS[name]


# --- creating and cancelling ---------------------------------------------------------------------


def create_run(session, kind, params, started_by, keys, chunk_size, regions=None, now=None):
    """Create a run over `keys` (a list, or a SELECT of one column, inserted without loading it).

    Returns the run; its chunks are due now. Nothing is committed.
    """
    now = now or utcnow()
    run = Run(
        kind=kind,
        params=params,
        started_by=str(started_by),
        regions=sorted(regions) if regions else None,
        status=QUEUED,
        chunk_size=max(1, int(chunk_size)),
        outcomes={},
        created_at=now,
    )
    session.add(run)
    session.flush()
    if isinstance(keys, (list, tuple)):
        if keys:
            session.execute(
                insert(RunItem),
                [
                    {"run_id": run.id, "seq": i, "key": str(k), "status": PENDING, "attempts": 0}
                    for i, k in enumerate(keys, 1)
                ],
            )
    else:  # a one-column SELECT, numbered in the database (nothing loads every row at once)
        sub = keys.subquery()
        column = list(sub.columns)[0]
        numbered = select(func.row_number().over(order_by=column).label("seq"), column.label("key")).subquery()
        session.execute(
            insert(RunItem).from_select(
                ["run_id", "seq", "key", "status", "attempts"],
                select(literal(run.id), numbered.c.seq, numbered.c.key, literal(PENDING), literal(0)),
            )
        )
    total = session.scalar(select(func.count()).select_from(RunItem).where(RunItem.run_id == run.id))
    run.total = total
    size = run.chunk_size
    chunks = [
        {
            "run_id": run.id,
            "seq": n + 1,
            "first_item": start,
            "last_item": min(start + size - 1, total),
            "status": PENDING,
            "due_at": now,
        }
        for n, start in enumerate(range(1, total + 1, size))
    ]
    for start in range(0, len(chunks), 1000):
        session.execute(insert(RunChunk), chunks[start : start + 1000])
    if not total:
        run.status, run.started_at, run.finished_at = DONE, now, now
    session.flush()
    return run


def run_or_404(session, run_id):
    """Return the run or raise RunNotFound."""
    run = session.get(Run, run_id) if 0 < int(run_id) < 2**31 else None
    if run is None:
        raise RunNotFound(f"run {run_id} does not exist", run=run_id)
    return run


def cancel_run(session, run_id, actor_id, now=None):
    """Stop a queued or running run: items not yet done stay undone; counts are taken from the items."""
    now = now or utcnow()
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(ACTIVE))
        .values(status=CANCELLED, cancelled_by=str(actor_id), finished_at=now)
        .execution_options(synchronize_session=False)
    )
    run = run_or_404(session, run_id)
    session.refresh(run)
    if result.rowcount != 1:
        raise RunFinished(f"run {run_id} is {run.status}", status=run.status)
    _recount(session, run)
    session.flush()
    return run


def _recount(session, run):
    rows = session.execute(
        select(RunItem.status, RunItem.outcome, func.count())
        .where(RunItem.run_id == run.id)
        .group_by(RunItem.status, RunItem.outcome)
    ).all()
    run.done = sum(n for status, _o, n in rows if status == DONE)
    run.failed = sum(n for status, _o, n in rows if status == FAILED)
    outcomes = {}
    for status, outcome, n in rows:
        if status != PENDING:
            outcomes[outcome or status] = outcomes.get(outcome or status, 0) + n
    run.outcomes = outcomes


# --- running a chunk (the driver commits between these) -------------------------------------------


def start_if_queued(session, run_id, now=None):
    """Mark a queued run running (the first chunk taken); return the run's status."""
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == QUEUED)
        .values(status=RUNNING, started_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return session.scalar(select(Run.status).where(Run.id == run_id))


def items_due(session, run_id, chunk_seq, now):
    """The seqs of the chunk's items that are pending and due (not backing off)."""
    chunk = session.get(RunChunk, (run_id, chunk_seq))
    if chunk is None or chunk.status != PENDING:
        return []
    return list(
        session.scalars(
            select(RunItem.seq)
            .where(
                RunItem.run_id == run_id,
                RunItem.seq.between(chunk.first_item, chunk.last_item),
                RunItem.status == PENDING,
                (RunItem.next_try_at.is_(None)) | (RunItem.next_try_at <= now),
            )
            .order_by(RunItem.seq)
        )
    )


def claim_item(session, run_id, seq):
    """Lock a pending item without waiting; return it, or None (done meanwhile, or another worker has it)."""
    query = (
        select(RunItem)
        .where(RunItem.run_id == run_id, RunItem.seq == seq, RunItem.status == PENDING)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def claim_items(session, run_id, seqs):
    """Lock the pending items among `seqs` without waiting (skipping those another worker holds); return them."""
    if not seqs:
        return []
    query = (
        select(RunItem)
        .where(RunItem.run_id == run_id, RunItem.seq.in_(list(seqs)), RunItem.status == PENDING)
        .order_by(RunItem.seq)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def mark_item_done(item, outcome, now=None):
    """The item's work is in this transaction: record its outcome with it."""
    item.status, item.outcome, item.finished_at, item.error = DONE, str(outcome or DONE)[:40], now or utcnow(), None
    item.attempts += 1


def backoff_seconds(settings, attempts):
    """Seconds before a failed item is tried again after `attempts` failures (doubling, capped at 1 h)."""
    return min(float(settings.get("BANSOS_RUN_ITEM_BACKOFF_SECONDS", 30)) * 2 ** max(attempts - 1, 0), 3600.0)


def record_item_failure(session, settings, run_id, seq, error, permanent=False, now=None):
    """Count a failed attempt (the work was rolled back); return "retry", "failed" or None (not ours)."""
    now = now or utcnow()
    item = claim_item(session, run_id, seq)
    if item is None:
        return None
    item.attempts += 1
    item.error = f"{type(error).__name__}: {error}"[:4000]
    if permanent or item.attempts >= int(settings.get("BANSOS_RUN_ITEM_MAX_ATTEMPTS", 3)):
        item.status, item.finished_at, item.next_try_at = FAILED, now, None
        item.outcome = "refused" if permanent else "error"
        session.flush()
        return "failed"
    item.next_try_at = now + timedelta(seconds=backoff_seconds(settings, item.attempts))
    session.flush()
    return "retry"


# --- who holds a chunk, and what a worker that died in it left ---------------------------------------------

_HELD: set = set()  # (database, run, chunk) held by a thread of this process
_HELD_GUARD = threading.Lock()
_LOCK_FILES: dict = {}  # SQLite database path -> the open lock file of this process


def hold_key(run_id, chunk_seq):
    """The chunk's lock key: PostgreSQL's advisory lock (bigint), the lock file's byte offset on SQLite."""
    return (0x7C << 56) | (int(run_id) << 24) | (int(chunk_seq) & 0xFFFFFF)


@contextmanager
def hold_chunk(session, run_id, chunk_seq):
    """Hold the chunk for as long as this process works on it; yields False if someone else holds it.

    The hold lives as long as its holder: PostgreSQL's session advisory lock, on a connection of its own
    (a worker that dies loses its connection, and the lock with it); on SQLite a byte-range lock on a file
    beside the database (the operating system drops it with the process); and within the process a set
    (threads). So whoever takes a chunk knows that no live worker is at it: a mark (`taken_item`) found
    then was left by a worker that died, while a message redelivered because a broker connection was lost
    finds the chunk held (its worker still at it) or its mark cleared (done), and charges nothing.
    """
    bind = session.get_bind()
    local = (str(bind.engine.url), int(run_id), int(chunk_seq))
    with _HELD_GUARD:
        taken = local in _HELD
        if not taken:
            _HELD.add(local)
    if taken:
        yield False
        return
    try:
        if bind.dialect.name == "postgresql":
            with _pg_hold(bind.engine, hold_key(run_id, chunk_seq)) as held:
                yield held
        else:
            with _file_hold(bind.engine.url.database, hold_key(run_id, chunk_seq)) as held:
                yield held
    finally:
        with _HELD_GUARD:
            _HELD.discard(local)


@contextmanager
def _pg_hold(engine, key):
    conn = engine.connect()
    try:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        conn.commit()  # the lock is the connection's, not the transaction's: nothing left idle in one
        if not held:
            yield False
            return
        try:
            yield True
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
            except Exception:  # never give a connection holding the lock back to the pool
                conn.invalidate()
    finally:
        conn.close()


@contextmanager
def _file_hold(database, key):
    try:
        import fcntl
    except ImportError:  # no POSIX locks here: the process's own hold only
        fcntl = None
    if fcntl is None or not database or database == ":memory:":
        yield True
        return
    with _HELD_GUARD:
        fd = _LOCK_FILES.get(database)
        if fd is None:  # kept open: closing any descriptor of the file would drop this process's locks
            fd = _LOCK_FILES[database] = os.open(f"{database}.runs-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, key, os.SEEK_SET)
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, key, os.SEEK_SET)


def worker_token():
    """Who takes a chunk: host and process (only for the error text of an item a worker died in)."""
    pid = os.getpid()
    if _TOKEN.get("pid") != pid:  # computed once per process (a forked worker has its own)
        _TOKEN.update(pid=pid, token=f"{socket.gethostname()}:{pid}"[:120])
    return _TOKEN["token"]


_TOKEN: dict = {}


_CHUNKS = RunChunk.__table__
_MARK_TAKEN = (
    update(_CHUNKS)
    .where(_CHUNKS.c.run_id == bindparam("r"), _CHUNKS.c.seq == bindparam("s"))
    .values(
        taken_item=bindparam("item", type_=Integer()),
        taken_by=bindparam("by", type_=String()),
        taken_at=bindparam("at", type_=UTCDateTime()),
    )
)


def mark_taken(session, run_id, chunk_seq, item_seq, now=None):
    """Record that this worker begins `item_seq` of the chunk (None: it finished; nothing of it under way).

    One Core statement in the session's transaction (it runs once per item on SQLite: kept cheap).
    """
    taken = item_seq is not None
    session.connection().execute(
        _MARK_TAKEN,
        {
            "r": run_id,
            "s": chunk_seq,
            "item": item_seq,
            "by": worker_token() if taken else None,
            "at": (now or utcnow()) if taken else None,
        },
    )


def left_by_a_dead_worker(session, run_id, chunk_seq):
    """(item seq, who) a worker began in this chunk and never finished, or None. Call it holding the chunk."""
    row = session.execute(
        select(RunChunk.taken_item, RunChunk.taken_by).where(RunChunk.run_id == run_id, RunChunk.seq == chunk_seq)
    ).first()
    return (row.taken_item, row.taken_by) if row is not None and row.taken_item is not None else None


def finish_chunk(session, run_id, chunk_seq, now=None):
    """Close the chunk if no item is pending (adding its counts to the run once); else set when it is due.

    Returns "done" (closed now; the run finished too if `run_done` follows), "later" (items back
    off), "already" (closed before: a redelivered hint) or None (no such chunk).
    """
    now = now or utcnow()
    query = (
        select(RunChunk)
        .where(RunChunk.run_id == run_id, RunChunk.seq == chunk_seq)
        .execution_options(populate_existing=True)
        .with_for_update()
    )
    chunk = session.scalars(query).first()
    if chunk is None:
        return None
    if chunk.status != PENDING:
        return "already"
    in_chunk = (RunItem.run_id == run_id, RunItem.seq.between(chunk.first_item, chunk.last_item))
    waiting = session.scalar(
        select(func.min(func.coalesce(RunItem.next_try_at, now))).where(*in_chunk, RunItem.status == PENDING)
    )
    if session.scalar(select(func.count()).select_from(RunItem).where(*in_chunk, RunItem.status == PENDING)):
        chunk.due_at = waiting or now
        chunk.hinted_at = None  # the dispatcher sends the next hint when the backoff is over
        session.flush()
        return "later"
    chunk.status, chunk.done_at = DONE, now
    rows = session.execute(
        select(RunItem.status, RunItem.outcome, func.count()).where(*in_chunk).group_by(RunItem.status, RunItem.outcome)
    ).all()
    run = session.scalars(
        select(Run).where(Run.id == run_id).execution_options(populate_existing=True).with_for_update()
    ).one()
    outcomes = dict(run.outcomes or {})
    for status, outcome, n in rows:
        if status == DONE:
            run.done += n
        elif status == FAILED:
            run.failed += n
        outcomes[outcome or status] = outcomes.get(outcome or status, 0) + n
    run.outcomes = outcomes
    session.flush()
    return "done"


def close_run_if_complete(session, run_id, now=None):
    """Mark the run done (or failed, when every item failed) once no chunk is pending; return True if so."""
    run = session.scalars(
        select(Run).where(Run.id == run_id).execution_options(populate_existing=True).with_for_update()
    ).one()
    if run.status not in ACTIVE:
        return False
    left = session.scalar(
        select(func.count()).select_from(RunChunk).where(RunChunk.run_id == run_id, RunChunk.status == PENDING)
    )
    if left:
        return False
    run.status = FAILED if run.total and run.failed == run.total else DONE
    run.finished_at = now or utcnow()
    session.flush()
    return True


def chunks_due(session, now, resend_seconds, limit=500):
    """[(run_id, seq)] of chunks of active runs whose work is due and that no hint was sent for lately."""
    stale = now - timedelta(seconds=float(resend_seconds))
    query = (
        select(RunChunk.run_id, RunChunk.seq)
        .join(Run, Run.id == RunChunk.run_id)
        .where(
            Run.status.in_(ACTIVE),
            RunChunk.status == PENDING,
            RunChunk.due_at <= now,
            (RunChunk.hinted_at.is_(None)) | (RunChunk.hinted_at <= stale),
        )
        .order_by(RunChunk.hinted_at.is_not(None), RunChunk.due_at, RunChunk.run_id, RunChunk.seq)
        .limit(limit)
    )
    return [(row.run_id, row.seq) for row in session.execute(query)]


def count_chunks_due(session, now):
    """How many chunks of active runs are due at `now`, hinted or not."""
    return session.scalar(
        select(func.count())
        .select_from(RunChunk)
        .join(Run, Run.id == RunChunk.run_id)
        .where(Run.status.in_(ACTIVE), RunChunk.status == PENDING, RunChunk.due_at <= now)
    )


def mark_hinted(session, chunks, now):
    """Remember that hints went out for these chunks (the dispatcher re-sends after the resend interval)."""
    for run_id, seq in chunks:
        session.execute(
            update(RunChunk)
            .where(RunChunk.run_id == run_id, RunChunk.seq == seq)
            .values(hinted_at=now)
            .execution_options(synchronize_session=False)
        )


def failures(session, run_id, limit=100):
    """The run's failed items (and pending items that failed before), most recent first."""
    return list(
        session.scalars(
            select(RunItem)
            .where(RunItem.run_id == run_id, RunItem.error.is_not(None))
            .order_by(RunItem.status.desc(), RunItem.seq)
            .limit(limit)
        )
    )
