"""Running the chunks of tracked runs (engine/runs.py): on a worker, in the dispatcher, or in process.

`execute_chunk` is the one driver, whoever calls it: the Celery task "tepat.run_chunk" on a worker
(BANSOS_EXECUTION = "celery"), or `run_in_process` (inline: the command that started the run, the
in-process scheduler job, the inline dispatcher). A chunk is one transaction: its items are locked
together (skipping any another worker holds), the kind's `prepare` loads what they need set-based,
each item's work and its `done` mark go in a savepoint of their own (a failing item is rolled back
alone and its failure recorded in the same transaction), and the chunk's close commits with them. So
a chunk run again (a redelivered message, a hint re-sent by the dispatcher, two workers given the
same chunk) skips what is done and does nothing twice. A redelivered chunk (its worker died in it)
and a chunk whose transaction itself failed run one transaction per item instead, so the item that
kills a worker is the one counted as failed.
"""

import functools
import logging
import time
from contextlib import nullcontext

from sqlalchemy import select

from engine.db import db, open_transaction, unit_of_work, utcnow
from engine.runs import (
    ACTIVE,
    KINDS,
    ItemRefused,
    Run,
    RunItem,
    chunks_due,
    claim_item,
    claim_items,
    close_run_if_complete,
    count_chunks_due,
    finish_chunk,
    hold_chunk,
    items_due,
    left_by_a_dead_worker,
    mark_hinted,
    mark_item_done,
    mark_taken,
    record_item_failure,
    start_if_queued,
)

log = logging.getLogger(__name__)

RUN_CHUNK = "tepat.run_chunk"


class WorkerLost(Exception):
    """A worker died (killed, out of memory, its machine lost) while it ran this item."""


def execute_chunk(engine, run_id, seq, now=None, redelivered=False):
    """Do the due items of one chunk; close the chunk (and the run) when it can.

    Returns "done" (the chunk is closed), "later" (items back off; the dispatcher sends it again when
    due), "already" (closed before: nothing done), "stopped" (the run is not active), "busy" (another
    live worker holds the chunk: it will finish it) or None.

    A try is charged to an item only when its work began and did not end: the chunk's `taken_item` is
    committed before the work starts and cleared (or moved on) by the commit that ends it, and the chunk is
    held (engine.runs.hold_chunk) by its live worker. So a taker that finds the mark set, holding the chunk,
    knows the worker before it died in that item: the item is charged a failed attempt (backoff, then
    failed) instead of running at once, so an item that kills its worker does not kill one worker after
    another, and the rest run one transaction each, so a second death is pinned on the right item. A
    message the broker gives again because a connection was lost (`redelivered`, its worker alive) finds
    the chunk held, or done, or never begun: nothing is charged. (A chunk's one transaction is all or
    nothing: its mark names its first item, which may not be the one it died on.)
    """
    session = db.session
    with unit_of_work(session):  # the run starts (queued -> running) in a unit of its own
        status = start_if_queued(session, run_id, now)
    if status not in ACTIVE:
        return "stopped" if status else None
    with hold_chunk(session, run_id, seq) as held:
        if not held:
            session.rollback()
            log.info("run %s chunk %s: another worker holds it (redelivered: %s)", run_id, seq, redelivered)
            return "busy"
        try:
            return _execute_held(engine, run_id, seq, now, redelivered)
        except Exception:  # not a death (this worker lives): no item of it is under way any more
            session.rollback()
            try:
                with unit_of_work(session):
                    mark_taken(session, run_id, seq, None)
            except Exception:  # noqa: BLE001 - the database is failing; the error below is the news
                pass
            raise


def _execute_held(engine, run_id, seq, now, redelivered):
    session = db.session
    run_kind = KINDS[session.get(Run, run_id).kind]
    due = items_due(session, run_id, seq, now or utcnow())
    left = left_by_a_dead_worker(session, run_id, seq)
    one_by_one = session.get_bind().dialect.name == "sqlite"  # short write transactions (docs/deploy.md)
    if left is not None:
        item_seq, who = left
        with unit_of_work(session):
            record_item_failure(
                session,
                engine.settings,
                run_id,
                item_seq,
                WorkerLost(f"a worker ({who}) died while running this item"),
            )
            mark_taken(session, run_id, seq, None)
        due = [s for s in due if s != item_seq]
        one_by_one = True
    elif redelivered:
        log.info("run %s chunk %s redelivered with no work under way (a lost connection): nothing charged", run_id, seq)
    if due and not one_by_one:
        with unit_of_work(session):  # the chunk's work begins
            mark_taken(session, run_id, seq, due[0])
        try:
            return _chunk_in_one_transaction(engine, run_kind, run_id, seq, due)
        except Exception:  # the transaction itself failed (not one item; rolled back): one transaction per item
            log.warning("run %s chunk %s: one transaction failed; item by item", run_id, seq, exc_info=True)
            due = items_due(session, run_id, seq, now or utcnow())
    stopped = _items_one_by_one(engine, run_kind, run_id, seq, due)
    if stopped:
        return stopped
    with unit_of_work(session):
        outcome = finish_chunk(session, run_id, seq)
        if outcome == "done":
            close_run_if_complete(session, run_id)
    return outcome


def _prepare(engine, run_kind, run, seq, keys):
    """The kind's set-based look-ups for these keys (reads only), or None."""
    if run_kind.prepare is None or not keys:
        return None
    try:
        return run_kind.prepare(engine, run, list(keys))
    except Exception:  # noqa: BLE001 - the items load what they need themselves
        log.warning("run %s chunk %s: prepare failed", run.id, seq, exc_info=True)
        return None


def _chunk_in_one_transaction(engine, run_kind, run_id, seq, due):
    """Run the chunk's due items in ONE transaction, a savepoint each; close the chunk; commit."""
    session = db.session
    session.rollback()
    with unit_of_work(session):  # the chunk: its items, a savepoint each, and its close
        open_transaction(session, RunItem)  # on SQLite a savepoint opened first would be the transaction
        items = claim_items(session, run_id, due)
        run = session.get(Run, run_id)
        around = _prepare(engine, run_kind, run, seq, [item.key for item in items])
        for n, item in enumerate(items):
            if n and n % 10 == 0 and session.scalar(select(Run.status).where(Run.id == run_id)) not in ACTIVE:
                mark_taken(session, run_id, seq, None)
                return "stopped"  # cancelled meanwhile: keep what is done (committed), leave the rest undone
            try:
                with session.begin_nested():
                    with around(item.key) if around is not None else nullcontext():
                        outcome = run_kind.handle(engine, run, item.key)
                    mark_item_done(item, outcome)
            except Exception as exc:  # one item's failure never stops the others
                permanent = isinstance(exc, ItemRefused)
                if not permanent:
                    log.warning("run %s item %s failed", run_id, item.seq, exc_info=True)
                record_item_failure(session, engine.settings, run_id, item.seq, exc, permanent=permanent)
        mark_taken(session, run_id, seq, None)  # the work ends with this commit
        outcome = finish_chunk(session, run_id, seq)
        if outcome == "done":
            close_run_if_complete(session, run_id)
    return outcome


def _items_one_by_one(engine, run_kind, run_id, seq, due):
    """Run the items one transaction each; return "stopped" if the run stopped.

    The chunk's look-ups (the kind's `prepare`: registry answers, set-based) are made first, before
    any write: on SQLite they hold no lock, and each item's transaction holds the database's one write
    lock only for that item's work, so the web's writes wait for one item at most, not a whole chunk.
    The chunk's mark names the item under way: it is committed before the first item and moved to the
    next item by each item's own commit.
    """
    session = db.session
    session.rollback()
    run = session.get(Run, run_id)
    keys = (
        dict(
            session.execute(
                select(RunItem.seq, RunItem.key).where(RunItem.run_id == run_id, RunItem.seq.in_(due))
            ).all()
        )
        if due
        else {}
    )
    around = _prepare(engine, run_kind, run, seq, [keys[s] for s in due if s in keys])
    session.rollback()  # nothing written: the look-ups' read transaction ends
    # Each item's commit keeps what is loaded (as the chunk's one transaction does): the next item does
    # not reload the run and everything before it. A rollback (a failed item) still expires everything.
    real = session()
    expire_on_commit, real.expire_on_commit = real.expire_on_commit, False
    try:
        return _each_item(engine, run_kind, run_id, seq, due, around)
    finally:
        real.expire_on_commit = expire_on_commit


def _each_item(engine, run_kind, run_id, seq, due, around):
    session = db.session
    marked = None
    for n, item_seq in enumerate(due):
        following = due[n + 1] if n + 1 < len(due) else None
        if n % 10 == 0 and session.scalar(select(Run.status).where(Run.id == run_id)) not in ACTIVE:
            session.rollback()  # cancelled meanwhile: leave the rest undone
            if marked is not None:
                with unit_of_work(session):
                    mark_taken(session, run_id, seq, None)
            return "stopped"
        if marked != item_seq:
            with unit_of_work(session):
                mark_taken(session, run_id, seq, item_seq)  # its work begins
            marked = item_seq
        with unit_of_work(session):  # nothing written when the item is gone
            item = claim_item(session, run_id, item_seq)
            if item is None:  # done meanwhile, or another worker holds it
                continue
        try:
            with unit_of_work(session):  # the item's work, and the mark moved on to the next item
                run = session.get(Run, run_id)
                with around(item.key) if around is not None else nullcontext():
                    outcome = run_kind.handle(engine, run, item.key)
                mark_item_done(item, outcome)
                mark_taken(session, run_id, seq, following)  # this item's work ends, the next one's begins
            marked = following
        except Exception as exc:  # one item's failure (rolled back) never stops the others
            permanent = isinstance(exc, ItemRefused)
            if not permanent:
                log.warning("run %s item %s failed", run_id, item_seq, exc_info=True)
            try:
                with unit_of_work(session):
                    record_item_failure(session, engine.settings, run_id, item_seq, exc, permanent=permanent)
                    mark_taken(session, run_id, seq, following)
                marked = following
            except Exception:  # the database is failing: the item stays pending, the dispatcher re-sends
                log.warning("could not record the failure of run %s item %s", run_id, item_seq, exc_info=True)
    if marked is not None:
        with unit_of_work(session):
            mark_taken(session, run_id, seq, None)
    return None


def run_in_process(engine, run_id=None, limit=None, wait=False, progress=None):
    """Run the due chunks (of one run, or of every active run) here; return how many chunks were taken.

    With `wait`, sleep through items' backoff until the run is finished (the command's --wait inline).
    `progress(run)` is called after each chunk.
    """
    taken = 0
    while True:
        due = [c for c in chunks_due(db.session, utcnow(), 0, limit=limit or 500) if run_id is None or c[0] == run_id]
        db.session.rollback()
        busy = 0
        for rid, seq in due:
            if execute_chunk(engine, rid, seq) == "busy":  # another process is at it: it finishes it
                busy += 1
                continue
            taken += 1
            if progress is not None and rid == run_id:
                progress(db.session.get(Run, rid))
            if limit is not None and taken >= limit:
                return taken
        if not wait or run_id is None:
            return taken
        run = db.session.get(Run, run_id)
        db.session.refresh(run)
        if run.status not in ACTIVE:
            return taken
        if not due or busy == len(due):
            db.session.rollback()
            time.sleep(0.5)


# --- hints --------------------------------------------------------------------------------------------


def send_chunk_hints(config, chunks):
    """Publish one "run R chunk C" message per chunk (after the caller's commit)."""
    from .worker import celery_for

    celery = celery_for(config)
    with celery.producer_or_acquire() as producer:
        for run_id, seq in chunks:
            celery.send_task(RUN_CHUNK, args=[int(run_id), int(seq)], producer=producer)


def chunk_hint_sender(config):
    """A `sender(chunks)` for Engine.chunk_hint_sender, bound to these settings."""
    return functools.partial(send_chunk_hints, config)


def dispatch_chunks(app, send, now=None, queued=None):
    """The dispatcher's round for runs: hint every chunk due and not hinted lately; return how many.

    `queued` is how many chunk hints wait in the runs queue (None: unknown). While hints wait, only as
    many chunks as lack one may be hinted (pending chunks minus hints waiting; never-hinted chunks first):
    a run of thousands of chunks queued for an hour is not hinted again every resend interval.
    """
    now = now or utcnow()
    resend = float(app.config["BANSOS_DISPATCH_RESEND_SECONDS"])
    with app.app_context():
        try:
            limit = int(app.config["BANSOS_SCHEDULER_MAX_PER_RUN"])
            if queued:
                limit = min(limit, max(0, count_chunks_due(db.session, now) - queued))
                if limit == 0:
                    return 0
            due = chunks_due(db.session, now, resend, limit=limit)
            if not due:
                return 0
            send(due)
            with unit_of_work(db.session):
                mark_hinted(db.session, due, now)
            return len(due)
        except Exception:  # the broker or the database is down: the chunks stay due (rolled back)
            db.session.rollback()
            log.warning("scheduler: could not send run chunk hints", exc_info=True)
            return 0
        finally:
            db.session.remove()


def run_due_chunks(app, limit=20):
    """Inline: run a bounded number of due chunks in this process (the in-process scheduler's job)."""
    from . import services

    with app.app_context():
        try:
            return run_in_process(services().engine, limit=limit)
        except Exception:
            db.session.rollback()
            log.exception("running due run chunks failed")
            return 0
        finally:
            db.session.remove()


def run_chunk_task(task, run_id, seq):
    """Celery task: run R chunk C (a hint; the database says what is left)."""
    from .worker import _worker_app, _worker_engine

    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    app = _worker_app()
    with app.app_context():
        try:
            outcome = execute_chunk(_worker_engine(), int(run_id), int(seq), redelivered=redelivered)
            log.info("run %s chunk %s: %s", run_id, seq, outcome)
            return outcome
        finally:
            db.session.remove()
