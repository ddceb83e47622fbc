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
    items_due,
    mark_hinted,
    mark_item_done,
    record_item_failure,
    start_if_queued,
)

log = logging.getLogger(__name__)

RUN_CHUNK = "tepat.run_chunk"


class WorkerLost(Exception):
    """A worker died (killed, out of memory, its machine lost) while it ran this item."""


def execute_chunk(engine, run_id, seq, now=None, redelivered=False):
    """Do the due items of one chunk in one transaction; close the chunk (and the run) when it can.

    Returns "done" (the chunk is closed), "later" (items back off; the dispatcher sends it again when
    due), "already" (closed before: nothing done), "stopped" (the run is not active) or None.

    `redelivered`: the broker gives the message again because the worker that had it died. Items run
    in order and done ones are skipped, so the first item still due is the one it died on: that
    counts as a failed attempt (backoff, then failed) instead of running it at once, so an item
    that kills its worker does not kill one worker after another. (A chunk's transaction is all or
    nothing, so the first due item may not be the one it died on; it gets one attempt counted, and
    the rest run one transaction each, so a second death is pinned on the right item.)
    """
    session = db.session
    with unit_of_work(session):  # the run starts (queued -> running) in a unit of its own
        status = start_if_queued(session, run_id, now)
    if status not in ACTIVE:
        return "stopped" if status else None
    run_kind = KINDS[session.get(Run, run_id).kind]
    due = items_due(session, run_id, seq, now or utcnow())
    if redelivered and due:
        with unit_of_work(session):
            record_item_failure(
                session, engine.settings, run_id, due.pop(0), WorkerLost("a worker died while running this item")
            )
    elif due:
        try:
            return _chunk_in_one_transaction(engine, run_kind, run_id, seq, due)
        except Exception:  # the transaction itself failed (not one item; rolled back): one transaction per item
            log.warning("run %s chunk %s: one transaction failed; item by item", run_id, seq, exc_info=True)
            due = items_due(session, run_id, seq, now or utcnow())
    stopped = _items_one_by_one(engine, run_kind, run_id, due)
    if stopped:
        return stopped
    with unit_of_work(session):
        outcome = finish_chunk(session, run_id, seq)
        if outcome == "done":
            close_run_if_complete(session, run_id)
    return outcome


def _chunk_in_one_transaction(engine, run_kind, run_id, seq, due):
    """Run the chunk's due items in ONE transaction, a savepoint each; close the chunk; commit."""
    session = db.session
    session.rollback()
    with unit_of_work(session):  # the chunk: its items, a savepoint each, and its close
        open_transaction(session, RunItem)  # on SQLite a savepoint opened first would be the transaction
        items = claim_items(session, run_id, due)
        run = session.get(Run, run_id)
        around = None
        if run_kind.prepare is not None and items:
            try:
                around = run_kind.prepare(engine, run, [item.key for item in items])
            except Exception:  # noqa: BLE001 - the items load what they need themselves
                log.warning("run %s chunk %s: prepare failed", run_id, seq, exc_info=True)
        for n, item in enumerate(items):
            if n and n % 10 == 0 and session.scalar(select(Run.status).where(Run.id == run_id)) not in ACTIVE:
                return "stopped"  # cancelled meanwhile: the unit commits what is done, the rest is left undone
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
        outcome = finish_chunk(session, run_id, seq)
        if outcome == "done":
            close_run_if_complete(session, run_id)
    return outcome


def _items_one_by_one(engine, run_kind, run_id, due):
    """Run the items one transaction each (a redelivered chunk); return "stopped" if the run stopped."""
    session = db.session
    for item_seq in due:
        session.rollback()  # end the read transaction: each item is its own
        run = session.get(Run, run_id)
        if run.status not in ACTIVE:  # cancelled meanwhile: leave the rest undone
            session.rollback()
            return "stopped"
        item = claim_item(session, run_id, item_seq)
        if item is None:  # done meanwhile, or another worker holds it
            session.rollback()
            continue
        try:
            with unit_of_work(session):  # the item's claim, its work and its done mark
                outcome = run_kind.handle(engine, run, item.key)
                mark_item_done(item, outcome)
        except Exception as exc:  # one item's failure never stops the others (its unit was rolled back)
            permanent = isinstance(exc, ItemRefused)
            if not permanent:
                log.warning("run %s item %s failed", run_id, item_seq, exc_info=True)
            try:
                with unit_of_work(session):  # a second unit: the failure is kept
                    record_item_failure(session, engine.settings, run_id, item_seq, exc, permanent=permanent)
            except Exception:  # the database is failing: the item stays pending, the dispatcher re-sends
                log.warning("could not record the failure of run %s item %s", run_id, item_seq, exc_info=True)
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
        for rid, seq in due:
            execute_chunk(engine, rid, seq)
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
        if not due:
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
            with unit_of_work(db.session):  # a hint sent is marked (a crash in between: sent again, harmless)
                send(due)
                mark_hinted(db.session, due, now)
            return len(due)
        except Exception:  # the broker or the database is down: the chunks stay due
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
